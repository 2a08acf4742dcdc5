import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DelayedError, Job, Worker } from 'bullmq';
import { PeriodicTask, workerOptions } from '../common/job-queues';
import { Settings } from '../config/settings';
import { DeliveryJob, DELIVERY_ATTEMPTS, DOWNLINKS_QUEUE, DownlinkQueue } from './downlink-queue.service';
import { DownlinkDelivery } from './downlink-delivery.service';

const SWEEP_INTERVAL_MS = 5000;
/** How long a downlink waits before it looks again whether the device's earlier one has gone. */
const WAIT_FOR_EARLIER_MS = 200;
/**
 * A push downlink still `queued` this long after it was made has lost its job: all its tries,
 * each up to a 10 s timeout, and their backoff take about a minute at most.
 */
const STRANDED_AFTER_MS = 90_000;

/** Worker role: hands queued downlinks to their network, and re-queues any whose job was lost. */
@Injectable()
export class DownlinkWorker implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(DownlinkWorker.name);
  private worker?: Worker<DeliveryJob>;
  private sweeper?: PeriodicTask;

  constructor(
    private readonly config: ConfigService<Settings, true>,
    private readonly downlinks: DownlinkDelivery,
    private readonly queue: DownlinkQueue,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.get('BRIDGE_ROLE', { infer: true }) === 'api') return;
    this.worker = new Worker<DeliveryJob>(DOWNLINKS_QUEUE, (job, token) => this.deliver(job, token), {
      ...workerOptions(this.config),
      concurrency: 16,
    });
    this.worker.on('error', (error) => this.logger.warn(`worker: ${error.message}`));
    this.worker.on('failed', (job, error) => this.logger.debug(`downlink ${job?.data.downlinkId}: attempt failed, will retry: ${error.message}`));
    this.sweeper = new PeriodicTask('downlink sweep', SWEEP_INTERVAL_MS, () => this.sweep(), this.logger).start();
  }

  private async deliver(job: Job<DeliveryJob>, token: string | undefined): Promise<void> {
    // attemptsMade counts the tries before this one.
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? DELIVERY_ATTEMPTS);
    if ((await this.downlinks.deliver(job.data.downlinkId, lastAttempt)) === 'wait') {
      // Put back without using up a try: BullMQ's way is moveToDelayed, then DelayedError.
      await job.moveToDelayed(Date.now() + WAIT_FOR_EARLIER_MS, token);
      throw new DelayedError();
    }
  }

  private async sweep(): Promise<void> {
    const stranded = await this.downlinks.findStranded(STRANDED_AFTER_MS, 500);
    if (stranded.length) {
      await this.queue.enqueue(stranded);
      this.logger.log(`re-queued ${stranded.length} downlink(s) whose job was lost`);
    }
  }

  async onModuleDestroy(): Promise<void> {
    this.sweeper?.stop();
    await this.worker?.close().catch(() => undefined);
  }
}

import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Queue } from 'bullmq';
import { producerOptions } from '../common/job-queues';
import { Settings } from '../config/settings';

export const DOWNLINKS_QUEUE = 'downlinks';

export interface DeliveryJob {
  downlinkId: string;
}

/**
 * Tries per downlink. 5xx, 429, timeouts and network errors are retried after 0.5, 1, 2 and 4 s,
 * then the downlink fails: a downlink delivered much later than asked is rarely what was wanted.
 */
export const DELIVERY_ATTEMPTS = 5;
const FIRST_RETRY_DELAY_MS = 500;

/** Puts downlinks that a network takes by push (Helium, TTS) on the `downlinks` queue. */
@Injectable()
export class DownlinkQueue implements OnModuleDestroy {
  private readonly logger = new Logger(DownlinkQueue.name);
  readonly queue: Queue<DeliveryJob>;

  constructor(config: ConfigService<Settings, true>) {
    this.queue = new Queue<DeliveryJob>(DOWNLINKS_QUEUE, {
      ...producerOptions(config),
      defaultJobOptions: {
        attempts: DELIVERY_ATTEMPTS,
        backoff: { type: 'exponential', delay: FIRST_RETRY_DELAY_MS },
        removeOnComplete: true,
        removeOnFail: true,
      },
    });
    this.queue.on('error', (error) => this.logger.debug(`queue: ${error.message}`));
  }

  /** The job id is the downlink id: a downlink already waiting or retrying is not queued twice. */
  async enqueue(downlinkIds: string[]): Promise<void> {
    if (downlinkIds.length === 0) return;
    await this.queue.addBulk(downlinkIds.map((downlinkId) => ({ name: 'deliver', data: { downlinkId }, opts: { jobId: downlinkId } })));
  }

  /** Enqueues without making the caller wait or fail (the downlink is already stored and answered 202). */
  enqueueInBackground(downlinkId: string): void {
    this.enqueue([downlinkId]).catch((error: Error) => this.logger.warn(`downlink ${downlinkId} left to the sweep: ${error.message}`));
  }

  async onModuleDestroy(): Promise<void> {
    await this.queue.close().catch(() => undefined);
  }
}

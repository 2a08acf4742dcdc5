import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Queue } from 'bullmq';
import { producerOptions } from '../../common/job-queues';
import { Settings } from '../../config/settings';

/** Its own queue, so that a slow receiver never holds up MQTT publication. */
export const WEBHOOKS_QUEUE = 'webhooks';

export interface DeliveryJob {
  deliveryId: string;
  /** Attempts already made when the job was queued: a job for an attempt already made is stale. */
  attempt: number;
  /**
   * The delivery's event time (ISO 8601): deliveries are partitioned by it, so the worker reads
   * one partition. Absent in jobs queued by versions before it.
   */
  eventTime?: string;
}

export interface DueDelivery {
  id: string;
  attempts: number;
  eventTime: Date;
  delayMs?: number;
}

/** Puts webhook deliveries on their queue. Losing an enqueue is safe: the sweeper re-enqueues. */
@Injectable()
export class WebhookQueue implements OnModuleDestroy {
  private readonly logger = new Logger(WebhookQueue.name);
  readonly queue: Queue<DeliveryJob>;

  constructor(config: ConfigService<Settings, true>) {
    this.queue = new Queue<DeliveryJob>(WEBHOOKS_QUEUE, {
      ...producerOptions(config),
      // A job fails only when Postgres does (the receiver's failures are recorded, not thrown).
      defaultJobOptions: { attempts: 5, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: true, removeOnFail: true },
    });
    this.queue.on('error', (error) => this.logger.debug(`queue: ${error.message}`));
  }

  /** The job id is delivery id + attempt, so each attempt is queued at most once at a time. */
  async enqueue(deliveries: DueDelivery[]): Promise<void> {
    if (deliveries.length === 0) return;
    await this.queue.addBulk(
      deliveries.map((delivery) => ({
        name: 'deliver',
        data: { deliveryId: delivery.id, attempt: delivery.attempts, eventTime: delivery.eventTime.toISOString() },
        opts: { jobId: `${delivery.id}.${delivery.attempts}`, delay: delivery.delayMs },
      })),
    );
  }

  /** Enqueues without failing the caller: a delivery left pending is picked up by the sweeper. */
  async enqueueOrLeaveToSweeper(deliveries: DueDelivery[]): Promise<void> {
    await this.enqueue(deliveries).catch((error: Error) => this.logger.warn(`webhook enqueue deferred to the sweeper: ${error.message}`));
  }

  async onModuleDestroy(): Promise<void> {
    await this.queue.close().catch(() => undefined);
  }
}

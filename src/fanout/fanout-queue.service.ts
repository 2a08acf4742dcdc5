import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Queue } from 'bullmq';
import { Settings } from '../config/settings';
import type { StoredEvent } from '../events/event-store.service';

export const FANOUT_QUEUE = 'fanout';

export interface PublishJob {
  eventId: string;
}

/** Puts stored events on the fan-out queue. Losing an enqueue is safe: the sweeper re-enqueues. */
@Injectable()
export class FanoutQueue implements OnModuleDestroy {
  private readonly logger = new Logger(FanoutQueue.name);
  readonly queue: Queue<PublishJob>;
  private readonly dedupWindowMs: number;

  constructor(config: ConfigService<Settings, true>) {
    this.dedupWindowMs = config.get('DEDUP_WINDOW_MS', { infer: true });
    this.queue = new Queue<PublishJob>(FANOUT_QUEUE, {
      // Fail fast while Redis is down instead of buffering in memory: the events are safe in Postgres.
      connection: { url: config.get('REDIS_URL', { infer: true }), enableOfflineQueue: false, maxRetriesPerRequest: 1 },
      prefix: config.get('REDIS_PREFIX', { infer: true }),
      defaultJobOptions: { attempts: 12, backoff: { type: 'exponential', delay: 500 }, removeOnComplete: true, removeOnFail: true },
    });
    this.queue.on('error', (error) => this.logger.debug(`queue: ${error.message}`));
  }

  /**
   * The job id is the event id, so an event is queued at most once at a time. Uplinks wait
   * for the dedup window so that their duplicates' gateways are merged before publishing.
   */
  async enqueue(events: Array<Pick<StoredEvent, 'id' | 'type'>>): Promise<void> {
    if (events.length === 0) return;
    await this.queue.addBulk(
      events.map((event) => ({
        name: 'publish',
        data: { eventId: event.id },
        opts: { jobId: event.id, delay: event.type === 'uplink' ? this.dedupWindowMs : 0 },
      })),
    );
  }

  /** Re-queues events whose job was lost; their dedup window is long over. */
  async requeue(eventIds: string[]): Promise<void> {
    await this.queue.addBulk(eventIds.map((id) => ({ name: 'publish', data: { eventId: id }, opts: { jobId: id } })));
  }

  /** Enqueues without making the caller wait or fail: used right after an ingest is stored. */
  enqueueInBackground(events: Array<Pick<StoredEvent, 'id' | 'type'>>): void {
    this.enqueue(events).catch((error: Error) => this.logger.warn(`enqueue deferred to the sweeper: ${error.message}`));
  }

  async onModuleDestroy(): Promise<void> {
    await this.queue.close().catch(() => undefined);
  }
}

import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Queue } from 'bullmq';
import { CoalescingBatcher } from '../common/coalescing-batcher';
import { producerOptions } from '../common/job-queues';
import { Settings } from '../config/settings';
import type { StoredEvent } from '../events/event-store.service';

export const FANOUT_QUEUE = 'fanout';

/** Stored events to publish together: those stored while the previous job was being added. */
export interface PublishJob {
  eventIds: string[];
}

const REQUEUE_BATCH = 200;

/**
 * Puts stored events on the fan-out queue, many events to a job under load.
 * Losing an enqueue is safe: the worker's sweeper re-enqueues whatever stays unpublished.
 */
@Injectable()
export class FanoutQueue implements OnModuleDestroy {
  private readonly logger = new Logger(FanoutQueue.name);
  readonly queue: Queue<PublishJob>;
  private readonly dedupWindowMs: number;
  private readonly enqueuer = new CoalescingBatcher<Pick<StoredEvent, 'id' | 'type'>, void>(async (events) => {
    const uplinks = events.filter((event) => event.type === 'uplink').map((event) => event.id);
    const others = events.filter((event) => event.type !== 'uplink').map((event) => event.id);
    await Promise.all([this.add(uplinks, this.dedupWindowMs), this.add(others, 0)]).catch((error: Error) =>
      this.logger.warn(`enqueue of ${events.length} event(s) deferred to the sweeper: ${error.message}`),
    );
    return events.map(() => undefined);
  });

  constructor(config: ConfigService<Settings, true>) {
    this.dedupWindowMs = config.get('DEDUP_WINDOW_MS', { infer: true });
    this.queue = new Queue<PublishJob>(FANOUT_QUEUE, {
      ...producerOptions(config),
      defaultJobOptions: { attempts: 12, backoff: { type: 'exponential', delay: 500 }, removeOnComplete: true, removeOnFail: true },
    });
    this.queue.on('error', (error) => this.logger.debug(`queue: ${error.message}`));
  }

  /**
   * Called right after an ingest is stored; never makes it wait or fail. Events stored while a
   * job is being added go together in the next job. Uplinks wait for the dedup window so that
   * their duplicates' gateways are merged before they are published.
   */
  enqueueInBackground(events: Array<Pick<StoredEvent, 'id' | 'type'>>): void {
    for (const event of events) void this.enqueuer.push(event);
  }

  /** Re-queues events whose job was lost; their dedup window is long over. */
  async requeue(eventIds: string[]): Promise<void> {
    for (let i = 0; i < eventIds.length; i += REQUEUE_BATCH) await this.add(eventIds.slice(i, i + REQUEUE_BATCH), 0);
  }

  /** The job id is the batch's first event id, so a batch re-queued before it ran is queued once. */
  private async add(eventIds: string[], delay: number): Promise<void> {
    if (eventIds.length === 0) return;
    await this.queue.add('publish', { eventIds }, { jobId: eventIds[0], delay });
  }

  async onModuleDestroy(): Promise<void> {
    await this.queue.close().catch(() => undefined);
  }
}

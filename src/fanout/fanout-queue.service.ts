import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Queue } from 'bullmq';
import { CoalescingBatcher } from '../common/coalescing-batcher';
import { producerOptions } from '../common/job-queues';
import { Settings } from '../config/settings';
import { MetricsService } from '../metrics/metrics.service';
import type { StoredEvent } from '../events/event-store.service';
import type { NormalizedEvent } from '../events/normalized-event';

export const FANOUT_QUEUE = 'fanout';

/** Stored events to publish together: those stored while the previous job was being added. */
export interface PublishJob {
  eventIds: string[];
}

const REQUEUE_BATCH = 200;
/** Events a process publishes itself at a time; beyond, they wait in the queue, not in memory. */
const LOCAL_IN_FLIGHT_MAX = 2000;

/**
 * Publishes stored events now, in this process, reading them back unless `events` (as stored)
 * are given; throws if any of them stays unpublished.
 */
export type LocalPublisher = (eventIds: string[], events?: NormalizedEvent[]) => Promise<void>;

type Enqueued = Pick<StoredEvent, 'id' | 'type' | 'event'>;

/**
 * Hands stored events to fan-out. A process with both roles publishes them itself: the Redis
 * round trips of a job cost more than the publication (README, Performance). An api-only
 * process puts them on the fan-out queue, many events to a job under load, for the workers.
 * Either way the stored row is the outbox: what fails here goes to the queue, and what the queue
 * loses the worker's sweeper re-enqueues.
 */
@Injectable()
export class FanoutQueue implements OnModuleDestroy {
  private readonly logger = new Logger(FanoutQueue.name);
  readonly queue: Queue<PublishJob>;
  private readonly dedupWindowMs: number;
  private readonly waitingMax: number;
  private localPublisher?: LocalPublisher;
  private localInFlight = 0;
  /** Uplinks waiting out the dedup window in this process, by their timer; `waitingCount` of them in all. */
  private readonly waiting = new Map<NodeJS.Timeout, string[]>();
  private waitingCount = 0;
  private readonly enqueuer = new CoalescingBatcher<Enqueued, void>(async (events) => {
    if (this.localPublisher) {
      this.publishHere(events);
      return events.map(() => undefined);
    }
    const uplinks = events.filter((event) => event.type === 'uplink').map((event) => event.id);
    const others = events.filter((event) => event.type !== 'uplink').map((event) => event.id);
    await Promise.all([this.add(uplinks, this.dedupWindowMs), this.add(others, 0)]).catch((error: Error) =>
      this.logger.warn(`enqueue of ${events.length} event(s) deferred to the sweeper: ${error.message}`),
    );
    return events.map(() => undefined);
  });

  constructor(
    config: ConfigService<Settings, true>,
    private readonly metrics: MetricsService,
  ) {
    this.dedupWindowMs = config.get('DEDUP_WINDOW_MS', { infer: true });
    this.waitingMax = config.get('FANOUT_WAITING_MAX', { infer: true });
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
  enqueueInBackground(events: Enqueued[]): void {
    for (const event of events) void this.enqueuer.push(event);
  }

  /** Called by the fan-out worker of a process that also ingests: its events skip the queue. */
  publishLocallyWith(publisher: LocalPublisher): void {
    this.localPublisher = publisher;
  }

  /**
   * What is published at once goes as stored, not read back. Uplinks waiting out a dedup window
   * are read back after it, with the gateways their copies merged in; beyond FANOUT_WAITING_MAX
   * in memory, they wait in the queue (a delayed job) instead, or for the sweeper if Redis is out.
   */
  private publishHere(events: Enqueued[]): void {
    const waits = (event: Enqueued) => event.type === 'uplink' && this.dedupWindowMs > 0;
    const now = events.filter((event) => !waits(event));
    const later = events.filter(waits);
    const stored = now.flatMap((event) => event.event ?? []);
    if (now.length) void this.publishNow(now.map((event) => event.id), stored.length === now.length ? stored : undefined);
    if (later.length === 0) return;
    const eventIds = later.map((event) => event.id);
    if (this.waitingCount + eventIds.length > this.waitingMax) {
      this.metrics.fanoutWaitingOverflow.inc(eventIds.length);
      void this.addOrLeaveToSweeper(eventIds, this.dedupWindowMs);
      return;
    }
    const timer = setTimeout(() => {
      this.waiting.delete(timer);
      this.countWaiting(-eventIds.length);
      void this.publishNow(eventIds);
    }, this.dedupWindowMs);
    this.waiting.set(timer, eventIds);
    this.countWaiting(eventIds.length);
  }

  private countWaiting(change: number): void {
    this.waitingCount += change;
    this.metrics.fanoutWaiting.set(this.waitingCount);
  }

  /** A failed publication (broker down) is retried by the queue, with its backoff; a backlog waits there too. */
  private async publishNow(eventIds: string[], events?: NormalizedEvent[]): Promise<void> {
    if (this.localInFlight + eventIds.length > LOCAL_IN_FLIGHT_MAX) return this.addOrLeaveToSweeper(eventIds);
    this.localInFlight += eventIds.length;
    try {
      await this.localPublisher!(eventIds, events);
    } catch (error) {
      this.logger.debug(`publish of ${eventIds.length} event(s) goes to the queue: ${(error as Error).message}`);
      await this.addOrLeaveToSweeper(eventIds);
    } finally {
      this.localInFlight -= eventIds.length;
    }
  }

  private async addOrLeaveToSweeper(eventIds: string[], delay = 0): Promise<void> {
    await this.add(eventIds, delay).catch((error: Error) => this.logger.warn(`enqueue of ${eventIds.length} event(s) deferred to the sweeper: ${error.message}`));
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

  /** Uplinks still in their dedup window go to the queue, for whichever worker is up next. */
  async onModuleDestroy(): Promise<void> {
    const waiting = [...this.waiting].map(([timer, eventIds]) => {
      clearTimeout(timer);
      return this.addOrLeaveToSweeper(eventIds);
    });
    this.waiting.clear();
    this.countWaiting(-this.waitingCount);
    await Promise.all(waiting);
    await this.queue.close().catch(() => undefined);
  }
}

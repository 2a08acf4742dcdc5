import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Job, Worker } from 'bullmq';
import { CoalescingBatcher } from '../common/coalescing-batcher';
import { PeriodicTask, workerOptions } from '../common/job-queues';
import { logsDebug, Settings } from '../config/settings';
import { EventStore, PublishedMark } from '../events/event-store.service';
import { NormalizedEvent } from '../events/normalized-event';
import { FANOUT_QUEUE, FanoutQueue, PublishJob } from './fanout-queue.service';
import { LiveEventBus } from '../live/live-event-bus.service';
import { liveEventOf } from '../live/live-message';
import { MetricsService } from '../metrics/metrics.service';
import { MqttPublisher } from './mqtt-publisher.service';
import { eventTopic } from './topics';
import { WebhookDispatcher } from './webhooks/webhook-dispatcher.service';

/**
 * Sees each batch of stored events before it is published, and may return some rewritten (a new
 * object with another `uplink`, which is stored too): the payload codecs decode here, off the
 * networks' requests. Throwing (Postgres out of reach) fails the batch, which is retried like
 * any publication.
 */
export type PublishPreparer = (events: NormalizedEvent[]) => Promise<NormalizedEvent[]>;

const SWEEP_INTERVAL_MS = 2000;
/** An unpublished event this much older than its dedup window has lost its job. */
const SWEEP_GRACE_MS = 10_000;

/** Worker role: publishes queued events to MQTT and re-queues any the queue lost. */
@Injectable()
export class FanoutWorker implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(FanoutWorker.name);
  private worker?: Worker<PublishJob>;
  private sweeper?: PeriodicTask;
  private preparer?: PublishPreparer;
  // Jobs run 64 at a time: their reads and their marks go to Postgres together.
  private readonly reader = new CoalescingBatcher<string[], NormalizedEvent[]>((idLists) => this.readUnpublished(idLists));
  private readonly marker = new CoalescingBatcher<PublishedMark[], void>(async (lists) => {
    await this.store.markPublished(lists.flat());
    return lists.map(() => undefined);
  });

  private readonly topicPrefix: string;
  private readonly includeRaw: boolean;
  private readonly logsEvents: boolean;

  constructor(
    private readonly config: ConfigService<Settings, true>,
    private readonly store: EventStore,
    private readonly queue: FanoutQueue,
    private readonly mqtt: MqttPublisher,
    private readonly webhooks: WebhookDispatcher,
    private readonly metrics: MetricsService,
    private readonly live: LiveEventBus,
  ) {
    this.topicPrefix = config.get('MQTT_TOPIC_PREFIX', { infer: true });
    this.includeRaw = config.get('MQTT_INCLUDE_RAW', { infer: true });
    this.logsEvents = logsDebug(config.get('LOG_LEVEL', { infer: true }));
  }

  onApplicationBootstrap(): void {
    if (this.config.get('BRIDGE_ROLE', { infer: true }) === 'api') return;
    this.mqtt.connection();
    this.worker = new Worker<PublishJob>(FANOUT_QUEUE, (job: Job<PublishJob>) => this.publish(job.data.eventIds), {
      ...workerOptions(this.config),
      concurrency: 64,
    });
    this.worker.on('error', (error) => this.logger.warn(`worker: ${error.message}`));
    this.worker.on('failed', (job, error) => {
      this.metrics.mqttPublishFailures.inc();
      this.logger.debug(`publish of ${job?.data.eventIds.length} event(s) failed: ${error.message}`);
    });
    this.sweeper = new PeriodicTask('fan-out sweep', SWEEP_INTERVAL_MS, () => this.sweep(), this.logger).start();
    if (this.config.get('BRIDGE_ROLE', { infer: true }) === 'all') this.queue.publishLocallyWith((eventIds, events) => this.publish(eventIds, events && this.asRead(events)));
  }

  /** Called once at start by the module that completes events before they are published (codecs). */
  prepareWith(preparer: PublishPreparer): void {
    this.preparer = preparer;
  }

  /**
   * Publishes a batch: webhook deliveries first (idempotent, so a crash re-runs them safely), then
   * MQTT for all events at once, then live streams; events whose publication failed stay
   * unpublished and the batch is retried (a job's attempts, or a job for a local batch).
   * Uplinks the preparer rewrote are stored again with the mark that they were published: one
   * write of the row, not two. Before, when a webhook will read them, and after, for those that
   * stay unpublished (the broker down), so that the history has them meanwhile.
   */
  private async publish(eventIds: string[], known?: NormalizedEvent[]): Promise<void> {
    const stored = known ?? (await this.reader.push(eventIds));
    if (stored.length === 0) return;
    const events = this.preparer ? await this.preparer(stored) : stored;
    let rewritten = new Set(events.filter((event, i) => event !== stored[i]));
    const deliveries = await this.webhooks.deliveriesFor(events);
    if (deliveries.length && rewritten.size) {
      await this.store.rewriteUplinks([...rewritten]);
      rewritten = new Set();
    }
    await this.webhooks.dispatch(deliveries);
    // Each event is serialized once, for MQTT and live streams both.
    const documents = events.map(documentWithoutRaw);
    const outcomes = await this.mqtt.publishAll(
      events.map((event, i) => ({ topic: eventTopic(this.topicPrefix, event), payload: this.includeRaw ? withRaw(documents[i], event.raw) : documents[i] })),
    );
    const published = events.filter((_, i) => outcomes[i].status === 'fulfilled');
    for (const event of published) this.metrics.mqttPublishLatency.observe((Date.now() - Date.parse(event.receivedAt)) / 1000);
    this.live.publish(events.flatMap((event, i) => (outcomes[i].status === 'fulfilled' ? [liveEventOf(event, documents[i])] : [])));
    if (published.length) await this.marker.push(published.map((event) => ({ id: event.id, time: event.time, uplink: rewritten.has(event) ? event.uplink : undefined })));
    if (this.logsEvents) for (const event of published) this.logger.debug(`published event ${event.id} on MQTT`);
    const failure = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (!failure) return;
    const waiting = events.filter((event, i) => outcomes[i].status === 'rejected' && rewritten.has(event));
    if (waiting.length) await this.store.rewriteUplinks(waiting);
    throw failure.reason;
  }

  private async readUnpublished(idLists: string[][]): Promise<NormalizedEvent[][]> {
    const events = await this.store.findUnpublishedByIds(idLists.flat(), this.includeRaw);
    const byId = new Map(events.map((event) => [event.id, event]));
    return idLists.map((ids) => ids.flatMap((id) => byId.get(id) ?? []));
  }

  /** Events as stored, as the fan-out would have read them back (without `raw` unless MQTT includes it). */
  private asRead(events: NormalizedEvent[]): NormalizedEvent[] {
    return this.includeRaw ? events : events.map((event) => ({ ...event, raw: null }));
  }

  private async sweep(): Promise<void> {
    const lost = await this.store.findUnpublished(this.config.get('DEDUP_WINDOW_MS', { infer: true }) + SWEEP_GRACE_MS, 1000);
    if (lost.length) {
      await this.queue.requeue(lost.map((e) => e.id));
      this.logger.log(`re-queued ${lost.length} unpublished event(s)`);
    }
  }

  async onModuleDestroy(): Promise<void> {
    this.sweeper?.stop();
    // close() lets in-flight jobs finish before the process exits.
    await this.worker?.close().catch(() => undefined);
  }
}

/** The event's JSON document as MQTT (by default) and live streams carry it: without raw. */
function documentWithoutRaw(event: NormalizedEvent): string {
  const { raw: _raw, ...withoutRaw } = event;
  return JSON.stringify(withoutRaw);
}

/** The document with raw added last (MQTT_INCLUDE_RAW), without serializing the rest again. */
function withRaw(document: string, raw: unknown): string {
  return `${document.slice(0, -1)},"raw":${JSON.stringify(raw ?? null)}}`;
}

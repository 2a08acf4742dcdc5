import { Injectable, Logger, OnModuleInit, ServiceUnavailableException } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { settleWithin } from '../common/settle-within';
import { isUnavailable } from '../common/unavailable';
import { uuid7 } from '../common/uuid7';
import { logsDebug, Settings } from '../config/settings';
import { ConnectionsService, OpenConnection } from '../connections/connections.service';
import { EventStore, IngestContext, StoredEvent } from '../events/event-store.service';
import { IncomingEvent } from '../events/normalized-event';
import { FanoutQueue } from '../fanout/fanout-queue.service';
import { ReplayOutcome } from '../journal/journal';
import { JournalService } from '../journal/journal.service';
import { MetricsService } from '../metrics/metrics.service';

/**
 * Sees each batch before it is stored and may rewrite its events. The downlinks module uses it to
 * recognize a network's acknowledgements of the bridge's own downlinks, whichever path
 * (webhook, stream) they come by, without the network modules knowing about downlinks.
 */
export type IngestInterceptor = (connection: OpenConnection, events: IncomingEvent[]) => Promise<IncomingEvent[]>;

/** An accepted event: stored in Postgres, or journaled (then its device and whether it is a copy are not known yet). */
export interface AcceptedEvent extends Omit<StoredEvent, 'deviceId'> {
  deviceId: string | null;
  journaled: boolean;
}

/**
 * The answer to a network: the event's id and whether it was a copy of one already stored. A
 * journaled event is answered with the id it gets if it is new; whether it is a copy is known
 * only once it is in Postgres.
 */
export function ingestAnswer(event: AcceptedEvent): { id: string; duplicate: boolean; journaled?: true } {
  return event.journaled ? { id: event.id, duplicate: false, journaled: true } : { id: event.id, duplicate: !event.isNew };
}

/** What the journal keeps of one ingest: enough to store it later exactly as it would have been now. */
interface JournaledIngest {
  v: 1;
  connectionId: string;
  receivedAt: string;
  context: IngestContext;
  /** The ids the events get if they are new, given in arrival order. */
  ids: string[];
  /** As the network module mapped them, before the interceptors (which may need Postgres). */
  events: IncomingEvent[];
}

/**
 * The one path every network's events take: store durably (dedup + merge), then hand the new
 * ones to fan-out. Callers answer the network only after this resolves: the events are then
 * committed to Postgres or, when Postgres is unreachable or slower than JOURNAL_STORE_TIMEOUT_MS,
 * synced to this process's journal, which replays them into this same path (SPEC §3).
 */
@Injectable()
export class IngestService implements OnModuleInit {
  private readonly logger = new Logger(IngestService.name);
  private readonly interceptors: IngestInterceptor[] = [];
  private readonly storeTimeoutMs: number;
  private readonly logsEvents: boolean;

  constructor(
    private readonly store: EventStore,
    private readonly fanout: FanoutQueue,
    private readonly metrics: MetricsService,
    private readonly journal: JournalService,
    private readonly connections: ConnectionsService,
    config: ConfigService<Settings, true>,
  ) {
    this.storeTimeoutMs = config.get('JOURNAL_STORE_TIMEOUT_MS', { infer: true });
    this.logsEvents = logsDebug(config.get('LOG_LEVEL', { infer: true }));
  }

  onModuleInit(): void {
    this.journal.replayInto((payload) => this.replay(payload));
  }

  /** Called once at start by the modules that must see events before they are stored. */
  intercept(interceptor: IngestInterceptor): void {
    this.interceptors.push(interceptor);
  }

  async accept(connection: OpenConnection, events: IncomingEvent[], context: IngestContext = {}): Promise<AcceptedEvent[]> {
    const receivedAt = new Date();
    const ids = events.map(() => uuid7(receivedAt.getTime()));
    if (!this.journal.enabled) return this.storeAndFanOut(connection, events, context, receivedAt, ids);
    const tryStore = async () => {
      const outcome = await settleWithin(this.storeAndFanOut(connection, events, context, receivedAt, ids), this.storeTimeoutMs);
      if (outcome.kind === 'done') return outcome.value;
      // Postgres, or Redis (which an interceptor may need), out of reach: the journal keeps the event.
      if (outcome.kind === 'failed' && !isUnavailable(outcome.error)) throw outcome.error;
      // Timed out, the store may still commit: a journaled copy then merges into it on replay.
      this.logger.debug(`${connection.id}: Postgres did not store ${events.length} event(s): ${outcome.kind === 'failed' ? (outcome.error as Error).message : 'too slow'}`);
      return null;
    };
    // While earlier events wait in the journal, new ones go behind them: arrival order is kept.
    const buffering = this.journal.isBuffering;
    if (!buffering) {
      const stored = await tryStore();
      if (stored) return stored;
    }
    const record: JournaledIngest = { v: 1, connectionId: connection.id, receivedAt: receivedAt.toISOString(), context, ids, events };
    try {
      await this.journal.append(record);
    } catch (error) {
      // No room behind the others: Postgres itself, if it answers, is better than a 503.
      const stored = buffering ? await tryStore() : null;
      if (stored) return stored;
      throw new ServiceUnavailableException(`Postgres is unavailable and ${(error as Error).message}: the event was not accepted`);
    }
    return events.map((event, i) => ({ id: ids[i], type: event.type, deviceId: null, isNew: true, journaled: true }));
  }

  private async storeAndFanOut(connection: OpenConnection, events: IncomingEvent[], context: IngestContext, receivedAt: Date, ids: string[]): Promise<AcceptedEvent[]> {
    for (const interceptor of this.interceptors) events = await interceptor(connection, events);
    const stored = await this.store.store(connection, events, context, receivedAt, ids);
    this.fanout.enqueueInBackground(stored.filter((event) => event.isNew));
    for (const event of stored) {
      // Debug level: with the request id that pino adds, this ties a request to its event ids.
      if (this.logsEvents) this.logger.debug(`${event.isNew ? 'stored' : 'merged into'} event ${event.id} (${event.type}) of device ${event.deviceId}`);
      if (event.isNew) this.metrics.eventsIngested.inc({ network: connection.network, type: event.type });
      else this.metrics.duplicatesMerged.inc({ network: connection.network });
    }
    return stored.map((event) => ({ ...event, journaled: false }));
  }

  /** A journaled ingest, written to Postgres through the same path as when it arrived. */
  private async replay(payload: unknown): Promise<ReplayOutcome> {
    const record = payload as Partial<JournaledIngest> | null;
    if (record?.v !== 1 || !record.connectionId || !record.receivedAt || !Array.isArray(record.events) || !Array.isArray(record.ids)) {
      return { refused: `not a journaled ingest this version reads (v=${String(record?.v)})` };
    }
    try {
      const connection = await this.connections.open(record.connectionId);
      if (!connection) return { refused: `connection "${record.connectionId}" no longer exists` };
      await this.storeAndFanOut(connection, record.events, record.context ?? {}, new Date(record.receivedAt), record.ids);
      return 'done';
    } catch (error) {
      if (isUnavailable(error)) return 'retry';
      throw error;
    }
  }
}

import { Injectable, Logger } from '@nestjs/common';
import type { OpenConnection } from '../connections/connections.service';
import { EventStore, IngestContext, StoredEvent } from '../events/event-store.service';
import { IncomingEvent } from '../events/normalized-event';
import { FanoutQueue } from '../fanout/fanout-queue.service';
import { MetricsService } from '../metrics/metrics.service';

/**
 * Sees each batch before it is stored and may rewrite its events. The downlinks module uses it to
 * recognize a network's acknowledgements of the bridge's own downlinks, whichever path
 * (webhook, stream) they come by, without the network modules knowing about downlinks.
 */
export type IngestInterceptor = (connection: OpenConnection, events: IncomingEvent[]) => Promise<IncomingEvent[]>;

/**
 * The one path every network's events take: store durably (dedup + merge), then hand the new
 * ones to fan-out. Callers answer the network only after this resolves.
 */
@Injectable()
export class IngestService {
  private readonly logger = new Logger(IngestService.name);
  private readonly interceptors: IngestInterceptor[] = [];

  constructor(
    private readonly store: EventStore,
    private readonly fanout: FanoutQueue,
    private readonly metrics: MetricsService,
  ) {}

  /** Called once at start by the modules that must see events before they are stored. */
  intercept(interceptor: IngestInterceptor): void {
    this.interceptors.push(interceptor);
  }

  async accept(connection: OpenConnection, events: IncomingEvent[], context: IngestContext = {}): Promise<StoredEvent[]> {
    for (const interceptor of this.interceptors) events = await interceptor(connection, events);
    const stored = await this.store.store(connection, events, context);
    this.fanout.enqueueInBackground(stored.filter((event) => event.isNew));
    for (const event of stored) {
      // Debug level: with the request id that pino adds, this ties a request to its event ids.
      this.logger.debug(`${event.isNew ? 'stored' : 'merged into'} event ${event.id} (${event.type}) of device ${event.deviceId}`);
      if (event.isNew) this.metrics.eventsIngested.inc({ network: connection.network, type: event.type });
      else this.metrics.duplicatesMerged.inc({ network: connection.network });
    }
    return stored;
  }
}

import { Injectable } from '@nestjs/common';
import type { OpenConnection } from '../connections/connections.service';
import { EventStore, IngestContext, StoredEvent } from '../events/event-store.service';
import { IncomingEvent } from '../events/normalized-event';
import { FanoutQueue } from '../fanout/fanout-queue.service';
import { MetricsService } from '../metrics/metrics.service';

/**
 * The one path every network's events take: store durably (dedup + merge), then hand the new
 * ones to fan-out. Callers answer the network only after this resolves.
 */
@Injectable()
export class IngestService {
  constructor(
    private readonly store: EventStore,
    private readonly fanout: FanoutQueue,
    private readonly metrics: MetricsService,
  ) {}

  async accept(connection: OpenConnection, events: IncomingEvent[], context: IngestContext = {}): Promise<StoredEvent[]> {
    const stored = await this.store.store(connection, events, context);
    this.fanout.enqueueInBackground(stored.filter((event) => event.isNew));
    for (const event of stored) {
      if (event.isNew) this.metrics.eventsIngested.inc({ network: connection.network, type: event.type });
      else this.metrics.duplicatesMerged.inc({ network: connection.network });
    }
    return stored;
  }
}

import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { uuid7 } from '../common/uuid7';
import { Settings } from '../config/settings';
import { PrismaService } from '../database/prisma.service';
import { DeviceDirectory, DeviceRef } from '../devices/device-directory.service';
import { DeviceStateRecorder } from '../devices/device-state-recorder.service';
import { deviceStateOf } from '../devices/device-state';
import { Event } from '../generated/prisma/client';
import type { OpenConnection } from '../connections/connections.service';
import { EventBatchWriter, isForeignKeyViolation } from './event-batch-writer';
import { EventCopyMerger } from './event-copy-merger';
import { IncomingEvent, NormalizedEvent, Radio } from './normalized-event';
import { EventBody, EventRow, fromRawRow, InsertOutcome, normalized, RawEventRow } from './event-rows';

export interface StoredEvent {
  id: string;
  deviceId: string;
  /** False when it was a copy of an event already stored (merged into it). */
  isNew: boolean;
  type: NormalizedEvent['type'];
  /** The event as stored, when new: fan-out may publish it without reading it back. */
  event?: NormalizedEvent;
}

/** An event published, with its `uplink` when it is to be stored again (see markPublished). */
export interface PublishedMark {
  id: string;
  time: string;
  uplink?: NormalizedEvent['uplink'];
}

/** Device-specific side data an ingest brings along (Helium's downlink URL). */
export interface IngestContext {
  downlinkUrl?: string | null;
}

/**
 * The events table. The hot path (insert, fan-out read and mark) uses plain pg with prepared
 * statements: under load Prisma's per-query work was most of the CPU (see README, Performance).
 */
@Injectable()
export class EventStore {
  private readonly writer: EventBatchWriter;
  private readonly copies: EventCopyMerger;

  constructor(
    private readonly prisma: PrismaService,
    private readonly devices: DeviceDirectory,
    private readonly deviceState: DeviceStateRecorder,
    config: ConfigService<Settings, true>,
  ) {
    this.writer = new EventBatchWriter(prisma.pool, config.get('EVENT_IDENTITY_TTL_HOURS', { infer: true }) * 3600_000);
    this.copies = new EventCopyMerger(prisma.pool);
  }

  /**
   * Stores each event once per identity (SPEC §4); a copy only adds its gateways to the event it
   * is a copy of. Resolves once every event is committed.
   */
  async store(connection: OpenConnection, incoming: IncomingEvent[], context: IngestContext = {}, receivedAt = new Date(), ids?: string[]): Promise<StoredEvent[]> {
    const stored: StoredEvent[] = [];
    for (const [index, event] of incoming.entries()) {
      // Given when the event was journaled first: replayed, it keeps the id its request was answered with.
      const id = ids?.[index] ?? uuid7(receivedAt.getTime());
      let device = await this.devices.resolve(connection.id, event.device, context.downlinkUrl);
      // A copy's identity can lapse between the insert and the merge (it expired, or its holder
      // was a copy in the same batch but out of its window): then the event is inserted again.
      for (let attempt = 0; ; attempt++) {
        const row = toRow(id, connection, event, device, receivedAt);
        let outcome: InsertOutcome;
        try {
          outcome = await this.writer.insert(row);
        } catch (error) {
          if (!isForeignKeyViolation(error) || attempt > 0) throw error;
          // The cached device was deleted meanwhile: the event re-registers it.
          this.devices.forget(connection.id, event.device.externalId);
          device = await this.devices.resolve(connection.id, event.device, context.downlinkUrl);
          continue;
        }
        const isNew = outcome.stored === 'new';
        const first = outcome.stored === 'held' ? await this.copies.merge({ connectionId: connection.id, dedupKey: event.dedupKey, time: event.time, radio: event.radio }) : outcome;
        if (first === null) {
          if (attempt < 3) continue;
          throw new Error(`identity ${event.dedupKey} of connection ${connection.id} could not be claimed nor merged into`);
        }
        // A merged copy counts its gateways in the device's last uplink too.
        this.deviceState.record(device.id, deviceStateOf({ ...event, radio: first.radio }, receivedAt));
        stored.push({ id: first.id, deviceId: device.id, isNew, type: event.type, ...(isNew ? { event: fromRow(row, first.radio) } : {}) });
        break;
      }
    }
    return stored;
  }

  /**
   * The events among `ids` not yet published to MQTT (a job may run again after a crash).
   * Without `withRaw` their `raw` is null: reading and parsing the network's body again was a
   * good part of the fan-out's cost, and MQTT and webhooks leave it out by default.
   */
  async findUnpublishedByIds(ids: string[], withRaw: boolean): Promise<NormalizedEvent[]> {
    const result = await this.prisma.pool.query<RawEventRow>({
      name: withRaw ? 'find-unpublished-events' : 'find-unpublished-events-without-raw',
      text: `SELECT id, connection_id, network, type, time, received_at, body, ${withRaw ? 'raw' : 'NULL AS raw'} FROM events
             WHERE id = ANY($1::uuid[]) AND published_at IS NULL`,
      values: [ids],
    });
    return result.rows.map(fromRawRow);
  }

  /**
   * Marks events published, storing the `uplink` given with one (decoded since it was stored) in
   * the same write. The events' times bound the update to their partitions: by id alone
   * Postgres probes the primary key of every partition for every id.
   */
  async markPublished(events: PublishedMark[]): Promise<void> {
    if (events.length === 0) return;
    if (events.some((event) => event.uplink)) return this.writeUplinks(events, true);
    await this.prisma.pool.query({
      name: 'mark-events-published',
      text: 'UPDATE events SET published_at = now() WHERE id = ANY($1::uuid[]) AND time >= $2 AND time <= $3 AND published_at IS NULL',
      values: [events.map((event) => event.id), ...timeBounds(events)],
    });
  }

  /** Stores the events' `uplink` again (decoded by a codec after they were stored), without marking them published. */
  async rewriteUplinks(events: PublishedMark[]): Promise<void> {
    if (events.length) await this.writeUplinks(events, false);
  }

  /**
   * One statement for the batch, each event's uplink (or null: left as it is) found by its id's
   * position: joined to the batch as a table instead, Postgres read every unpublished row of the
   * partition for each batch (a hash join over the outbox index), 1.5 × the CPU.
   */
  private async writeUplinks(events: PublishedMark[], published: boolean): Promise<void> {
    await this.prisma.pool.query({
      name: published ? 'mark-events-published-with-uplinks' : 'rewrite-event-uplinks',
      text: `UPDATE events SET ${published ? 'published_at = now(), ' : ''}
               body = coalesce(jsonb_set(body, '{uplink}', nullif($4::jsonb -> (array_position($1::uuid[], id) - 1), 'null')), body)
             WHERE id = ANY($1::uuid[]) AND time >= $2 AND time <= $3${published ? ' AND published_at IS NULL' : ''}`,
      values: [events.map((event) => event.id), ...timeBounds(events), JSON.stringify(events.map((event) => event.uplink ?? null))],
    });
  }

  /** Events still waiting for MQTT after `olderThanMs`: their job was lost (Redis down, worker killed). */
  async findUnpublished(olderThanMs: number, limit: number): Promise<Array<{ id: string }>> {
    return this.prisma.event.findMany({
      where: { publishedAt: null, receivedAt: { lt: new Date(Date.now() - olderThanMs) } },
      select: { id: true },
      orderBy: { receivedAt: 'asc' },
      take: limit,
    });
  }

  /** Deletes expired identities, a bounded chunk at a time; the number deleted. */
  async sweepIdentities(limit: number): Promise<number> {
    const result = await this.prisma.pool.query({
      name: 'sweep-event-identities',
      text: `DELETE FROM event_identities WHERE ctid IN (SELECT ctid FROM event_identities WHERE expires_at <= now() LIMIT $1)`,
      values: [limit],
    });
    return result.rowCount ?? 0;
  }
}

/** The earliest and latest of the events' times: they bound an update to the partitions holding them. */
function timeBounds(events: Array<{ time: string }>): [Date, Date] {
  const times = events.map((event) => Date.parse(event.time));
  return [new Date(Math.min(...times)), new Date(Math.max(...times))];
}

function toRow(id: string, connection: OpenConnection, event: IncomingEvent, device: DeviceRef, receivedAt: Date): EventRow {
  const body: EventBody = {
    device,
    uplink: event.uplink,
    radio: event.radio,
    status: event.status,
    ack: event.ack,
    location: event.location,
  };
  return {
    id,
    connection_id: connection.id,
    device_id: device.id,
    network: connection.network,
    type: event.type,
    external_id: device.externalId,
    dedup_key: event.dedupKey,
    time: new Date(event.time),
    received_at: receivedAt,
    body,
    raw: event.raw ?? {},
    window_ms: event.identityWindowMs ?? null,
  };
}

/** The event as stored: its radio has the gateways of the copies folded into it. */
function fromRow(row: EventRow, radio: Radio | null): NormalizedEvent {
  return normalized(row.id, row.type, row.network, row.connection_id, row.time, row.received_at, { ...(row.body as EventBody), radio }, row.raw);
}

export function toNormalizedEvent(row: Event): NormalizedEvent {
  return normalized(row.id, row.type, row.network, row.connectionId, row.time, row.receivedAt, row.body as unknown as EventBody, row.raw);
}

import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { uuid7 } from '../common/uuid7';
import { PrismaService } from '../database/prisma.service';
import { DeviceDirectory, DeviceRef } from '../devices/device-directory.service';
import { DeviceStateRecorder } from '../devices/device-state-recorder.service';
import { deviceStateOf } from '../devices/device-state';
import { Event } from '../generated/prisma/client';
import type { OpenConnection } from '../connections/connections.service';
import { EventBatchWriter, EventRow, isForeignKeyViolation } from './event-batch-writer';
import { EventCursor } from './event-cursor';
import { IncomingEvent, NormalizedEvent, Radio } from './normalized-event';
import { mergeRadio } from './radio';

type EventBody = Omit<NormalizedEvent, 'id' | 'type' | 'network' | 'connectionId' | 'time' | 'receivedAt' | 'raw'>;

export interface StoredEvent {
  id: string;
  deviceId: string;
  /** False when it was a copy of an event already stored (merged into it). */
  isNew: boolean;
  type: NormalizedEvent['type'];
}

export interface EventFilter {
  type?: string;
  network?: string;
  connectionId?: string;
  externalId?: string;
  deviceId?: string;
  /** An event id: only older events. */
  before?: string;
  from?: Date;
  to?: Date;
}

/** Device-specific side data an ingest brings along (Helium's downlink URL). */
export interface IngestContext {
  downlinkUrl?: string | null;
}

/** Columns of the fan-out read, as plain pg returns them. */
interface RawEventRow {
  id: string;
  connection_id: string;
  network: string;
  type: string;
  time: Date;
  received_at: Date;
  body: EventBody;
  raw: unknown;
}

/**
 * The events table. The hot path (insert, fan-out read and mark) uses plain pg with prepared
 * statements: under load Prisma's per-query work was most of the CPU (see README, Performance).
 */
@Injectable()
export class EventStore {
  private readonly writer: EventBatchWriter;

  constructor(
    private readonly prisma: PrismaService,
    private readonly devices: DeviceDirectory,
    private readonly deviceState: DeviceStateRecorder,
  ) {
    this.writer = new EventBatchWriter(prisma.pool);
  }

  /** Stores each event once per dedup key; a later copy only adds its gateways to the first. */
  async store(connection: OpenConnection, incoming: IncomingEvent[], context: IngestContext = {}): Promise<StoredEvent[]> {
    const receivedAt = new Date();
    const stored: StoredEvent[] = [];
    for (const event of incoming) {
      let device = await this.devices.resolve(connection.id, event.device, context.downlinkUrl);
      let row = toRow(connection, event, device, receivedAt);
      let isNew: boolean;
      try {
        isNew = await this.writer.insert(row);
      } catch (error) {
        if (!isForeignKeyViolation(error)) throw error;
        // The cached device was deleted meanwhile: the event re-registers it.
        this.devices.forget(connection.id, event.device.externalId);
        device = await this.devices.resolve(connection.id, event.device, context.downlinkUrl);
        row = toRow(connection, event, device, receivedAt);
        isNew = await this.writer.insert(row);
      }
      const merged = isNew ? { id: row.id, radio: event.radio } : await this.mergeCopy(connection.id, event);
      // A merged copy counts its gateways in the device's last uplink too.
      this.deviceState.record(device.id, deviceStateOf({ ...event, radio: merged.radio }, receivedAt));
      stored.push({ id: merged.id, deviceId: device.id, isNew, type: event.type });
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
   * History, newest first. Plain pg: a page of 100 events with their raw bodies took Prisma
   * ~40 ms to map, the query itself well under 1 ms on its (device_id, id) index.
   */
  async findPage(filter: EventFilter, limit: number): Promise<NormalizedEvent[]> {
    const { where, values } = whereClause(filter);
    values.push(limit);
    const text = `SELECT ${HISTORY_COLUMNS} FROM events ${where} ORDER BY id DESC LIMIT $${values.length}`;
    // Named, so each combination of filters is planned once per connection (planning was ~1 ms of
    // a ~9 ms page); hashed, as Postgres cuts statement names at 63 bytes.
    const name = `history-page-${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
    const result = await this.prisma.pool.query<RawEventRow>({ name, text, values });
    return result.rows.map(fromRawRow);
  }

  /** Every event matching `filter`, oldest first, read through a server-side cursor (export). */
  openCursor(filter: Omit<EventFilter, 'before'>): Promise<EventCursor> {
    const { where, values } = whereClause(filter);
    return EventCursor.open(this.prisma.pool, `SELECT ${HISTORY_COLUMNS} FROM events ${where} ORDER BY id`, values, fromRawRow);
  }

  async markPublished(ids: string[]): Promise<void> {
    await this.prisma.pool.query({
      name: 'mark-events-published',
      text: 'UPDATE events SET published_at = now() WHERE id = ANY($1::uuid[]) AND published_at IS NULL',
      values: [ids],
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

  /** Adds a copy's gateways to the stored event, under a row lock so concurrent copies all count. */
  private async mergeCopy(connectionId: string, event: IncomingEvent): Promise<{ id: string; radio: Radio | null }> {
    const client = await this.prisma.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ id: string; body: EventBody }>({
        name: 'lock-event-by-key',
        text: 'SELECT id, body FROM events WHERE connection_id = $1 AND dedup_key = $2 FOR UPDATE',
        values: [connectionId, event.dedupKey],
      });
      const first = rows[0];
      const radio = mergeRadio(first.body.radio, event.radio);
      if (JSON.stringify(radio) !== JSON.stringify(first.body.radio)) {
        await client.query({ name: 'merge-event-radio', text: 'UPDATE events SET body = $2 WHERE id = $1', values: [first.id, JSON.stringify({ ...first.body, radio })] });
      }
      await client.query('COMMIT');
      return { id: first.id, radio };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}

function toRow(connection: OpenConnection, event: IncomingEvent, device: DeviceRef, receivedAt: Date): EventRow {
  const body: EventBody = {
    device,
    uplink: event.uplink,
    radio: event.radio,
    status: event.status,
    ack: event.ack,
    location: event.location,
  };
  return {
    id: uuid7(receivedAt.getTime()),
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
  };
}

const HISTORY_COLUMNS = 'id, connection_id, network, type, time, received_at, body, raw';

function whereClause(filter: EventFilter): { where: string; values: unknown[] } {
  const conditions: string[] = [];
  const values: unknown[] = [];
  const where = (sql: string, value: unknown) => {
    if (value === undefined) return;
    values.push(value);
    conditions.push(sql.replace('?', `$${values.length}`));
  };
  where('type = ?', filter.type);
  where('network = ?', filter.network);
  where('connection_id = ?', filter.connectionId);
  where('external_id = ?', filter.externalId);
  where('device_id = ?::uuid', filter.deviceId);
  where('id < ?::uuid', filter.before);
  where('time >= ?', filter.from);
  where('time < ?', filter.to);
  return { where: conditions.length ? `WHERE ${conditions.join(' AND ')}` : '', values };
}

function fromRawRow(row: RawEventRow): NormalizedEvent {
  return normalized(row.id, row.type, row.network, row.connection_id, row.time, row.received_at, row.body, row.raw);
}

export function toNormalizedEvent(row: Event): NormalizedEvent {
  return normalized(row.id, row.type, row.network, row.connectionId, row.time, row.receivedAt, row.body as unknown as EventBody, row.raw);
}

function normalized(id: string, type: string, network: string, connectionId: string, time: Date, receivedAt: Date, body: EventBody, raw: unknown): NormalizedEvent {
  return {
    id,
    type: type as NormalizedEvent['type'],
    network: network as NormalizedEvent['network'],
    connectionId,
    device: body.device,
    time: time.toISOString(),
    receivedAt: receivedAt.toISOString(),
    uplink: body.uplink,
    radio: body.radio,
    status: body.status,
    ack: body.ack,
    location: body.location,
    raw,
  };
}

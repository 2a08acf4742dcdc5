import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { createHash } from 'node:crypto';
import { Settings } from '../config/settings';
import { PrismaService } from '../database/prisma.service';
import { EventCursor } from './event-cursor';
import { csvRow, ExportFormat } from './event-export';
import { fromRawRow, RawEventRow } from './event-rows';

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

/** An event of a history page: its id (the next page's cursor) and the event as JSON text. */
export interface EventJson {
  id: string;
  json: string;
}

/** The keys of `body` in a NormalizedEvent, in its order (event-rows.ts `normalized`). */
const BODY_KEYS = ['device', 'uplink', 'radio', 'status', 'ack', 'location'] as const;

/** The columns of a HistoryRow. */
const HISTORY_COLUMNS = `id, connection_id, network, type, time, received_at, ${BODY_KEYS.map((key) => `(body -> '${key}')::text AS ${key}`).join(', ')}, raw::text AS raw`;

/** A history row: `body`'s members and `raw` as Postgres prints them, null when absent. */
type HistoryRow = Pick<RawEventRow, 'id' | 'connection_id' | 'network' | 'type' | 'time' | 'received_at'> & Record<(typeof BODY_KEYS)[number] | 'raw', string | null>;

/**
 * The event as JSON.stringify would print its NormalizedEvent (same keys in the same order, an
 * absent member left out as undefined is), with the stored JSON as Postgres prints it.
 */
function eventJson(row: HistoryRow): string {
  const head = `{"id":${JSON.stringify(row.id)},"type":${JSON.stringify(row.type)},"network":${JSON.stringify(row.network)},"connectionId":${JSON.stringify(row.connection_id)}`;
  const member = (key: string, value: string | null) => (value === null ? '' : `,"${key}":${value}`);
  return (
    head +
    member('device', row.device) +
    `,"time":"${row.time.toISOString()}","receivedAt":"${row.received_at.toISOString()}"` +
    member('uplink', row.uplink) +
    member('radio', row.radio) +
    member('status', row.status) +
    member('ack', row.ack) +
    member('location', row.location) +
    member('raw', row.raw) +
    '}'
  );
}

/** The read side of the events table: history pages and export cursors (plain pg). */
@Injectable()
export class EventHistory {
  private readonly retentionMs: number;

  constructor(
    private readonly prisma: PrismaService,
    config: ConfigService<Settings, true>,
  ) {
    this.retentionMs = config.get('EVENTS_RETENTION_DAYS', { infer: true }) * 86_400_000;
  }

  /** History never shows what retention removes, even before the worker has dropped it. */
  private keptSince(): Date | undefined {
    return this.retentionMs > 0 ? new Date(Date.now() - this.retentionMs) : undefined;
  }

  /**
   * History, newest first, each event as its JSON text (SPEC §8's shape, as NormalizedEvent).
   * Postgres prints body and raw (jsonb) and the page is put together as text: parsing them
   * into objects only to serialize them again was most of a page's CPU and garbage.
   */
  async findPage(filter: EventFilter, limit: number): Promise<EventJson[]> {
    const { where, values } = whereClause(filter, this.keptSince());
    values.push(limit);
    const text = `SELECT ${HISTORY_COLUMNS} FROM events ${where} ORDER BY id DESC LIMIT $${values.length}`;
    // Named, so each combination of filters is planned once per connection (planning was ~1 ms of
    // a ~9 ms page); hashed, as Postgres cuts statement names at 63 bytes.
    const name = `history-page-${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
    const result = await this.prisma.pool.query<HistoryRow>({ name, text, values });
    return result.rows.map((row) => ({ id: row.id, json: eventJson(row) }));
  }

  /**
   * Every event matching `filter`, oldest first, read through a server-side cursor (export), as
   * the export's lines: NDJSON is each event as history writes it, from the stored JSON's text
   * (parsing it only to print it again was most of an export's CPU and garbage); CSV reads the
   * body alone, without raw.
   */
  openCursor(filter: Omit<EventFilter, 'before'>, format: ExportFormat): Promise<EventCursor<string>> {
    const { where, values } = whereClause(filter, this.keptSince());
    if (format === 'ndjson') {
      return EventCursor.open(this.prisma.pool, `SELECT ${HISTORY_COLUMNS} FROM events ${where} ORDER BY id`, values, (row: HistoryRow) => `${eventJson(row)}\n`);
    }
    const columns = 'id, connection_id, network, type, time, received_at, body, NULL AS raw';
    return EventCursor.open(this.prisma.pool, `SELECT ${columns} FROM events ${where} ORDER BY id`, values, (row: RawEventRow) => csvRow(fromRawRow(row)));
  }
}

function whereClause(filter: EventFilter, keptSince: Date | undefined): { where: string; values: unknown[] } {
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
  where('time >= ?', keptSince);
  return { where: conditions.length ? `WHERE ${conditions.join(' AND ')}` : '', values };
}

import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { createHash } from 'node:crypto';
import { Settings } from '../config/settings';
import { PrismaService } from '../database/prisma.service';
import { EventCursor } from './event-cursor';
import { fromRawRow, RawEventRow } from './event-rows';
import { NormalizedEvent } from './normalized-event';

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
   * History, newest first. Plain pg: a page of 100 events with their raw bodies took Prisma
   * ~40 ms to map, the query itself well under 1 ms on its (device_id, id) index.
   */
  async findPage(filter: EventFilter, limit: number): Promise<NormalizedEvent[]> {
    const { where, values } = whereClause(filter, this.keptSince());
    values.push(limit);
    const text = `SELECT id, connection_id, network, type, time, received_at, body, raw FROM events ${where} ORDER BY id DESC LIMIT $${values.length}`;
    // Named, so each combination of filters is planned once per connection (planning was ~1 ms of
    // a ~9 ms page); hashed, as Postgres cuts statement names at 63 bytes.
    const name = `history-page-${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
    const result = await this.prisma.pool.query<RawEventRow>({ name, text, values });
    return result.rows.map(fromRawRow);
  }

  /**
   * Every event matching `filter`, oldest first, read through a server-side cursor (export). Its
   * `raw` is the stored JSON as text, or null without `withRawText`: parsing it only to print it
   * again was most of an export's garbage.
   */
  openCursor(filter: Omit<EventFilter, 'before'>, withRawText: boolean): Promise<EventCursor> {
    const { where, values } = whereClause(filter, this.keptSince());
    const columns = `id, connection_id, network, type, time, received_at, body, ${withRawText ? 'raw::text AS raw' : 'NULL AS raw'}`;
    return EventCursor.open(this.prisma.pool, `SELECT ${columns} FROM events ${where} ORDER BY id`, values, fromRawRow);
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

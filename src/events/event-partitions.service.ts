import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { PoolClient } from 'pg';
import { PeriodicTask } from '../common/job-queues';
import { Settings } from '../config/settings';
import { PrismaService } from '../database/prisma.service';

/** The tables partitioned by week (migrations events_partitioned, webhook_deliveries_partitioned) and their keys. */
const PARTITIONED = [
  { table: 'events', key: 'time' },
  { table: 'webhook_deliveries', key: 'event_time' },
] as const;
const DAY_MS = 86_400_000;
const WEEK_MS = 7 * DAY_MS;
/** Weeks created ahead of the current one: a worker may be down for a month before events fall into the default partition. */
const WEEKS_AHEAD = 4;
const MAINTENANCE_INTERVAL_MS = 15 * 60_000;
/** Dropping a partition locks its parent exclusively: rather give up and retry next round than queue ingest behind a long export. */
const LOCK_TIMEOUT_MS = 2000;
/** One instance maintains at a time; the others skip the round. */
const MAINTENANCE_LOCK = 72707371;

export interface MaintenanceReport {
  created: string[];
  dropped: string[];
  /** Rows of the default partitions older than the retention (events that arrived already old, once published). */
  expiredRows: number;
}

/**
 * Worker role: creates the coming weeks' partitions of events and webhook deliveries, and, with
 * EVENTS_RETENTION_DAYS > 0, drops the weeks entirely older than the retention (both tables:
 * deliveries are kept as long as their events). Never deletes rows of a large table: only the
 * default partitions, which hold the few events whose time is outside every week, lose rows.
 */
@Injectable()
export class EventPartitions implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(EventPartitions.name);
  private task?: PeriodicTask;
  private readonly retentionMs: number;

  constructor(
    private readonly config: ConfigService<Settings, true>,
    private readonly prisma: PrismaService,
  ) {
    this.retentionMs = config.get('EVENTS_RETENTION_DAYS', { infer: true }) * DAY_MS;
  }

  onApplicationBootstrap(): void {
    if (this.config.get('BRIDGE_ROLE', { infer: true }) === 'api') return;
    this.task = new PeriodicTask('partition maintenance', MAINTENANCE_INTERVAL_MS, async () => void (await this.maintain()), this.logger).start();
    void this.maintain().catch((error: Error) => this.logger.warn(`partition maintenance at start failed: ${error.message}`));
  }

  /** Null when another instance (or an earlier round of this one) is maintaining. */
  async maintain(now = new Date()): Promise<MaintenanceReport | null> {
    const report: MaintenanceReport = { created: [], dropped: [], expiredRows: 0 };
    const client = await this.prisma.pool.connect();
    try {
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [MAINTENANCE_LOCK]);
      if (!rows[0].locked) return null;
      try {
        await this.createAhead(client, now, report);
        if (this.retentionMs > 0) await this.dropExpired(client, new Date(now.getTime() - this.retentionMs), report);
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [MAINTENANCE_LOCK]);
      }
    } finally {
      client.release();
    }
    if (report.created.length || report.dropped.length || report.expiredRows) {
      this.logger.log(`partitions: created ${report.created.join(', ') || 'none'}; dropped ${report.dropped.join(', ') || 'none'}; ${report.expiredRows} expired row(s) removed`);
    }
    return report;
  }

  private async createAhead(client: PoolClient, now: Date, report: MaintenanceReport): Promise<void> {
    for (let week = 0; week <= WEEKS_AHEAD; week++) {
      const at = new Date(now.getTime() + week * WEEK_MS);
      for (const { table, key } of PARTITIONED) {
        const created = await inTransaction(client, async () => {
          const { rows } = await client.query<{ created: boolean }>('SELECT create_week_partition($1, $2, $3) AS created', [table, key, at]);
          return rows[0].created;
        });
        if (created) report.created.push(`${table}_w${mondayOf(at)}`);
      }
    }
  }

  /** Retention never drops what fan-out still owes: an unpublished event (broker or workers down for longer than the retention) or a pending delivery. */
  private async stillOwed(client: PoolClient, week: string): Promise<boolean> {
    for (const [table, owed] of [['events', 'published_at IS NULL'], ['webhook_deliveries', "status = 'pending'"]]) {
      const { rows } = await client.query<{ owed: boolean | null }>(
        `SELECT CASE WHEN to_regclass($1) IS NULL THEN false ELSE null END AS owed`,
        [`${table}${week}`],
      );
      if (rows[0].owed === false) continue;
      const found = await client.query<{ owed: boolean }>(`SELECT EXISTS (SELECT 1 FROM "${table}${week}" WHERE ${owed}) AS owed`);
      if (found.rows[0].owed) return true;
    }
    return false;
  }

  /** A week goes once all of it is older than `cutoff`; a partition still locked by a reader is left for the next round. */
  private async dropExpired(client: PoolClient, cutoff: Date, report: MaintenanceReport): Promise<void> {
    for (const { table } of PARTITIONED) {
      const { rows } = await client.query<{ name: string }>(
        `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = $1::regclass AND c.relname ~ ('^' || $1 || '_w[0-9]{8}$') ORDER BY c.relname`,
        [table],
      );
      for (const { name } of rows) {
        if (weekStartOf(name).getTime() + WEEK_MS > cutoff.getTime()) continue;
        const week = name.slice(table.length);
        if (await this.stillOwed(client, week)) {
          this.logger.warn(`retention: ${name} kept: events of that week are not all published, or deliveries still pending`);
          continue;
        }
        try {
          await inTransaction(client, () => client.query(`DROP TABLE "${name}"`));
          report.dropped.push(name);
        } catch (error) {
          this.logger.warn(`retention: ${name} not dropped this round: ${(error as Error).message}`);
        }
      }
    }
    // Published, and no delivery of it still pending: the event has been handed on, and is not kept.
    const events = await client.query(
      `DELETE FROM events_default e WHERE time < $1 AND published_at IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.event_time = e.time AND d.status = 'pending')`,
      [cutoff],
    );
    const deliveries = await client.query(`DELETE FROM webhook_deliveries_default WHERE event_time < $1 AND status <> 'pending'`, [cutoff]);
    report.expiredRows = (events.rowCount ?? 0) + (deliveries.rowCount ?? 0);
  }

  onModuleDestroy(): void {
    this.task?.stop();
  }
}

async function inTransaction<T>(client: PoolClient, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    await client.query(`SET LOCAL lock_timeout = ${LOCK_TIMEOUT_MS}`);
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** YYYYMMDD of the Monday (UTC) of the week holding `at`, as the partitions are named. */
function mondayOf(at: Date): string {
  const day = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
  day.setUTCDate(day.getUTCDate() - ((day.getUTCDay() + 6) % 7));
  return day.toISOString().slice(0, 10).replace(/-/g, '');
}

function weekStartOf(partitionName: string): Date {
  const digits = partitionName.slice(-8);
  return new Date(`${digits.slice(0, 4)}-${digits.slice(4, 6)}-${digits.slice(6, 8)}T00:00:00.000Z`);
}

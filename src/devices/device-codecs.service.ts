import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { settleWithin } from '../common/settle-within';
import { Settings } from '../config/settings';
import { PrismaService } from '../database/prisma.service';

/** What decodes a device's uplinks instead of its connection's choice. */
export interface CodecAssignment {
  codecId: string | null;
  codecOverrides: boolean | null;
  /** The device's own Sigfox payload config (settings.payloadConfig). */
  payloadConfig: string | null;
}

/** How often a process reads the devices changed since its last look. */
const REFRESH_MS = 2000;
/**
 * Older than this, an uplink waits for the read (bounded) instead of starting it for the next
 * ones: the first uplink after a quiet spell must not use what was read long ago.
 */
const WAIT_FOR_REFRESH_AFTER_MS = 2 * REFRESH_MS;
/** Rows are re-read this far back: `updated_at` comes from the clocks of several processes. */
const OVERLAP_MS = 10_000;

/**
 * Which devices have their own codec or payload config, kept in memory so that ingest never asks
 * the database per uplink: the devices with one are read at start, then, every couple of seconds
 * and only when uplinks come, the devices changed since (an index on updated_at). Under steady
 * traffic the read runs beside ingest, never in front of it.
 */
@Injectable()
export class DeviceCodecs {
  private readonly logger = new Logger(DeviceCodecs.name);
  private readonly byDevice = new Map<string, CodecAssignment>();
  private since: Date | null = null;
  private refreshedAt = 0;
  private refreshStartedAt = 0;
  private refreshing?: Promise<void>;
  private readonly waitMs: number;

  constructor(
    private readonly prisma: PrismaService,
    config: ConfigService<Settings, true>,
  ) {
    // No longer than ingest waits for Postgres before it journals.
    this.waitMs = config.get('JOURNAL_STORE_TIMEOUT_MS', { infer: true });
  }

  /** Undefined: the device has nothing of its own (as last read). */
  async of(connectionId: string, externalId: string): Promise<CodecAssignment | undefined> {
    const age = Date.now() - this.refreshedAt;
    if (age > REFRESH_MS) {
      const refreshing = this.refresh();
      // Only while the read is young: one that Postgres holds up (an outage) is not waited for by every uplink.
      const waitMs = this.waitMs - (Date.now() - this.refreshStartedAt);
      if (age > WAIT_FOR_REFRESH_AFTER_MS && waitMs > 0) await settleWithin(refreshing, waitMs);
    }
    return this.byDevice.get(keyOf(connectionId, externalId));
  }

  /** False until the devices were read once (Postgres unreachable since this process started). */
  get loaded(): boolean {
    return this.since !== null;
  }

  /**
   * Reads the changes committed before this call; the devices API awaits it so that its own
   * changes apply at once. Never fails: with the database unreachable, the last ones read apply.
   */
  async refreshNow(): Promise<void> {
    // A read already under way may have started before the caller's change.
    await this.refreshing;
    await this.refresh();
  }

  /** A deleted device: other processes drop it when a device of that id is registered again. */
  forget(connectionId: string, externalId: string): void {
    this.byDevice.delete(keyOf(connectionId, externalId));
  }

  private refresh(): Promise<void> {
    if (!this.refreshing) this.refreshStartedAt = Date.now();
    this.refreshing ??= this.read()
      .catch((error: Error) => {
        this.refreshedAt = Date.now();
        this.logger.warn(`cannot read the devices' codecs (${error.message}): the last ones read apply`);
      })
      .finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async read(): Promise<void> {
    const startedAt = Date.now();
    const { rows: [{ now }] } = await this.prisma.pool.query<{ now: Date }>({ name: 'device-codecs-now', text: 'SELECT now() AS now' });
    const columns = `connection_id, external_id, codec_id, codec_overrides, settings->>'payloadConfig' AS payload_config`;
    const { rows } = this.since
      ? await this.prisma.pool.query<DeviceCodecRow>({
          name: 'device-codecs-changed',
          text: `SELECT ${columns} FROM devices WHERE updated_at >= $1`,
          values: [new Date(this.since.getTime() - OVERLAP_MS)],
        })
      : await this.prisma.pool.query<DeviceCodecRow>({
          name: 'device-codecs-all',
          text: `SELECT ${columns} FROM devices WHERE codec_id IS NOT NULL OR codec_overrides IS NOT NULL OR settings ? 'payloadConfig'`,
        });
    for (const row of rows) {
      const key = keyOf(row.connection_id, row.external_id);
      if (row.codec_id === null && row.codec_overrides === null && !row.payload_config) this.byDevice.delete(key);
      else this.byDevice.set(key, { codecId: row.codec_id, codecOverrides: row.codec_overrides, payloadConfig: row.payload_config || null });
    }
    this.since = now;
    this.refreshedAt = startedAt;
  }
}

interface DeviceCodecRow {
  connection_id: string;
  external_id: string;
  codec_id: string | null;
  codec_overrides: boolean | null;
  payload_config: string | null;
}

function keyOf(connectionId: string, externalId: string): string {
  return `${connectionId}\u0000${externalId}`;
}

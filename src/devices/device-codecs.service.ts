import { Injectable, Logger } from '@nestjs/common';
import { PrismaService } from '../database/prisma.service';

export interface CodecAssignment {
  codecId: string | null;
  codecOverrides: boolean | null;
}

/** How often a process reads the devices changed since its last look. */
const REFRESH_MS = 2000;
/** Rows are re-read this far back: `updated_at` comes from the clocks of several processes. */
const OVERLAP_MS = 10_000;

/**
 * Which devices have their own codec, kept in memory so that ingest never asks the database per
 * uplink: the devices with one are read at start, then, every couple of seconds and only when
 * uplinks come, the devices changed since (an index on updated_at).
 */
@Injectable()
export class DeviceCodecs {
  private readonly logger = new Logger(DeviceCodecs.name);
  private readonly byDevice = new Map<string, CodecAssignment>();
  private since: Date | null = null;
  private refreshedAt = 0;
  private refreshing?: Promise<void>;

  constructor(private readonly prisma: PrismaService) {}

  async of(connectionId: string, externalId: string): Promise<CodecAssignment | undefined> {
    if (Date.now() - this.refreshedAt > REFRESH_MS) await this.refresh();
    return this.byDevice.get(keyOf(connectionId, externalId));
  }

  /**
   * Reads the changes now; the devices API calls it so that its own changes apply at once. Never
   * fails: with the database unreachable, the assignments last read go on applying.
   */
  refresh(): Promise<void> {
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
    const { rows } = this.since
      ? await this.prisma.pool.query<DeviceCodecRow>({
          name: 'device-codecs-changed',
          text: 'SELECT connection_id, external_id, codec_id, codec_overrides FROM devices WHERE updated_at >= $1',
          values: [new Date(this.since.getTime() - OVERLAP_MS)],
        })
      : await this.prisma.pool.query<DeviceCodecRow>({
          name: 'device-codecs-all',
          text: 'SELECT connection_id, external_id, codec_id, codec_overrides FROM devices WHERE codec_id IS NOT NULL OR codec_overrides IS NOT NULL',
        });
    for (const row of rows) {
      const key = keyOf(row.connection_id, row.external_id);
      if (row.codec_id === null && row.codec_overrides === null) this.byDevice.delete(key);
      else this.byDevice.set(key, { codecId: row.codec_id, codecOverrides: row.codec_overrides });
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
}

function keyOf(connectionId: string, externalId: string): string {
  return `${connectionId}\u0000${externalId}`;
}

import { Injectable } from '@nestjs/common';
import { uuid7 } from '../common/uuid7';
import { PrismaService } from '../database/prisma.service';
import type { DeviceIdentity, NormalizedEvent } from '../events/normalized-event';

export type DeviceRef = NormalizedEvent['device'];

interface CachedDevice {
  ref: DeviceRef;
  downlinkUrl: string | null;
  lastSeenWrittenAt: number;
  expires: number;
}

interface DeviceRow {
  id: string;
  external_id: string;
  name: string | null;
  dev_eui: string | null;
  join_eui: string | null;
  downlink_url: string | null;
  last_seen_at: Date | null;
}

/** When an event was received, and whether the device itself sent it (not a downlink report). */
export interface DeviceSighting {
  at: Date;
  fromDevice: boolean;
  downlinkUrl?: string | null;
}

const CACHE_TTL_MS = 60_000;
/** last_seen_at is kept to the minute: writing it on every uplink would double the write load. */
const LAST_SEEN_RESOLUTION_MS = 60_000;

/**
 * Finds the registry's device for an event, registering a device never seen before
 * (`origin: "discovered"`) so that no event is dropped for an unknown device. On the ingest hot
 * path, so it caches and uses plain pg.
 */
@Injectable()
export class DeviceDirectory {
  private readonly cache = new Map<string, CachedDevice>();

  constructor(private readonly prisma: PrismaService) {}

  async resolve(connectionId: string, identity: DeviceIdentity, seen: DeviceSighting): Promise<DeviceRef> {
    const key = `${connectionId}\u0000${identity.externalId}`;
    let cached = this.cache.get(key);
    if (!cached || cached.expires < Date.now()) {
      // The no-op DO UPDATE makes RETURNING give the existing row too.
      const { rows } = await this.prisma.pool.query<DeviceRow>({
        name: 'resolve-device',
        text: `INSERT INTO devices (id, connection_id, external_id, name, dev_eui, join_eui, origin, last_seen_at, downlink_url, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6, 'discovered', $7, $8, now())
               ON CONFLICT (connection_id, external_id) DO UPDATE SET external_id = EXCLUDED.external_id
               RETURNING id, external_id, name, dev_eui, join_eui, downlink_url, last_seen_at`,
        values: [uuid7(), connectionId, identity.externalId, identity.name ?? null, identity.devEui ?? null, identity.joinEui ?? null, seen.fromDevice ? seen.at : null, seen.downlinkUrl ?? null],
      });
      const row = rows[0];
      cached = {
        ref: { id: row.id, externalId: row.external_id, name: row.name, devEui: row.dev_eui, joinEui: row.join_eui },
        downlinkUrl: row.downlink_url,
        lastSeenWrittenAt: row.last_seen_at?.getTime() ?? 0,
        expires: Date.now() + CACHE_TTL_MS,
      };
      this.cache.set(key, cached);
    }
    const newDownlinkUrl = seen.downlinkUrl && seen.downlinkUrl !== cached.downlinkUrl ? seen.downlinkUrl : undefined;
    if (newDownlinkUrl || (seen.fromDevice && seen.at.getTime() - cached.lastSeenWrittenAt > LAST_SEEN_RESOLUTION_MS)) {
      cached.lastSeenWrittenAt = seen.at.getTime();
      if (newDownlinkUrl) cached.downlinkUrl = newDownlinkUrl;
      await this.prisma.pool.query({
        name: 'device-seen',
        text: 'UPDATE devices SET last_seen_at = COALESCE($2, last_seen_at), downlink_url = COALESCE($3, downlink_url) WHERE id = $1',
        values: [cached.ref.id, seen.fromDevice ? seen.at : null, newDownlinkUrl ?? null],
      });
    }
    return cached.ref;
  }

  /** Called when a device changes or goes away, so the next event reads it again. */
  forget(connectionId: string, externalId: string): void {
    this.cache.delete(`${connectionId}\u0000${externalId}`);
  }
}

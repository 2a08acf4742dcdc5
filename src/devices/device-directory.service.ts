import { Injectable } from '@nestjs/common';
import { uuid7 } from '../common/uuid7';
import { PrismaService } from '../database/prisma.service';
import type { DeviceIdentity, NormalizedEvent } from '../events/normalized-event';

export type DeviceRef = NormalizedEvent['device'];

interface CachedDevice {
  ref: DeviceRef;
  downlinkUrl: string | null;
  expires: number;
}

interface DeviceRow {
  id: string;
  external_id: string;
  name: string | null;
  dev_eui: string | null;
  join_eui: string | null;
  downlink_url: string | null;
}

const CACHE_TTL_MS = 60_000;

/**
 * Finds the registry's device for an event, registering a device never seen before
 * (`origin: "discovered"`) so that no event is dropped for an unknown device. On the ingest hot
 * path, so it caches and uses plain pg.
 */
@Injectable()
export class DeviceDirectory {
  private readonly cache = new Map<string, CachedDevice>();

  constructor(private readonly prisma: PrismaService) {}

  /** `downlinkUrl`: Helium's, from the device's latest uplink. Last-seen state is the DeviceStateRecorder's. */
  async resolve(connectionId: string, identity: DeviceIdentity, downlinkUrl?: string | null): Promise<DeviceRef> {
    const key = `${connectionId}\u0000${identity.externalId}`;
    let cached = this.cache.get(key);
    if (!cached || cached.expires < Date.now()) {
      // The no-op DO UPDATE makes RETURNING give the existing row too.
      const { rows } = await this.prisma.pool.query<DeviceRow>({
        name: 'resolve-device',
        text: `INSERT INTO devices (id, connection_id, external_id, name, dev_eui, join_eui, origin, downlink_url, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6, 'discovered', $7, now())
               ON CONFLICT (connection_id, external_id) DO UPDATE SET external_id = EXCLUDED.external_id
               RETURNING id, external_id, name, dev_eui, join_eui, downlink_url`,
        values: [uuid7(), connectionId, identity.externalId, identity.name ?? null, identity.devEui ?? null, identity.joinEui ?? null, downlinkUrl ?? null],
      });
      const row = rows[0];
      cached = {
        ref: { id: row.id, externalId: row.external_id, name: row.name, devEui: row.dev_eui, joinEui: row.join_eui },
        downlinkUrl: row.downlink_url,
        expires: Date.now() + CACHE_TTL_MS,
      };
      this.cache.set(key, cached);
    }
    if (downlinkUrl && downlinkUrl !== cached.downlinkUrl) {
      cached.downlinkUrl = downlinkUrl;
      await this.prisma.pool.query({ name: 'device-downlink-url', text: 'UPDATE devices SET downlink_url = $2 WHERE id = $1', values: [cached.ref.id, downlinkUrl] });
    }
    return cached.ref;
  }

  /** Called when a device changes or goes away, so the next event reads it again. */
  forget(connectionId: string, externalId: string): void {
    this.cache.delete(`${connectionId}\u0000${externalId}`);
  }
}

import { Injectable } from '@nestjs/common';
import { CoalescingBatcher, ItemFailure } from '../common/coalescing-batcher';
import { uuid7 } from '../common/uuid7';
import { PrismaService } from '../database/prisma.service';
import type { DeviceIdentity, NormalizedEvent } from '../events/normalized-event';

export type DeviceRef = NormalizedEvent['device'];

interface CachedDevice {
  ref: DeviceRef;
  downlinkUrl: string | null;
  expires: number;
}

/** A device to find, or to register as discovered: the columns of its row if it is new. */
interface DeviceUpsert {
  id: string;
  connection_id: string;
  external_id: string;
  name: string | null;
  dev_eui: string | null;
  join_eui: string | null;
  downlink_url: string | null;
}

interface DeviceRow {
  id: string;
  connection_id: string;
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
 * path, so it caches, uses plain pg, and finds the devices of concurrent events in one statement
 * (after a start every device is a first sighting).
 */
@Injectable()
export class DeviceDirectory {
  private readonly cache = new Map<string, CachedDevice>();
  private readonly upserts = new CoalescingBatcher<DeviceUpsert, DeviceRow>((devices) => this.upsertBatch(devices));

  constructor(private readonly prisma: PrismaService) {}

  /** `downlinkUrl`: Helium's, from the device's latest uplink. Last-seen state is the DeviceStateRecorder's. */
  async resolve(connectionId: string, identity: DeviceIdentity, downlinkUrl?: string | null): Promise<DeviceRef> {
    const key = keyOf(connectionId, identity.externalId);
    let cached = this.cache.get(key);
    if (!cached || cached.expires < Date.now()) {
      const row = await this.upserts.push({
        id: uuid7(),
        connection_id: connectionId,
        external_id: identity.externalId,
        name: identity.name ?? null,
        dev_eui: identity.devEui ?? null,
        join_eui: identity.joinEui ?? null,
        downlink_url: downlinkUrl ?? null,
      });
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
    this.cache.delete(keyOf(connectionId, externalId));
  }

  private async upsertBatch(devices: DeviceUpsert[]): Promise<Array<DeviceRow | ItemFailure>> {
    // A statement may upsert a row once: one entry per device, the first asked for (as when each
    // went alone, the first insert won).
    const unique = new Map<string, DeviceUpsert>();
    for (const device of devices) {
      const key = keyOf(device.connection_id, device.external_id);
      if (!unique.has(key)) unique.set(key, device);
    }
    const rows = [...unique.values()];
    let found: Map<string, DeviceRow | ItemFailure>;
    try {
      found = byKey(await this.upsertMany(rows));
    } catch (error) {
      // One device Postgres refuses (its connection just deleted) must not fail the others.
      if (rows.length === 1 || !/^2[23]/.test((error as { code?: string })?.code ?? '')) throw error;
      found = new Map();
      for (const row of rows) {
        const key = keyOf(row.connection_id, row.external_id);
        found.set(key, await this.upsertMany([row]).then((returned) => returned[0], (failure: unknown) => new ItemFailure(failure)));
      }
    }
    return devices.map((device) => found.get(keyOf(device.connection_id, device.external_id)) ?? new ItemFailure(new Error(`device ${device.external_id} was not returned`)));
  }

  private async upsertMany(rows: DeviceUpsert[]): Promise<DeviceRow[]> {
    // The no-op DO UPDATE makes RETURNING give the existing rows too. Ordered, so that concurrent
    // processes lock new devices in one order.
    const { rows: returned } = await this.prisma.pool.query<DeviceRow>({
      name: 'resolve-devices',
      text: `INSERT INTO devices (id, connection_id, external_id, name, dev_eui, join_eui, origin, downlink_url, updated_at)
             SELECT id, connection_id, external_id, name, dev_eui, join_eui, 'discovered', downlink_url, now()
             FROM jsonb_to_recordset($1::jsonb) AS d(id uuid, connection_id text, external_id text, name text,
                  dev_eui text, join_eui text, downlink_url text)
             ORDER BY connection_id, external_id
             ON CONFLICT (connection_id, external_id) DO UPDATE SET external_id = EXCLUDED.external_id
             RETURNING id, connection_id, external_id, name, dev_eui, join_eui, downlink_url`,
      values: [JSON.stringify(rows)],
    });
    return returned;
  }
}

function keyOf(connectionId: string, externalId: string): string {
  return `${connectionId}\u0000${externalId}`;
}

function byKey(rows: DeviceRow[]): Map<string, DeviceRow> {
  return new Map(rows.map((row) => [keyOf(row.connection_id, row.external_id), row]));
}

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

interface DeviceRow {
  id: string;
  external_id: string;
  name: string | null;
  dev_eui: string | null;
  join_eui: string | null;
  downlink_url: string | null;
}

const CACHE_TTL_MS = 60_000;

/** A device an event names, to be found in the registry or registered. */
interface Sighting {
  connectionId: string;
  identity: DeviceIdentity;
  downlinkUrl: string | null;
}

/**
 * Finds the registry's device for an event, registering a device never seen before
 * (`origin: "discovered"`) so that no event is dropped for an unknown device. On the ingest hot
 * path, so it caches and uses plain pg; the devices not in the cache, at a start every device,
 * are looked up together: one statement per batch of concurrent requests, and one per device
 * however many of its events arrive meanwhile.
 */
@Injectable()
export class DeviceDirectory {
  private readonly cache = new Map<string, CachedDevice>();
  private readonly loading = new Map<string, Promise<CachedDevice>>();
  private readonly registrar = new CoalescingBatcher<Sighting, DeviceRow>((sightings) => this.registerBatch(sightings));

  constructor(private readonly prisma: PrismaService) {}

  /** `downlinkUrl`: Helium's, from the device's latest uplink. Last-seen state is the DeviceStateRecorder's. */
  async resolve(connectionId: string, identity: DeviceIdentity, downlinkUrl?: string | null): Promise<DeviceRef> {
    const key = cacheKey(connectionId, identity.externalId);
    let cached = this.cache.get(key);
    if (!cached || cached.expires < Date.now()) cached = await this.load(key, { connectionId, identity, downlinkUrl: downlinkUrl ?? null });
    if (downlinkUrl && downlinkUrl !== cached.downlinkUrl) {
      cached.downlinkUrl = downlinkUrl;
      await this.prisma.pool.query({ name: 'device-downlink-url', text: 'UPDATE devices SET downlink_url = $2 WHERE id = $1', values: [cached.ref.id, downlinkUrl] });
    }
    return cached.ref;
  }

  /** Called when a device changes or goes away, so the next event reads it again. */
  forget(connectionId: string, externalId: string): void {
    const key = cacheKey(connectionId, externalId);
    this.cache.delete(key);
    this.loading.delete(key);
  }

  private load(key: string, sighting: Sighting): Promise<CachedDevice> {
    const loading = this.loading.get(key);
    if (loading) return loading;
    const load: Promise<CachedDevice> = this.registrar
      .push(sighting)
      .then((row) => {
        const cached = {
          ref: { id: row.id, externalId: row.external_id, name: row.name, devEui: row.dev_eui, joinEui: row.join_eui },
          downlinkUrl: row.downlink_url,
          expires: Date.now() + CACHE_TTL_MS,
        };
        if (this.loading.get(key) === load) this.cache.set(key, cached);
        return cached;
      })
      .finally(() => {
        if (this.loading.get(key) === load) this.loading.delete(key);
      });
    this.loading.set(key, load);
    return load;
  }

  private async registerBatch(sightings: Sighting[]): Promise<Array<DeviceRow | ItemFailure>> {
    try {
      return await this.register(sightings);
    } catch (error) {
      // A row Postgres refuses must not fail other requests' devices: each goes alone then.
      if (sightings.length === 1 || !/^2[23]/.test((error as { code?: string })?.code ?? '')) throw error;
      const results: Array<DeviceRow | ItemFailure> = [];
      for (const sighting of sightings) results.push(await this.register([sighting]).then(([row]) => row, (failure: unknown) => new ItemFailure(failure)));
      return results;
    }
  }

  /**
   * Registers the devices not yet in the registry and reads the others, without locking a row:
   * a known device's row is only read, so other processes writing its state (each in its own
   * order) cannot deadlock with this. New devices go in key order, the order every process uses.
   */
  private async register(sightings: Sighting[]): Promise<Array<DeviceRow & { connection_id: string }>> {
    // One row per device: a device named twice in one statement would conflict with itself.
    const byKey = new Map(sightings.map((s) => [cacheKey(s.connectionId, s.identity.externalId), s]));
    const records = [...byKey].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, s]) => toRecord(s));
    const { rows } = await this.prisma.pool.query<DeviceRow & { connection_id: string }>({
      name: 'resolve-devices',
      text: `WITH sighted AS (
               SELECT * FROM jsonb_to_recordset($1::jsonb)
                 AS d(id uuid, connection_id text, external_id text, name text, dev_eui text, join_eui text, downlink_url text)
             ),
             registered AS (
               INSERT INTO devices (id, connection_id, external_id, name, dev_eui, join_eui, origin, downlink_url, updated_at)
               SELECT id, connection_id, external_id, name, dev_eui, join_eui, 'discovered', downlink_url, now() FROM sighted
               ON CONFLICT (connection_id, external_id) DO NOTHING
               RETURNING ${DEVICE_COLUMNS}
             )
             SELECT ${DEVICE_COLUMNS} FROM devices JOIN sighted USING (connection_id, external_id)
             UNION ALL
             SELECT * FROM registered`,
      values: [JSON.stringify(records)],
    });
    // Last wins: a device deleted while this ran is read from before, and registered anew.
    const found = new Map(rows.map((row) => [cacheKey(row.connection_id, row.external_id), row]));
    // Registered by another process since this statement began: committed now, so the next statement sees it.
    const missing = [...byKey].filter(([key]) => !found.has(key)).map(([, sighting]) => sighting);
    if (missing.length) for (const row of await this.register(missing)) found.set(cacheKey(row.connection_id, row.external_id), row);
    return sightings.map((s) => found.get(cacheKey(s.connectionId, s.identity.externalId))!);
  }
}

const DEVICE_COLUMNS = 'devices.id, devices.connection_id, devices.external_id, devices.name, devices.dev_eui, devices.join_eui, devices.downlink_url';

function cacheKey(connectionId: string, externalId: string): string {
  return `${connectionId}\u0000${externalId}`;
}

function toRecord({ connectionId, identity, downlinkUrl }: Sighting) {
  return {
    id: uuid7(),
    connection_id: connectionId,
    external_id: identity.externalId,
    name: identity.name ?? null,
    dev_eui: identity.devEui ?? null,
    join_eui: identity.joinEui ?? null,
    downlink_url: downlinkUrl,
  };
}

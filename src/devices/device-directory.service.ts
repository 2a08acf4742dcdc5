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
      return await this.registerMany(sightings);
    } catch (error) {
      // A row Postgres refuses must not fail other requests' devices: each goes alone then.
      if (sightings.length === 1 || !/^2[23]/.test((error as { code?: string })?.code ?? '')) throw error;
      const results: Array<DeviceRow | ItemFailure> = [];
      for (const sighting of sightings) results.push(await this.registerOne(sighting).catch((failure: unknown) => new ItemFailure(failure)));
      return results;
    }
  }

  /** The no-op DO UPDATE makes RETURNING give the existing rows too. */
  private async registerMany(sightings: Sighting[]): Promise<DeviceRow[]> {
    if (sightings.length === 1) return [await this.registerOne(sightings[0])];
    // ON CONFLICT cannot touch a row twice in one statement: one row per device.
    const byKey = new Map(sightings.map((s) => [cacheKey(s.connectionId, s.identity.externalId), s]));
    const { rows } = await this.prisma.pool.query<DeviceRow & { connection_id: string }>({
      name: 'resolve-devices',
      text: `INSERT INTO devices (id, connection_id, external_id, name, dev_eui, join_eui, origin, downlink_url, updated_at)
             SELECT id, connection_id, external_id, name, dev_eui, join_eui, 'discovered', downlink_url, now()
             FROM jsonb_to_recordset($1::jsonb) AS d(id uuid, connection_id text, external_id text, name text, dev_eui text, join_eui text, downlink_url text)
             ON CONFLICT (connection_id, external_id) DO UPDATE SET external_id = EXCLUDED.external_id
             RETURNING id, connection_id, external_id, name, dev_eui, join_eui, downlink_url`,
      values: [JSON.stringify([...byKey.values()].map(toRecord))],
    });
    const found = new Map(rows.map((row) => [cacheKey(row.connection_id, row.external_id), row]));
    return sightings.map((s) => found.get(cacheKey(s.connectionId, s.identity.externalId))!);
  }

  private async registerOne(sighting: Sighting): Promise<DeviceRow> {
    const r = toRecord(sighting);
    const { rows } = await this.prisma.pool.query<DeviceRow>({
      name: 'resolve-device',
      text: `INSERT INTO devices (id, connection_id, external_id, name, dev_eui, join_eui, origin, downlink_url, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'discovered', $7, now())
             ON CONFLICT (connection_id, external_id) DO UPDATE SET external_id = EXCLUDED.external_id
             RETURNING id, external_id, name, dev_eui, join_eui, downlink_url`,
      values: [r.id, r.connection_id, r.external_id, r.name, r.dev_eui, r.join_eui, r.downlink_url],
    });
    return rows[0];
  }
}

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

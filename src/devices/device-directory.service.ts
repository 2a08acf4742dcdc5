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

const CACHE_TTL_MS = 60_000;
/** last_seen_at is kept to the minute: writing it on every uplink would double the write load. */
const LAST_SEEN_RESOLUTION_MS = 60_000;

/**
 * Finds the registry's device for an event, registering a device never seen before
 * (`origin: "discovered"`) so that no event is dropped for an unknown device.
 */
@Injectable()
export class DeviceDirectory {
  private readonly cache = new Map<string, CachedDevice>();

  constructor(private readonly prisma: PrismaService) {}

  async resolve(connectionId: string, identity: DeviceIdentity, seen: { at: Date; downlinkUrl?: string | null }): Promise<DeviceRef> {
    const key = `${connectionId}\u0000${identity.externalId}`;
    let cached = this.cache.get(key);
    if (!cached || cached.expires < Date.now()) {
      const row = await this.prisma.device.upsert({
        where: { connectionId_externalId: { connectionId, externalId: identity.externalId } },
        create: {
          id: uuid7(),
          connectionId,
          externalId: identity.externalId,
          name: identity.name ?? null,
          devEui: identity.devEui ?? null,
          joinEui: identity.joinEui ?? null,
          origin: 'discovered',
          lastSeenAt: seen.at,
          downlinkUrl: seen.downlinkUrl ?? null,
        },
        update: {},
      });
      cached = {
        ref: { id: row.id, externalId: row.externalId, name: row.name, devEui: row.devEui, joinEui: row.joinEui },
        downlinkUrl: row.downlinkUrl,
        lastSeenWrittenAt: row.lastSeenAt?.getTime() ?? 0,
        expires: Date.now() + CACHE_TTL_MS,
      };
      this.cache.set(key, cached);
    }
    const newDownlinkUrl = seen.downlinkUrl && seen.downlinkUrl !== cached.downlinkUrl ? seen.downlinkUrl : undefined;
    if (newDownlinkUrl || seen.at.getTime() - cached.lastSeenWrittenAt > LAST_SEEN_RESOLUTION_MS) {
      cached.lastSeenWrittenAt = seen.at.getTime();
      if (newDownlinkUrl) cached.downlinkUrl = newDownlinkUrl;
      await this.prisma.device.update({
        where: { id: cached.ref.id },
        data: { lastSeenAt: seen.at, ...(newDownlinkUrl ? { downlinkUrl: newDownlinkUrl } : {}) },
      });
    }
    return cached.ref;
  }

  /** Called when a device changes or goes away, so the next event reads it again. */
  forget(connectionId: string, externalId: string): void {
    this.cache.delete(`${connectionId}\u0000${externalId}`);
  }
}

import { Injectable } from '@nestjs/common';
import type { OpenConnection } from '../connections/connections.service';
import { PrismaService } from '../database/prisma.service';
import type { DeviceRef } from '../devices/device-directory.service';
import type { EventType } from '../events/normalized-event';
import { Downlink } from '../generated/prisma/client';
import { IngestService } from '../ingest/ingest.service';

export type DownlinkState = 'queued' | 'sent' | 'acked' | 'failed';

/** Downlinks and their lifecycle: every state change is also a `downlink.*` event (SPEC §7). */
@Injectable()
export class DownlinksService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly ingest: IngestService,
  ) {}

  /**
   * Sigfox BIDIR: the device's oldest queued downlink, now `sent`. SKIP LOCKED lets two callbacks
   * of one message (duplicates from two base stations) never hand out the same downlink twice.
   */
  async takeNextQueued(connection: OpenConnection, device: DeviceRef): Promise<Downlink | null> {
    const [taken] = await this.prisma.$queryRaw<Array<{ id: string }>>`
      UPDATE downlinks SET state = 'sent', sent_at = now(), updated_at = now()
      WHERE id = (SELECT id FROM downlinks WHERE device_id = ${device.id}::uuid AND state = 'queued'
                  ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
      RETURNING id`;
    if (!taken) return null;
    const downlink = await this.prisma.downlink.findUniqueOrThrow({ where: { id: taken.id } });
    await this.emit(connection, device, downlink, 'downlink.sent', null);
    return downlink;
  }

  /** The device's latest `sent` downlink, settled by a network acknowledgement; null if none is waiting. */
  async settleLatestSent(deviceId: string, outcome: 'acked' | 'failed', info: string | null): Promise<Downlink | null> {
    const latest = await this.prisma.downlink.findFirst({ where: { deviceId, state: 'sent' }, orderBy: { sentAt: 'desc' } });
    if (!latest) return null;
    return this.prisma.downlink.update({ where: { id: latest.id }, data: { state: outcome, error: outcome === 'failed' ? info : null } });
  }

  /** Publishes a lifecycle event like any other event: stored, deduplicated, fanned out. */
  async emit(connection: OpenConnection, device: DeviceRef, downlink: Downlink, type: EventType, info: string | null): Promise<void> {
    await this.ingest.accept(connection, [
      {
        type,
        dedupKey: `downlink:${downlink.id}:${type}`,
        device: { externalId: device.externalId },
        time: new Date().toISOString(),
        uplink: null,
        radio: null,
        status: null,
        ack: { downlinkId: downlink.id, info },
        location: null,
        raw: { downlinkId: downlink.id, port: downlink.port, payloadHex: downlink.payloadHex, confirmed: downlink.confirmed, state: downlink.state },
      },
    ]);
  }
}

import { Injectable } from '@nestjs/common';
import { CoalescingBatcher } from '../common/coalescing-batcher';
import type { OpenConnection } from '../connections/connections.service';
import { PrismaService } from '../database/prisma.service';
import type { DeviceRef } from '../devices/device-directory.service';
import { DownlinkFacts, DownlinkLifecycle, DownlinkState } from './downlink-lifecycle.service';

interface DeviceKey {
  connectionId: string;
  externalId: string;
}

interface TakenRow {
  id: string;
  port: number | null;
  payload_hex: string;
  confirmed: boolean;
  state: DownlinkState;
}

/**
 * Downlinks that the network collects itself (Sigfox: the answer to a BIDIR callback) and settles
 * by an acknowledgement. On a callback's answer path, which Sigfox bounds: plain pg, prepared.
 */
@Injectable()
export class DownlinkCollection {
  /** Most devices have nothing queued: concurrent callbacks ask about theirs in one round trip. */
  private readonly queuedChecks = new CoalescingBatcher<DeviceKey, boolean>((keys) => this.queuedAmong(keys));

  constructor(
    private readonly prisma: PrismaService,
    private readonly lifecycle: DownlinkLifecycle,
  ) {}

  /**
   * Whether the device has a queued downlink, read after this call (so it sees every downlink
   * committed before it). By external id: it may be asked before the callback's uplink is stored.
   */
  hasQueued(connectionId: string, externalId: string): Promise<boolean> {
    return this.queuedChecks.push({ connectionId, externalId });
  }

  /**
   * The device's oldest queued downlink, now `sent`. SKIP LOCKED lets two callbacks of one message
   * (duplicates from two base stations) never hand out the same downlink twice.
   */
  async takeNext(connection: OpenConnection, device: DeviceRef): Promise<DownlinkFacts | null> {
    const { rows } = await this.prisma.pool.query<TakenRow>({
      name: 'take-next-queued-downlink',
      text: `UPDATE downlinks SET state = 'sent', sent_at = now(), updated_at = now()
             WHERE id = (SELECT id FROM downlinks WHERE device_id = $1 AND state = 'queued'
                         ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING id, port, payload_hex, confirmed, state`,
      values: [device.id],
    });
    if (!rows[0]) return null;
    const { payload_hex: payloadHex, ...row } = rows[0];
    const downlink = { ...row, payloadHex };
    await this.lifecycle.emit(connection, device, downlink, 'downlink.sent', null);
    return downlink;
  }

  /** The device's latest `sent` downlink, settled by a network acknowledgement; null if none is waiting. */
  async settleLatestSent(connectionId: string, externalId: string, outcome: 'acked' | 'failed', info: string | null): Promise<{ id: string } | null> {
    const { rows } = await this.prisma.pool.query<{ id: string }>({
      name: 'settle-latest-sent-downlink',
      text: `UPDATE downlinks SET state = $3, error = $4, updated_at = now()
             WHERE id = (SELECT q.id FROM downlinks q JOIN devices d ON d.id = q.device_id
                         WHERE d.connection_id = $1 AND d.external_id = $2 AND q.state = 'sent'
                         ORDER BY q.sent_at DESC LIMIT 1 FOR UPDATE OF q)
             RETURNING id`,
      values: [connectionId, externalId, outcome, outcome === 'failed' ? info : null],
    });
    return rows[0] ?? null;
  }

  private async queuedAmong(keys: DeviceKey[]): Promise<boolean[]> {
    const { rows } = await this.prisma.pool.query<{ connection_id: string; external_id: string }>({
      name: 'devices-with-queued-downlinks',
      text: `SELECT k.connection_id, k.external_id FROM unnest($1::text[], $2::text[]) AS k(connection_id, external_id)
             WHERE EXISTS (SELECT 1 FROM devices d JOIN downlinks q ON q.device_id = d.id
                           WHERE d.connection_id = k.connection_id AND d.external_id = k.external_id AND q.state = 'queued')`,
      values: [keys.map((key) => key.connectionId), keys.map((key) => key.externalId)],
    });
    const queued = new Set(rows.map((row) => `${row.connection_id}\u0000${row.external_id}`));
    return keys.map((key) => queued.has(`${key.connectionId}\u0000${key.externalId}`));
  }
}

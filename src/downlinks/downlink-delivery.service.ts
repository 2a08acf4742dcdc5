import { Injectable } from '@nestjs/common';
import type { OpenConnection } from '../connections/connections.service';
import { ConnectionsService } from '../connections/connections.service';
import { PrismaService } from '../database/prisma.service';
import type { EventType } from '../events/normalized-event';
import { Device, Downlink } from '../generated/prisma/client';
import { NetworkRegistry } from '../networks/network-registry';
import { DownlinkLifecycle, deviceRefOf, NETWORK_OUTCOMES } from './downlink-lifecycle.service';
import { networkOf } from './downlink-network';
import { DownlinkRejected } from './downlink-sender';

/** Handing queued downlinks to the networks that take them by push (the `downlinks` queue's jobs). */
@Injectable()
export class DownlinkDelivery {
  constructor(
    private readonly prisma: PrismaService,
    private readonly lifecycle: DownlinkLifecycle,
    private readonly connections: ConnectionsService,
    private readonly networks: NetworkRegistry,
  ) {}

  /**
   * Hands a queued downlink to its network. `done` when the downlink is settled (sent, or failed for
   * good); `wait` while an earlier downlink of the device is still on its way, so that the network
   * gets a device's downlinks in the order they were asked for. Throws to have the queue retry it.
   */
  async deliver(downlinkId: string, lastAttempt: boolean): Promise<'done' | 'wait'> {
    const downlink = await this.prisma.downlink.findUnique({ where: { id: downlinkId }, include: { device: true } });
    if (!downlink) return 'done';
    const { device, ...row } = downlink;
    const { connection, sender } = await networkOf(this.connections, this.networks, device);
    if (row.state !== 'queued') {
      // A retry after its event could not be stored; storing it again is a no-op if it was.
      if (row.state === 'sent' || row.state === 'failed') await this.lifecycle.emit(connection, deviceRefOf(device), row, `downlink.${row.state}`, row.error);
      return 'done';
    }
    // Handed over already: the network's queue has it, and the network's events settle it.
    if (!sender.send || row.networkRef) return 'done';
    const earlier = await this.prisma.downlink.findFirst({
      where: { deviceId: device.id, state: 'queued', networkRef: null, id: { lt: row.id } },
      select: { id: true },
    });
    if (earlier) return 'wait';
    let accepted: void | { networkRef: string };
    try {
      accepted = await sender.send({ connection, device, downlink: row });
    } catch (error) {
      if (!(error instanceof DownlinkRejected) && !lastAttempt) throw error;
      const failed = await this.lifecycle.transition(row.id, ['queued'], 'failed', { error: (error as Error).message });
      if (failed) await this.lifecycle.emit(connection, deviceRefOf(device), failed, 'downlink.failed', failed.error);
      return 'done';
    }
    if (accepted) {
      await this.prisma.downlink.update({ where: { id: row.id }, data: { networkRef: accepted.networkRef } });
      await this.settleFromEarlierReports(connection, device, row, accepted.networkRef);
      return 'done';
    }
    const sent = await this.lifecycle.transition(row.id, ['queued'], 'sent', { sentAt: new Date() });
    if (sent) await this.lifecycle.emit(connection, deviceRefOf(device), sent, 'downlink.sent', null);
    return 'done';
  }

  /** Downlinks of push networks still `queued` long after they were made: their job was lost (Redis down). */
  async findStranded(olderThanMs: number, limit: number): Promise<string[]> {
    const pushNetworks = this.networks.networks().filter((network) => this.networks.get(network).downlinks?.send);
    const rows = await this.prisma.downlink.findMany({
      where: {
        state: 'queued',
        networkRef: null,
        createdAt: { lt: new Date(Date.now() - olderThanMs) },
        device: { connection: { network: { in: pushNetworks } } },
      },
      select: { id: true },
      orderBy: { createdAt: 'asc' },
      take: limit,
    });
    return rows.map((row) => row.id);
  }

  /**
   * The network's reports about a downlink that were stored before its reference was (ChirpStack
   * may send a class C downlink's txack before its Enqueue answer is in): they settle it now.
   */
  private async settleFromEarlierReports(connection: OpenConnection, device: Device, downlink: Downlink, networkRef: string): Promise<void> {
    const reports = await this.prisma.$queryRaw<Array<{ type: EventType; info: string | null }>>`
      SELECT type, body->'ack'->>'info' AS info FROM events
      WHERE device_id = ${device.id}::uuid AND id > ${downlink.id}::uuid AND type LIKE 'downlink.%'
        AND body->'ack'->>'downlinkId' = ${networkRef}
      ORDER BY id`;
    for (const report of reports) {
      const outcome = NETWORK_OUTCOMES[report.type];
      if (!outcome?.to) continue;
      const moved = await this.lifecycle.transition(downlink.id, outcome.from, outcome.to, {
        error: outcome.to === 'failed' ? report.info : null,
        ...(outcome.to === 'sent' ? { sentAt: new Date() } : {}),
      });
      if (moved) await this.lifecycle.emit(connection, deviceRefOf(device), moved, report.type, report.info);
    }
  }
}

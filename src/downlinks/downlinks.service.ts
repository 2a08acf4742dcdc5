import { BadRequestException, Injectable, NotFoundException, OnModuleInit } from '@nestjs/common';
import { z } from 'zod';
import { CodecsService } from '../codecs/codecs.service';
import { hexToBase64 } from '../common/bytes';
import { Page } from '../common/pagination';
import { uuid7 } from '../common/uuid7';
import { ConnectionsService, type OpenConnection } from '../connections/connections.service';
import { PrismaService } from '../database/prisma.service';
import type { DeviceRef } from '../devices/device-directory.service';
import type { EventType, IncomingEvent, Network } from '../events/normalized-event';
import { Device, Downlink } from '../generated/prisma/client';
import { IngestService } from '../ingest/ingest.service';
import { NetworkRegistry } from '../networks/network-registry';
import { DownlinkCommand } from './downlink.schema';
import { DownlinkQueue } from './downlink-queue.service';
import { DownlinkRejected, DownlinkSender } from './downlink-sender';

export type DownlinkState = 'queued' | 'sent' | 'acked' | 'failed';

/** A downlink as the API answers it. */
export interface DownlinkView {
  id: string;
  deviceId: string;
  port: number | null;
  payloadHex: string;
  payloadBase64: string;
  confirmed: boolean;
  state: DownlinkState;
  error: string | null;
  createdAt: Date;
  sentAt: Date | null;
}

/**
 * What a network's own downlink event does to the bridge downlink it names: the states it may move
 * it from, and to. `failed → acked`: TTS queues a nacked downlink again and the retry may be acked.
 */
const NETWORK_OUTCOMES: Partial<Record<EventType, { from: DownlinkState[]; to: DownlinkState | null }>> = {
  'downlink.queued': { from: [], to: null },
  'downlink.sent': { from: ['queued'], to: 'sent' },
  'downlink.acked': { from: ['queued', 'sent', 'failed'], to: 'acked' },
  'downlink.failed': { from: ['queued', 'sent'], to: 'failed' },
};

const isUuid = (value: string) => z.uuid().safeParse(value).success;

/** Downlinks and their lifecycle: every state change is also a `downlink.*` event (SPEC §7). */
@Injectable()
export class DownlinksService implements OnModuleInit {
  constructor(
    private readonly prisma: PrismaService,
    private readonly ingest: IngestService,
    private readonly connections: ConnectionsService,
    private readonly networks: NetworkRegistry,
    private readonly queue: DownlinkQueue,
    private readonly codecs: CodecsService,
  ) {}

  onModuleInit(): void {
    this.ingest.intercept((connection, events) => this.adoptNetworkEvents(connection, events));
  }

  /** REST: a downlink for a device of the registry. 404 unknown device, 400 against the network's rules. */
  async create(deviceId: string, command: DownlinkCommand): Promise<DownlinkView> {
    const device = await this.prisma.device.findUnique({ where: { id: deviceId } });
    if (!device) throw new NotFoundException(`device "${deviceId}" not found`);
    return present(await this.queueFor(device, command));
  }

  async list(deviceId: string, cursor: string | undefined, limit: number): Promise<Page<DownlinkView>> {
    const device = await this.prisma.device.findUnique({ where: { id: deviceId }, select: { id: true } });
    if (!device) throw new NotFoundException(`device "${deviceId}" not found`);
    // Ids are UUIDv7: id order is creation order and a stable cursor.
    const rows = await this.prisma.downlink.findMany({
      where: { deviceId, id: cursor ? { lt: cursor } : undefined },
      orderBy: { id: 'desc' },
      take: limit + 1,
    });
    const page = rows.slice(0, limit);
    return { data: page.map(present), nextCursor: rows.length > limit ? page[page.length - 1].id : null };
  }

  /** The devices of a network with this external id (MQTT commands name a device so); several connections may share one. */
  async devicesFor(network: Network, externalId: string, connectionId?: string): Promise<Device[]> {
    return this.prisma.device.findMany({
      where: { externalId: externalId.toUpperCase(), connectionId, connection: { network } },
      take: 2,
    });
  }

  /**
   * Checks the command against the device's network, stores it `queued` (a `downlink.queued` event)
   * and, where the network takes downlinks by push, puts it on the `downlinks` queue. Refusals
   * are BadRequestException naming the field.
   */
  async queueFor(device: Device, command: DownlinkCommand): Promise<Downlink> {
    const { connection, sender } = await this.networkOf(device);
    const field = command.data !== undefined ? 'data' : command.payloadHex !== undefined ? 'payloadHex' : 'payloadBase64';
    const { payload, port } = command.data !== undefined ? await this.encode(connection, device, command) : { payload: payloadOf(command), port: command.port };
    const problem = sender.validate({ port, payload });
    if (problem) throw new BadRequestException(`${problem.field === 'payload' ? field : 'port'}: ${problem.message}`);
    const downlink = await this.prisma.downlink.create({
      data: {
        id: uuid7(),
        deviceId: device.id,
        connectionId: connection.id,
        port: sender.usesPort ? (port ?? null) : null,
        payloadHex: payload.toString('hex'),
        confirmed: command.confirmed,
        state: 'queued',
      },
    });
    await this.emit(connection, deviceRefOf(device), downlink, 'downlink.queued', null);
    if (sender.send) this.queue.enqueueInBackground(downlink.id);
    return downlink;
  }

  /**
   * `{ "data": … }`: the device's codec (else its connection's) makes the bytes, and the port unless
   * it gives none, then the command's `port` applies. Its errors refuse the downlink.
   */
  private async encode(connection: OpenConnection, device: Device, command: DownlinkCommand): Promise<{ payload: Buffer; port: number | undefined }> {
    const codecId = device.codecId ?? (connection.settings.codecId as string | undefined);
    const codec = codecId ? await this.codecs.current(codecId) : null;
    if (!codec) throw new BadRequestException('data: the device has no codec to encode it (give payloadHex or payloadBase64)');
    const encoding = await this.codecs.encode(codec, command.data);
    if (!encoding.ok) throw new BadRequestException(`data: codec "${codec.id}" refused it: ${encoding.errors.join('; ')}`);
    return { payload: Buffer.from(encoding.bytes), port: encoding.fPort ?? command.port };
  }

  /**
   * A command that could not be queued (bad JSON, against the rules) becomes an `error` event of
   * the device: over MQTT there is no answer to carry a 400, and this is where its publisher looks.
   */
  async reportRefusedCommand(device: Device, reason: string, raw: unknown): Promise<void> {
    const connection = await this.connections.open(device.connectionId);
    if (!connection) return;
    await this.ingest.accept(connection, [
      {
        type: 'error',
        dedupKey: `downlink-command:${uuid7()}`,
        device: { externalId: device.externalId },
        time: new Date().toISOString(),
        uplink: null,
        radio: null,
        status: null,
        ack: { downlinkId: null, info: `downlink command refused: ${reason}` },
        location: null,
        raw,
      },
    ]);
  }

  /**
   * The `downlinks` queue's job: hands a queued downlink to its network. `done` when the downlink is
   * settled (sent, or failed for good); `wait` while an earlier downlink of the device is still on its
   * way, so that the network gets a device's downlinks in the order they were asked for. Throws to
   * have the queue retry it.
   */
  async deliver(downlinkId: string, lastAttempt: boolean): Promise<'done' | 'wait'> {
    const downlink = await this.prisma.downlink.findUnique({ where: { id: downlinkId }, include: { device: true } });
    if (!downlink) return 'done';
    const { device, ...row } = downlink;
    const { connection, sender } = await this.networkOf(device);
    if (row.state !== 'queued') {
      // A retry after its event could not be stored; storing it again is a no-op if it was.
      if (row.state === 'sent' || row.state === 'failed') await this.emit(connection, deviceRefOf(device), row, `downlink.${row.state}`, row.error);
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
      const failed = await this.transition(row.id, ['queued'], 'failed', { error: (error as Error).message });
      if (failed) await this.emit(connection, deviceRefOf(device), failed, 'downlink.failed', failed.error);
      return 'done';
    }
    if (accepted) {
      await this.prisma.downlink.update({ where: { id: row.id }, data: { networkRef: accepted.networkRef } });
      await this.settleFromEarlierReports(connection, device, row, accepted.networkRef);
      return 'done';
    }
    const sent = await this.transition(row.id, ['queued'], 'sent', { sentAt: new Date() });
    if (sent) await this.emit(connection, deviceRefOf(device), sent, 'downlink.sent', null);
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
        dedupKey: lifecycleDedupKey(downlink.id, type),
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

  /**
   * Runs before every ingest is stored. A network's own `downlink.*` event about one of the bridge's
   * downlinks (TTS hands back the correlation id the bridge gave it; ChirpStack names the queue item
   * its Enqueue answered) moves that downlink's state, and
   * becomes that downlink's lifecycle event: `ack.downlinkId` is the bridge's id and it shares the
   * dedup key of the bridge's own event of that type, so consumers see each lifecycle step once.
   */
  private async adoptNetworkEvents(connection: OpenConnection, events: IncomingEvent[]): Promise<IncomingEvent[]> {
    const sender = this.networks.has(connection.network) ? this.networks.get(connection.network).downlinks : undefined;
    if (!sender || !(sender.downlinkIdOf || sender.networkRefOf) || !events.some((event) => NETWORK_OUTCOMES[event.type])) return events;
    return Promise.all(
      events.map(async (event) => {
        const outcome = NETWORK_OUTCOMES[event.type];
        const downlink = outcome && (await this.downlinkNamedBy(connection.id, sender, event));
        if (!outcome || !downlink) return event;
        const downlinkId = downlink.id;
        const info = event.ack?.info ?? null;
        if (outcome.to) {
          await this.transition(downlinkId, outcome.from, outcome.to, {
            error: outcome.to === 'failed' ? info : null,
            ...(outcome.to === 'sent' ? { sentAt: new Date() } : {}),
          });
        }
        return { ...event, dedupKey: lifecycleDedupKey(downlinkId, event.type), ack: { downlinkId, info } };
      }),
    );
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
      const moved = await this.transition(downlink.id, outcome.from, outcome.to, {
        error: outcome.to === 'failed' ? report.info : null,
        ...(outcome.to === 'sent' ? { sentAt: new Date() } : {}),
      });
      if (moved) await this.emit(connection, deviceRefOf(device), moved, report.type, report.info);
    }
  }

  /** The bridge's downlink a network's event names, by the bridge's id or by the network's reference. */
  private async downlinkNamedBy(connectionId: string, sender: DownlinkSender, event: IncomingEvent): Promise<{ id: string } | null> {
    const downlinkId = sender.downlinkIdOf?.(event);
    if (downlinkId && isUuid(downlinkId)) return this.prisma.downlink.findFirst({ where: { id: downlinkId, connectionId }, select: { id: true } });
    const networkRef = sender.networkRefOf?.(event);
    return networkRef ? this.prisma.downlink.findFirst({ where: { networkRef, connectionId }, select: { id: true } }) : null;
  }

  /** Moves a downlink on only from one of `from`: whichever path gets there first wins, the others do nothing. */
  private async transition(id: string, from: DownlinkState[], to: DownlinkState, data: { error?: string | null; sentAt?: Date }): Promise<Downlink | null> {
    const [moved] = await this.prisma.downlink.updateManyAndReturn({ where: { id, state: { in: from } }, data: { state: to, ...data } });
    return moved ?? null;
  }

  private async networkOf(device: Device): Promise<{ connection: OpenConnection; sender: DownlinkSender }> {
    const connection = await this.connections.open(device.connectionId);
    if (!connection) throw new NotFoundException(`connection "${device.connectionId}" not found`);
    const sender = this.networks.get(connection.network).downlinks;
    if (!sender) throw new BadRequestException(`${connection.network} devices take no downlinks`);
    return { connection, sender };
  }
}

function payloadOf(command: DownlinkCommand): Buffer {
  return command.payloadHex !== undefined ? Buffer.from(command.payloadHex, 'hex') : Buffer.from(command.payloadBase64 ?? '', 'base64');
}

function lifecycleDedupKey(downlinkId: string, type: EventType): string {
  return `downlink:${downlinkId}:${type}`;
}

function deviceRefOf(device: Device): DeviceRef {
  return { id: device.id, externalId: device.externalId, name: device.name, devEui: device.devEui, joinEui: device.joinEui };
}

function present(downlink: Downlink): DownlinkView {
  return {
    id: downlink.id,
    deviceId: downlink.deviceId,
    port: downlink.port,
    payloadHex: downlink.payloadHex,
    payloadBase64: hexToBase64(downlink.payloadHex),
    confirmed: downlink.confirmed,
    state: downlink.state as DownlinkState,
    error: downlink.error,
    createdAt: downlink.createdAt,
    sentAt: downlink.sentAt,
  };
}

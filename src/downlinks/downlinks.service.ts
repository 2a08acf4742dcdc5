import { BadRequestException, Injectable, NotFoundException } from '@nestjs/common';
import { CodecsService } from '../codecs/codecs.service';
import { hexToBase64 } from '../common/bytes';
import { Page } from '../common/pagination';
import { uuid7 } from '../common/uuid7';
import { ConnectionsService, type OpenConnection } from '../connections/connections.service';
import { PrismaService } from '../database/prisma.service';
import type { Network } from '../events/normalized-event';
import { Device, Downlink } from '../generated/prisma/client';
import { IngestService } from '../ingest/ingest.service';
import { NetworkRegistry } from '../networks/network-registry';
import { DownlinkCommand } from './downlink.schema';
import { deviceRefOf, DownlinkLifecycle, DownlinkState } from './downlink-lifecycle.service';
import { networkOf } from './downlink-network';
import { DownlinkQueue } from './downlink-queue.service';

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
 * Downlinks asked for (REST, MQTT commands): checked against the network's rules, stored `queued`,
 * handed to the `downlinks` queue where the network takes them by push. Delivery is
 * DownlinkDelivery's, collection by the network DownlinkCollection's, state changes DownlinkLifecycle's.
 */
@Injectable()
export class DownlinksService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly ingest: IngestService,
    private readonly connections: ConnectionsService,
    private readonly networks: NetworkRegistry,
    private readonly queue: DownlinkQueue,
    private readonly codecs: CodecsService,
    private readonly lifecycle: DownlinkLifecycle,
  ) {}

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
    const { connection, sender } = await networkOf(this.connections, this.networks, device);
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
    await this.lifecycle.emit(connection, deviceRefOf(device), downlink, 'downlink.queued', null);
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
}

function payloadOf(command: DownlinkCommand): Buffer {
  return command.payloadHex !== undefined ? Buffer.from(command.payloadHex, 'hex') : Buffer.from(command.payloadBase64 ?? '', 'base64');
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

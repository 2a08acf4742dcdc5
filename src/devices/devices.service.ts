import { BadRequestException, ConflictException, HttpException, Injectable, NotFoundException, ServiceUnavailableException } from '@nestjs/common';
import { Page } from '../common/pagination';
import { SecretBox } from '../common/secret-box';
import { uuid7 } from '../common/uuid7';
import { parseOrBadRequest } from '../common/validation';
import { ConnectionsService, OpenConnection } from '../connections/connections.service';
import { PrismaService } from '../database/prisma.service';
import { Device, Prisma } from '../generated/prisma/client';
import { DeviceProvisioner, noSettingsPatch } from '../networks/device-provisioner';
import { NetworkRegistry } from '../networks/network-registry';
import { CreateDeviceInput, createDeviceSchema, ListDevicesQuery, UpdateDeviceInput } from './device.schema';
import { DeviceCodecs } from './device-codecs.service';
import { DeviceDirectory } from './device-directory.service';
import { DeviceSyncQueue, SyncRequest } from './device-sync.queue';
import { provisionedDevice } from './device-sync.service';
import { DeviceRow, DeviceView, presentDevice, WITH_NETWORK } from './device-view';

export type BulkResult = { index: number; status: 201; device: DeviceView } | { index: number; status: 400 | 409; error: string };

/** The device registry: stores at once, then hands network work to the `device-sync` queue. */
@Injectable()
export class DevicesService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly secrets: SecretBox,
    private readonly connections: ConnectionsService,
    private readonly networks: NetworkRegistry,
    private readonly directory: DeviceDirectory,
    private readonly sync: DeviceSyncQueue,
    private readonly codecs: DeviceCodecs,
  ) {}

  async create(input: CreateDeviceInput): Promise<DeviceView> {
    const row = await this.insert(input);
    await this.sync.enqueueOrDefer([this.syncRequest('create', row)]);
    if (hasOwnDecoding(row)) await this.codecs.refreshNow();
    return this.present(row);
  }

  /** Each device on its own: one refused does not stop the others. */
  async createMany(items: unknown[]): Promise<BulkResult[]> {
    const results: BulkResult[] = [];
    const created: DeviceRow[] = [];
    for (const [index, item] of items.entries()) {
      try {
        const row = await this.insert(parseOrBadRequest(createDeviceSchema, item));
        created.push(row);
        results.push({ index, status: 201, device: this.present(row) });
      } catch (error) {
        if (!(error instanceof BadRequestException || error instanceof ConflictException)) throw error;
        results.push({ index, status: error.getStatus() as 400 | 409, error: messageOf(error) });
      }
    }
    await this.sync.enqueueOrDefer(created.map((row) => this.syncRequest('create', row)));
    if (created.some(hasOwnDecoding)) await this.codecs.refreshNow();
    return results;
  }

  async list(query: ListDevicesQuery): Promise<Page<DeviceView>> {
    this.networks.requireKnown(query.network);
    const rows = await this.prisma.device.findMany({
      where: {
        connectionId: query.connectionId,
        // With the network named, its own spelling rules apply (a Sigfox id may come zero-padded).
        externalId: query.externalId && this.networks.canonicalExternalId(query.network, query.externalId),
        syncState: query.syncState,
        labels: query.label ? { has: query.label } : undefined,
        connection: query.network ? { network: query.network } : undefined,
        id: query.cursor ? { gt: query.cursor } : undefined,
        ...silenceFilter(query),
      },
      include: WITH_NETWORK,
      orderBy: { id: 'asc' },
      take: query.limit + 1,
    });
    const page = rows.slice(0, query.limit);
    return { data: page.map((row) => this.present(row)), nextCursor: rows.length > query.limit ? page[page.length - 1].id : null };
  }

  async get(id: string): Promise<DeviceView> {
    return this.present(await this.findRow(id));
  }

  /**
   * Name and active are what the networks see (and attributes, where the network keeps them): a
   * change to them is pushed to the network when the bridge manages the device there. Labels and
   * payloadConfig stay in the bridge.
   */
  async update(id: string, input: UpdateDeviceInput): Promise<DeviceView> {
    const row = await this.findRow(id);
    const { name, labels, attributes, active, codecId, codecOverrides, ...networkFields } = input;
    const provisioner = this.provisionerOf(row.connection.network);
    const settings = { ...(row.settings as Record<string, unknown>) };
    for (const [key, value] of Object.entries(parseOrBadRequest(provisioner?.settingsPatchSchema ?? noSettingsPatch, networkFields))) {
      if (value === null) delete settings[key];
      else if (value !== undefined) settings[key] = value;
    }
    const networkVisible =
      (name !== undefined && name !== row.name) ||
      (active !== undefined && active !== row.active) ||
      (provisioner?.attributesInNetwork === true && attributes !== undefined && JSON.stringify(attributes) !== JSON.stringify(row.attributes));
    // A failed device is retried with POST …/sync; a discovered one is not the bridge's to change in the network.
    const push = networkVisible && (row.syncState === 'synced' || row.syncState === 'pending');
    const updated = await this.prisma.device
      .update({
        where: { id },
        data: {
          name,
          labels,
          attributes: attributes as Prisma.InputJsonObject | undefined,
          active,
          codecId,
          codecOverrides,
          settings: settings as Prisma.InputJsonObject,
          ...(push ? { syncState: 'pending', syncError: null, syncAttempts: 0 } : {}),
        },
        include: WITH_NETWORK,
      })
      .catch((error: unknown) => {
        refuseUnknownCodec(error, codecId);
        throw error;
      });
    this.directory.forget(row.connectionId, row.externalId);
    if (codecId !== undefined || codecOverrides !== undefined || payloadConfigOf(row) !== payloadConfigOf(updated)) await this.codecs.refreshNow();
    if (push) await this.sync.enqueueOrDefer([this.syncRequest('update', updated)]);
    return this.present(updated);
  }

  /**
   * Removed from the bridge at once; removed from the network by a queued job when the bridge had
   * registered it there. The job is queued in the same transaction, so neither happens alone.
   */
  async remove(id: string): Promise<void> {
    const row = await this.findRow(id);
    await this.prisma.$transaction(async (tx) => {
      await tx.device.delete({ where: { id } });
      if (row.syncState === 'none' || !row.networkDeviceId) return;
      const { secrets: _secrets, ...device } = provisionedDevice(row, {});
      await this.sync.enqueue([{ ...this.syncRequest('delete', row), device }]).catch((error: Error) => {
        throw new ServiceUnavailableException(`the sync queue is unavailable (${error.message}); nothing was deleted, retry later`);
      });
    });
    this.directory.forget(row.connectionId, row.externalId);
    this.codecs.forget(row.connectionId, row.externalId);
  }

  /** Provisions the device again: registers it if it is not registered, else pushes its current state. */
  async resync(id: string): Promise<DeviceView> {
    const row = await this.findRow(id);
    if (row.syncState === 'none') {
      throw new ConflictException('this device was discovered from its events: the bridge does not manage it in the network');
    }
    const connection = await this.openConnection(row.connectionId);
    this.assertCanProvision(connection);
    const updated = await this.prisma.device.update({
      where: { id },
      data: { syncState: 'pending', syncError: null, syncAttempts: 0 },
      include: WITH_NETWORK,
    });
    await this.sync.enqueueOrDefer([this.syncRequest(row.networkDeviceId ? 'update' : 'create', updated)]);
    return this.present(updated);
  }

  present(row: DeviceRow): DeviceView {
    return presentDevice(row, this.provisionerOf(row.connection.network));
  }

  syncRequest(op: SyncRequest['op'], row: Device): SyncRequest {
    return { op, deviceId: row.id, connectionId: row.connectionId, externalId: row.externalId };
  }

  private async insert(input: CreateDeviceInput): Promise<DeviceRow> {
    const { connectionId, name, labels, attributes, active, codecId, codecOverrides, ...networkFields } = input;
    const connection = await this.connections.open(connectionId);
    if (!connection) throw new BadRequestException(`connectionId: no connection "${connectionId}"`);
    const provisioner = this.assertCanProvision(connection);
    const registration = parseOrBadRequest(provisioner.registrationSchema, networkFields);
    try {
      return await this.prisma.device.create({
        data: {
          id: uuid7(),
          connectionId,
          externalId: registration.externalId,
          name,
          devEui: registration.devEui,
          joinEui: registration.joinEui,
          origin: 'registered',
          labels,
          attributes,
          active,
          codecId: codecId ?? null,
          codecOverrides: codecOverrides ?? null,
          settings: registration.settings as Prisma.InputJsonObject,
          secrets: this.secrets.seal(registration.secrets),
          syncState: 'pending',
        },
        include: WITH_NETWORK,
      });
    } catch (error) {
      refuseUnknownCodec(error, codecId);
      if ((error as { code?: string }).code !== 'P2002') throw error;
      const existing = await this.prisma.device.findUnique({
        where: { connectionId_externalId: { connectionId, externalId: registration.externalId } },
        select: { id: true, origin: true },
      });
      const how = existing?.origin === 'discovered' ? ' (discovered from its events: delete it first to register it)' : '';
      throw new ConflictException(`device ${registration.externalId} already exists in connection "${connectionId}"${how}${existing ? `: ${existing.id}` : ''}`);
    }
  }

  private assertCanProvision(connection: OpenConnection): DeviceProvisioner {
    const provisioner = this.provisionerOf(connection.network);
    if (!provisioner) throw new BadRequestException(`connectionId: ${connection.network} devices cannot be registered through the bridge`);
    const missing = provisioner.missingSettings(connection.settings);
    if (missing) throw new BadRequestException(`connectionId: connection "${connection.id}" cannot register devices: ${missing}`);
    return provisioner;
  }

  private provisionerOf(network: string): DeviceProvisioner | undefined {
    return this.networks.has(network) ? this.networks.get(network).provisioner : undefined;
  }

  private async openConnection(id: string): Promise<OpenConnection> {
    const connection = await this.connections.open(id);
    if (!connection) throw new NotFoundException(`connection "${id}" not found`);
    return connection;
  }

  private async findRow(id: string): Promise<DeviceRow> {
    const row = await this.prisma.device.findUnique({ where: { id }, include: WITH_NETWORK });
    if (!row) throw new NotFoundException(`device "${id}" not found`);
    return row;
  }
}

/** The codecs table's foreign key refuses a codecId that names no codec: a 400. */
/** Whether ingest must know of the device (DeviceCodecs): a codec, or a Sigfox payload config, of its own. */
function hasOwnDecoding(row: Device): boolean {
  return row.codecId !== null || row.codecOverrides !== null || payloadConfigOf(row) !== undefined;
}

function payloadConfigOf(row: Device): unknown {
  return (row.settings as { payloadConfig?: unknown } | null)?.payloadConfig;
}

function refuseUnknownCodec(error: unknown, codecId: string | null | undefined): void {
  if ((error as { code?: string }).code === 'P2003' && codecId) throw new BadRequestException(`codecId: no codec "${codecId}"`);
}

function messageOf(error: HttpException): string {
  const response = error.getResponse();
  const message = typeof response === 'string' ? response : (response as { message?: unknown }).message;
  return Array.isArray(message) ? message.join('; ') : String(message ?? error.message);
}

/**
 * `seenBefore`: last seen before that time; `neverSeen=true` adds (or alone lists) the devices
 * never seen, `neverSeen=false` leaves them out.
 */
function silenceFilter(query: ListDevicesQuery): Prisma.DeviceWhereInput {
  const seenBefore = query.seenBefore ? { lastSeenAt: { lt: new Date(query.seenBefore) } } : undefined;
  if (query.neverSeen === true) return seenBefore ? { OR: [seenBefore, { lastSeenAt: null }] } : { lastSeenAt: null };
  if (query.neverSeen === false) return seenBefore ?? { lastSeenAt: { not: null } };
  return seenBefore ?? {};
}

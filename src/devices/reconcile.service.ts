import { BadGatewayException, BadRequestException, Injectable, NotFoundException } from '@nestjs/common';
import { SecretBox } from '../common/secret-box';
import { uuid7 } from '../common/uuid7';
import { ConnectionsService } from '../connections/connections.service';
import { PrismaService } from '../database/prisma.service';
import { Device, Prisma } from '../generated/prisma/client';
import type { NetworkDevice } from '../networks/device-provisioner';
import { NetworkError } from '../networks/http-client';
import { NetworkRegistry } from '../networks/network-registry';
import { DeviceSyncQueue } from './device-sync.queue';

export interface FieldDrift {
  bridge: unknown;
  network: unknown;
}

export interface Drift {
  onlyInNetwork: Array<{ externalId: string; networkId: string; name: string | null; devEui: string | null; joinEui: string | null }>;
  onlyInBridge: Array<{ id: string; externalId: string; name: string | null; syncState: string }>;
  different: Array<{ id: string; externalId: string; fields: Record<string, FieldDrift> }>;
  applied?: { imported: number; reprovisioned: number };
}

/** Keys are compared, never shown. */
const MASKED = '***';

/**
 * Compares the network's device list with the bridge's devices of a connection (SPEC §6).
 * Only devices the bridge manages are judged: a discovered device is matched but never reported,
 * and a pending one is in flight, so not reported either.
 */
@Injectable()
export class ReconcileService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly secrets: SecretBox,
    private readonly connections: ConnectionsService,
    private readonly networks: NetworkRegistry,
    private readonly sync: DeviceSyncQueue,
  ) {}

  async reconcile(connectionId: string, apply: boolean): Promise<Drift> {
    const connection = await this.connections.open(connectionId);
    if (!connection) throw new NotFoundException(`connection "${connectionId}" not found`);
    const provisioner = this.networks.get(connection.network).provisioner;
    if (!provisioner) throw new BadRequestException(`${connection.network} connections cannot be reconciled`);
    const missing = provisioner.missingSettings(connection.settings);
    if (missing) throw new BadRequestException(`connection "${connectionId}" cannot be reconciled: ${missing}`);

    let listed: NetworkDevice[];
    try {
      listed = await provisioner.list(connection.settings);
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      throw new BadGatewayException(`listing the ${connection.network} devices failed: ${error.message}`);
    }
    const inNetwork = new Map<string, NetworkDevice>();
    for (const device of listed) if (!inNetwork.has(device.externalId)) inNetwork.set(device.externalId, device);
    const rows = await this.prisma.device.findMany({ where: { connectionId }, orderBy: { id: 'asc' } });
    const inBridge = new Set(rows.map((row) => row.externalId));

    const onlyInNetwork = [...inNetwork.values()].filter((d) => !inBridge.has(d.externalId));
    const onlyInBridge = rows.filter((row) => (row.syncState === 'synced' || row.syncState === 'failed') && !inNetwork.has(row.externalId));
    const different: Drift['different'] = [];
    for (const row of rows) {
      const network = inNetwork.get(row.externalId);
      if (!network || row.syncState === 'none' || row.syncState === 'pending') continue;
      const fields = this.compare(row, network);
      if (Object.keys(fields).length) different.push({ id: row.id, externalId: row.externalId, fields });
    }

    const drift: Drift = {
      onlyInNetwork: onlyInNetwork.map((d) => ({ externalId: d.externalId, networkId: d.networkDeviceId, name: d.name, devEui: d.devEui, joinEui: d.joinEui })),
      onlyInBridge: onlyInBridge.map((row) => ({ id: row.id, externalId: row.externalId, name: row.name, syncState: row.syncState })),
      different,
    };
    if (apply) drift.applied = { imported: await this.import(connectionId, onlyInNetwork), reprovisioned: await this.reprovision(onlyInBridge) };
    return drift;
  }

  /** Network devices become bridge devices as they are: registered there already (`synced`). */
  private async import(connectionId: string, devices: NetworkDevice[]): Promise<number> {
    if (devices.length === 0) return 0;
    const { count } = await this.prisma.device.createMany({
      data: devices.map((d) => ({
        id: uuid7(),
        connectionId,
        externalId: d.externalId,
        name: d.name,
        devEui: d.devEui,
        joinEui: d.joinEui,
        origin: 'imported',
        active: d.active ?? true,
        settings: d.settings as Prisma.InputJsonObject,
        secrets: Object.keys(d.secrets).length ? this.secrets.seal(d.secrets) : null,
        networkDeviceId: d.networkDeviceId,
        syncState: 'synced',
      })),
      // A device discovered from an event meanwhile is kept as it is.
      skipDuplicates: true,
    });
    return count;
  }

  /** Bridge devices missing from the network are registered again from the bridge's record. */
  private async reprovision(rows: Device[]): Promise<number> {
    if (rows.length === 0) return 0;
    await this.prisma.device.updateMany({
      where: { id: { in: rows.map((row) => row.id) } },
      data: { networkDeviceId: null, syncState: 'pending', syncError: null, syncAttempts: 0 },
    });
    await this.sync.enqueueOrDefer(rows.map((row) => ({ op: 'create', deviceId: row.id, connectionId: row.connectionId, externalId: row.externalId })));
    return rows.length;
  }

  private compare(row: Device, network: NetworkDevice): Record<string, FieldDrift> {
    const fields: Record<string, FieldDrift> = {};
    const check = (field: string, bridge: unknown, value: unknown) => {
      if (value !== null && value !== undefined && bridge !== value) fields[field] = { bridge, network: value };
    };
    check('name', row.name, network.name);
    check('joinEui', row.joinEui, network.joinEui);
    check('active', row.active, network.active);
    check('networkId', row.networkDeviceId, network.networkDeviceId);
    const keys = this.secrets.open(row.secrets);
    for (const [key, value] of Object.entries(network.secrets)) {
      if (keys[key] !== undefined && keys[key] !== value) fields[key] = { bridge: MASKED, network: MASKED };
    }
    return fields;
  }
}

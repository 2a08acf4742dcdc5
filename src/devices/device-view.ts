import type { Device } from '../generated/prisma/client';
import type { DeviceProvisioner } from '../networks/device-provisioner';
import type { Battery, LastUplink } from './device-state';

export type DeviceRow = Device & { connection: { network: string } };

/** A device as the API answers it; keys never appear. */
export interface DeviceView {
  id: string;
  connectionId: string;
  network: string;
  externalId: string;
  name: string | null;
  devEui: string | null;
  joinEui: string | null;
  [networkField: string]: unknown;
  labels: string[];
  attributes: Record<string, unknown>;
  active: boolean;
  codecId: string | null;
  codecOverrides: boolean | null;
  origin: string;
  sync: { state: string; networkId: string | null; error: string | null; attempts: number };
  lastSeenAt: Date | null;
  lastUplink: LastUplink | null;
  battery: Battery | null;
  createdAt: Date;
  updatedAt: Date;
}

/** What a device row is read with: its connection's network names its provisioner. */
export const WITH_NETWORK = { connection: { select: { network: true } } } as const;

/** The API's view of a device row; the network's own fields (its provisioner's `describe`) follow the identity. */
export function presentDevice(row: DeviceRow, provisioner: DeviceProvisioner | undefined): DeviceView {
  const settings = row.settings as Record<string, unknown>;
  return {
    id: row.id,
    connectionId: row.connectionId,
    network: row.connection.network,
    externalId: row.externalId,
    name: row.name,
    devEui: row.devEui,
    joinEui: row.joinEui,
    ...(provisioner?.describe({ externalId: row.externalId, settings }) ?? {}),
    labels: row.labels,
    attributes: row.attributes as Record<string, unknown>,
    active: row.active,
    codecId: row.codecId,
    codecOverrides: row.codecOverrides,
    origin: row.origin,
    sync: { state: row.syncState, networkId: row.networkDeviceId, error: row.syncError, attempts: row.syncAttempts },
    lastSeenAt: row.lastSeenAt,
    lastUplink: row.lastUplink as LastUplink | null,
    battery: row.battery as Battery | null,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

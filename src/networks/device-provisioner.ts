import { z } from 'zod';
import { NetworkError } from './http-client';

/** What the network-specific part of `POST /api/devices` becomes, once validated. */
export interface DeviceRegistration {
  /** The network's identity of the device, upper-case hex (DevEUI, Sigfox id). */
  externalId: string;
  devEui: string | null;
  joinEui: string | null;
  /** Not secret, kept in the device's settings (TTS device id, ABP DevAddr, Sigfox payloadConfig). */
  settings: Record<string, unknown>;
  /** The device's keys (appKey, session keys, pac): encrypted at rest, never returned. */
  secrets: Record<string, string>;
}

/** A device of the bridge as a provisioner sees it. */
export interface ProvisionedDevice {
  externalId: string;
  name: string | null;
  devEui: string | null;
  joinEui: string | null;
  active: boolean;
  /** The network's id of the device once it is registered there, else null. */
  networkDeviceId: string | null;
  settings: Record<string, unknown>;
  /** The bridge's attributes of the device, for networks that keep them too (`attributesInNetwork`). */
  attributes: Record<string, string | number | boolean | null>;
  /** Opened keys; empty when the operation needs none (delete). */
  secrets: Record<string, unknown>;
}

/** A device as the network lists it. */
export interface NetworkDevice {
  externalId: string;
  networkDeviceId: string;
  name: string | null;
  devEui: string | null;
  joinEui: string | null;
  /** Null when the network has no such notion. */
  active: boolean | null;
  /** Per-network settings the network reports (compared with the bridge's, kept on import). */
  settings: Record<string, unknown>;
  /** Keys the network gives back (kept encrypted on import, compared masked, never answered). */
  secrets: Record<string, string>;
}

/**
 * Registers, updates, removes and lists a network's devices. Methods take the connection's opened
 * settings and throw NetworkError; everything network-specific stays behind this interface.
 */
export interface DeviceProvisioner {
  /** The network-specific fields of `POST /api/devices` (the common ones are already taken off). */
  readonly registrationSchema: z.ZodType<DeviceRegistration>;
  /** The network-specific fields `PATCH /api/devices/{id}` accepts, as a patch of the device's settings. */
  readonly settingsPatchSchema: z.ZodType<Record<string, unknown>>;
  /** Its devices carry the bridge's attributes (ChirpStack tags): a change to them is pushed like name and active. */
  readonly attributesInNetwork?: boolean;
  /** What the connection lacks to provision devices (a credential, a device type), or null. */
  missingSettings(connectionSettings: Record<string, unknown>): string | null;
  /** Network-specific fields of a device in API answers (e.g. `sigfoxId`, TTS `deviceId`). */
  describe(device: { externalId: string; settings: Record<string, unknown> }): Record<string, unknown>;
  /** Registers the device; answers the network's id for it. Undoes its own partial work on failure. */
  create(connectionSettings: Record<string, unknown>, device: ProvisionedDevice): Promise<{ networkDeviceId: string }>;
  /** Brings the registered device in line with the bridge's (what the network lets change). */
  update(connectionSettings: Record<string, unknown>, device: ProvisionedDevice): Promise<void>;
  /** Removes the device; one already gone counts as removed. */
  delete(connectionSettings: Record<string, unknown>, device: ProvisionedDevice): Promise<void>;
  /** Every device of the connection in the network, following its pagination. */
  list(connectionSettings: Record<string, unknown>): Promise<NetworkDevice[]>;
}

/** Patch schema of networks whose devices have no network-specific settings to change. */
export const noSettingsPatch = z.object({}).strict();

/** A key or EUI a registered device always has; missing only for devices imported without it. */
export function required(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new NetworkError(400, `the bridge has no ${name} for this device (imported without it): delete it and register it again`);
  }
  return value;
}

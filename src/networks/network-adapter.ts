import { z } from 'zod';
import type { DownlinkSender } from '../downlinks/downlink-sender';
import type { Network } from '../events/normalized-event';
import type { DeviceProvisioner } from './device-provisioner';
import type { NetworkInstaller } from './network-installer';

/**
 * What a network module tells the rest of the bridge about itself. Everything that knows a
 * network's formats and API lives behind this, in `networks/<name>`.
 */
export interface NetworkAdapter {
  readonly network: Network;
  /** Connection settings as the API accepts them (secrets included). */
  readonly settingsSchema: z.ZodType<Record<string, unknown>>;
  /** Settings keys that are encrypted at rest and never returned. */
  readonly secretSettings: readonly string[];
  /** A device id as a user wrote it (e.g. in an MQTT topic) → the device's `externalId`; absent: upper case. */
  canonicalExternalId?(externalId: string): string;
  /** Ingest endpoints of a connection, relative to PUBLIC_URL, by purpose; all under `/ingest/<network>/`. */
  ingestPaths(connectionId: string): Record<string, string>;
  /** Its ingest endpoints also take `application/octet-stream` bodies, handed over as a Buffer (ChirpStack Protobuf). */
  readonly binaryIngest?: boolean;
  /**
   * Whether the bridge consumes a stream of the connection's events from the network (TTS events,
   * ChirpStack MQTT); the connection's status then shows that stream's state.
   */
  hasStream?(settings: Record<string, unknown>): boolean;
  /** How the network takes downlinks (SPEC §7); absent: it takes none. */
  readonly downlinks?: DownlinkSender;
  /** How devices are registered in, updated in, removed from and listed from the network (SPEC §6). */
  readonly provisioner?: DeviceProvisioner;
  /** How the network is made to call the bridge (SPEC §2, install); absent: it cannot be. */
  readonly installer?: NetworkInstaller;
}

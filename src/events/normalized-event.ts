/**
 * The one event shape every network is mapped to (SPEC §4). Network modules produce an
 * `IncomingEvent`; the event store turns it into a `NormalizedEvent` by giving it an id,
 * its connection, the registry's device and the time the bridge received it.
 */

import { z } from 'zod';

/**
 * A network's name, as its module registers it with the NetworkRegistry (`networks/<name>`). The
 * registry, not a list here, says which networks exist: adding a network touches no shared code.
 */
export type Network = string;
export const networkNameSchema = z.string().regex(/^[a-z][a-z0-9]{1,31}$/, 'must be a network name (lower-case letters and digits)');

export const EVENT_TYPES = [
  'uplink',
  'join',
  'status',
  'ack',
  'location',
  'error',
  'downlink.queued',
  'downlink.sent',
  'downlink.acked',
  'downlink.failed',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface GeoPoint {
  lat: number;
  lng: number;
}

export interface Gateway {
  id: string;
  name: string | null;
  rssi: number | null;
  snr: number | null;
  location: GeoPoint | null;
}

export interface Uplink {
  port: number | null;
  fcnt: number | null;
  confirmed: boolean;
  payloadHex: string;
  payloadBase64: string;
  decoded: unknown;
  /** What the payload codec reported (SPEC §9); present when one ran. */
  decodeErrors?: string[];
  decodeWarnings?: string[];
}

export interface Radio {
  frequencyHz: number | null;
  dataRate: string | null;
  spreadingFactor: number | null;
  bandwidthHz: number | null;
  /** Best of `gateways`. */
  rssi: number | null;
  /** Best of `gateways`. */
  snr: number | null;
  gateways: Gateway[];
}

export interface DeviceStatus {
  batteryV: number | null;
  /** When the network reports a percentage (ChirpStack's batteryLevel). */
  batteryPercent?: number | null;
  temperatureC: number | null;
  /** Demodulation margin of the device's last received frame, in dB (LoRaWAN DevStatusAns). */
  marginDb?: number;
  externalPower?: boolean;
}

export interface AckInfo {
  downlinkId: string | null;
  info: string | null;
}

export interface Location {
  lat: number;
  lng: number;
  radiusM: number | null;
  source: string;
}

/** What the network tells about the device that sent the event. */
export interface DeviceIdentity {
  /** The network's own device identity in upper-case hex (DevEUI, Sigfox id). */
  externalId: string;
  name?: string | null;
  devEui?: string | null;
  joinEui?: string | null;
}

export interface IncomingEvent {
  type: EventType;
  /**
   * The network's identity of this event: copies of one event (multi-buy, Sigfox duplicates,
   * stream + webhook) share it, so the store keeps them as one.
   */
  dedupKey: string;
  /**
   * For a key that is not a name of the message but its content (Helium): a later event with the
   * same key is a copy only when its `time` lies within this many ms of the first one's. Unset:
   * the key names one message, and any event with it is a copy.
   */
  identityWindowMs?: number;
  device: DeviceIdentity;
  /** When the network received it, ISO-8601 UTC. */
  time: string;
  uplink: Uplink | null;
  radio: Radio | null;
  status: DeviceStatus | null;
  ack: AckInfo | null;
  location: Location | null;
  /** The body as the network sent it. */
  raw: unknown;
}

export interface NormalizedEvent {
  id: string;
  type: EventType;
  network: Network;
  connectionId: string;
  device: {
    id: string;
    externalId: string;
    name: string | null;
    devEui: string | null;
    joinEui: string | null;
  };
  time: string;
  receivedAt: string;
  uplink: Uplink | null;
  radio: Radio | null;
  status: DeviceStatus | null;
  ack: AckInfo | null;
  location: Location | null;
  raw?: unknown;
}

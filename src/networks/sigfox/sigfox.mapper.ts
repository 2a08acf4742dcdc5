import { hexToBase64 } from '../../common/bytes';
import type { EventType, Gateway, IncomingEvent, Location } from '../../events/normalized-event';
import { radioWithGateways } from '../../events/radio';
import {
  SigfoxDataCallback,
  SigfoxErrorCallback,
  SigfoxServiceCallback,
  sigfoxDataCallbackSchema,
  sigfoxErrorCallbackSchema,
  sigfoxServiceCallbackSchema,
} from './sigfox.schema';

/**
 * Sigfox callbacks → normalized events (SPEC §3, §4). Each function takes the body as the
 * controller parsed it from JSON, form or query string, validates it (a malformed body throws a
 * ZodError whose issues name the field) and keeps that original object as `raw`.
 */

/**
 * The custom payload config of the connection or device, applied to the uplink bytes. Not guarded
 * here: it must not throw, since an uplink it cannot read must still be stored.
 */
export type SigfoxPayloadDecoder = (payload: Buffer) => unknown;

/** Sigfox callbacks give no frequency, and LoRa's data rate settings do not apply to Sigfox. */
const SIGFOX_RADIO_SETTINGS = { frequencyHz: null, dataRate: null, spreadingFactor: null, bandwidthHz: null };

/** computedLocation.source codes; a location without one is Atlas's own network estimate. */
const LOCATION_SOURCES: Record<number, string> = { 1: 'sigfox-gps', 2: 'sigfox-atlas', 6: 'sigfox-atlas-wifi' };
const DEFAULT_LOCATION_SOURCE = 'sigfox-atlas';

/** ACKNOWLEDGE infoCode names, from Sigfox's callback documentation. */
const DOWNLINK_INFO_CODES: Record<number, string> = {
  0: 'ACKED',
  1: 'NO_ANSWER',
  2: 'INVALID_PAYLOAD',
  3: 'OVERRUN_ERROR',
  4: 'NETWORK_ERROR',
  5: 'PENDING',
  6: 'NO_DOWNLINK_CONTRACT',
  7: 'TOO_MANY_REQUESTS',
  8: 'INVALID_CONFIGURATION',
};

type EventParts = Partial<Pick<IncomingEvent, 'uplink' | 'radio' | 'status' | 'ack' | 'location'>>;

function sigfoxEvent(
  type: EventType,
  dedupKey: string,
  callback: { device: string; time: number },
  raw: unknown,
  parts: EventParts,
): IncomingEvent {
  return {
    type,
    dedupKey,
    device: { externalId: callback.device },
    time: new Date(callback.time * 1000).toISOString(),
    uplink: null,
    radio: null,
    status: null,
    ack: null,
    location: null,
    ...parts,
    raw,
  };
}

/**
 * DATA (UPLINK, BIDIR) → an `uplink` event, and a `location` event when Sigfox computed a position.
 *
 * With sendDuplicate Sigfox calls once per receiving base station; the copies describe one message,
 * so they share its `time` (the message's reception time, not the station's) and `seqNumber`, and
 * the uplink's dedupKey is the same for all of them: the store merges their base stations.
 *
 * `confirmed` is the BIDIR `ack` flag: the device asked the network to answer this uplink.
 */
export function mapDataCallback(body: unknown, decode?: SigfoxPayloadDecoder): IncomingEvent[] {
  const callback = sigfoxDataCallbackSchema.parse(body);
  // seqNumber wraps at 4096, so the time is part of the message's identity.
  const messageKey = `${callback.device}:${callback.seqNumber ?? 'none'}:${callback.time}`;
  const uplink = sigfoxEvent('uplink', `sigfox:up:${messageKey}`, callback, body, {
    uplink: {
      port: null,
      fcnt: callback.seqNumber ?? null,
      confirmed: callback.ack ?? false,
      payloadHex: callback.data,
      payloadBase64: hexToBase64(callback.data),
      decoded: decode ? decode(Buffer.from(callback.data, 'hex')) : null,
    },
    radio: radioWithGateways(SIGFOX_RADIO_SETTINGS, receivingBaseStations(callback)),
  });
  const location = computedLocationOf(callback);
  if (!location) return [uplink];
  return [uplink, sigfoxEvent('location', `sigfox:location:${messageKey}`, callback, body, { location })];
}

/** The base station of this copy of the message; none without the NETWORK METADATA option. */
function receivingBaseStations(callback: SigfoxDataCallback): Gateway[] {
  if (!callback.station) return [];
  const { lat, lng } = callback;
  return [
    {
      id: callback.station.toUpperCase(),
      name: null,
      rssi: callback.rssi ?? null,
      snr: callback.snr ?? null,
      location: lat !== undefined && lng !== undefined ? { lat, lng } : null,
    },
  ];
}

/** Status 0 means Sigfox could not compute a position; one out of range is no position either. */
function computedLocationOf(callback: SigfoxDataCallback): Location | null {
  const computed = callback.computedLocation;
  if (!computed || computed.status === 0) return null;
  const { lat, lng } = computed;
  if (lat === undefined || lng === undefined || Math.abs(lat) > 90 || Math.abs(lng) > 180) return null;
  return { lat, lng, radiusM: computed.radius ?? null, source: locationSource(computed.source) };
}

function locationSource(code: number | undefined): string {
  if (code === undefined) return DEFAULT_LOCATION_SOURCE;
  return LOCATION_SOURCES[code] ?? `sigfox-source-${code}`;
}

/**
 * SERVICE → STATUS and REPEATER become `status` (both are the device's periodic out-of-band health
 * report: temperature in °C, battery in V; a repeater's counters stay in `raw`); ACKNOWLEDGE becomes
 * `downlink.acked` when the base station emitted the downlink, else `downlink.failed`. Sigfox does
 * not name the downlink: `ack.downlinkId` is null and the caller matches the device's sent downlink.
 */
export function mapServiceCallback(body: unknown): IncomingEvent {
  const callback = sigfoxServiceCallbackSchema.parse(body);
  const dedupKey = `sigfox:${callback.subtype.toLowerCase()}:${callback.device}:${callback.time}`;
  if (callback.subtype === 'ACKNOWLEDGE') {
    // Without downlinkAck in the template, infoCode 0 (ACKED) says the same.
    const emitted = callback.downlinkAck ?? callback.infoCode === 0;
    return sigfoxEvent(emitted ? 'downlink.acked' : 'downlink.failed', dedupKey, callback, body, {
      ack: { downlinkId: null, info: downlinkInfo(callback) },
    });
  }
  return sigfoxEvent('status', dedupKey, callback, body, {
    status: { batteryV: callback.batt ?? null, temperatureC: callback.temp ?? null },
  });
}

/** Sigfox's message, else the name of its code; and the quota warning, which the code may not tell. */
function downlinkInfo(callback: SigfoxServiceCallback): string | null {
  const code = callback.infoCode;
  const codeName = code === undefined ? undefined : (DOWNLINK_INFO_CODES[code] ?? `infoCode ${code}`);
  const parts = [callback.infoMessage ?? codeName, callback.downlinkOverusage ? 'daily downlink quota exceeded' : undefined];
  const present = parts.filter((part): part is string => part !== undefined);
  return present.length ? present.join('; ') : null;
}

/**
 * ERROR → `error`. MQTT and webhook copies leave `raw` out, so the reason goes where every consumer
 * sees it: `ack.info`, as "<severity>: <message>" (e.g. "ERROR: No message received since …").
 */
export function mapErrorCallback(body: unknown): IncomingEvent {
  const callback = sigfoxErrorCallbackSchema.parse(body);
  return sigfoxEvent('error', `sigfox:error:${callback.device}:${callback.time}`, callback, body, {
    ack: { downlinkId: null, info: errorInfo(callback) },
  });
}

function errorInfo(callback: SigfoxErrorCallback): string | null {
  const message =
    callback.info ?? callback.infoMessage ?? (callback.infoCode === undefined ? undefined : `infoCode ${callback.infoCode}`);
  if (message === undefined) return callback.severity ?? null;
  return callback.severity ? `${callback.severity}: ${message}` : message;
}

import { createHash } from 'node:crypto';
import type { z } from 'zod';
import { base64ToHex } from '../../common/bytes';
import type { AckInfo, DeviceIdentity, EventType, Gateway, GeoPoint, IncomingEvent, Radio, Uplink } from '../../events/normalized-event';
import { radioWithGateways } from '../../events/radio';
import {
  ApplicationDownlink,
  ApplicationUp,
  ApplicationUpMessageName,
  applicationUpSchema,
  RxMetadata,
  TtsLocation,
  TtsStreamEvent,
} from './tts.schema';

/**
 * The bridge gives each downlink it pushes a correlation id with this prefix; TTS hands the
 * downlink's correlation ids back in downlink_queued/sent/ack/nack/failed, which is how the
 * bridge recognizes its own downlinks.
 */
export const BRIDGE_CORRELATION_PREFIX = 'lpwan-bridge:';

const APPLICATION_UP_TYPE = 'type.googleapis.com/ttn.lorawan.v3.ApplicationUp';
const APPLICATION_DOWNLINK_TYPE = 'type.googleapis.com/ttn.lorawan.v3.ApplicationDownlink';

/** Stream events whose `data` is an ApplicationUp: the same message a webhook receives. */
const APPLICATION_UP_EVENTS = new Set([
  'as.up.data.forward',
  'as.up.join.forward',
  'as.up.location.forward',
  'as.up.service.forward',
  'as.down.data.ack.forward',
  'as.down.data.nack.forward',
  'as.down.data.sent.forward',
  'as.down.data.failed.forward',
  'as.down.data.queue.invalidated.forward',
]);
/**
 * The Application Server publishes this when it hands a pushed downlink to the Network Server,
 * at the moment it sends the webhooks their downlink_queued; its `data` is that ApplicationDownlink.
 */
const DOWNLINK_QUEUED_EVENT = 'as.down.data.forward';

/**
 * The `names` of the bridge's `POST /api/v3/events` request. TTS refuses the whole stream (400
 * `unknown_event_name`) when one exact name is not defined by the server, and servers differ:
 * the downlink ack/nack/sent/failed/queue-invalidated events are not defined by every version.
 * Each pattern here always matches at least one event every TTS v3 defines (`as.up.data.forward`,
 * `as.down.data.forward`), so the request is valid on all of them; `mapStreamEvent` ignores any
 * other event a pattern lets through.
 */
export const TTS_STREAM_EVENT_NAMES: string[] = [
  '/^as\\.up\\.(data|join|location|service)\\.forward$/',
  '/^as\\.down\\.data\\.(forward|(ack|nack|sent|failed|queue\\.invalidated)\\.forward)$/',
];

/** A stream event the bridge uses whose data it cannot read; the caller logs it and skips it. */
export class MalformedTtsEventError extends Error {
  constructor(
    readonly eventName: string,
    readonly reason: string,
  ) {
    super(`malformed TTS event ${eventName}: ${reason}`);
    this.name = 'MalformedTtsEventError';
  }
}

type EventParts = Pick<IncomingEvent, 'uplink' | 'radio' | 'status' | 'ack' | 'location'>;

export function mapApplicationUp(body: ApplicationUp): IncomingEvent {
  const ids = body.end_device_ids;
  // SPEC: the DevEUI. ABP devices may have none; their device_id (lower-case by TTS rules) stands in.
  const deviceKey = (ids.dev_eui ?? ids.device_id).toUpperCase();
  const device: DeviceIdentity = {
    externalId: deviceKey,
    name: ids.device_id,
    devEui: ids.dev_eui?.toUpperCase() ?? null,
    joinEui: ids.join_eui?.toUpperCase() ?? null,
  };
  const event = (type: EventType, dedupKey: string, time: string | undefined, parts: Partial<EventParts>): IncomingEvent => ({
    type,
    dedupKey,
    device,
    time: isoTime(time),
    uplink: null,
    radio: null,
    status: null,
    ack: null,
    location: null,
    raw: body,
    ...parts,
  });
  /** Messages without an identity of their own are keyed by their content: identical copies, one key. */
  const contentKey = (name: ApplicationUpMessageName, message: unknown) => `tts:${name}:${deviceKey}:${contentHash(message)}`;
  const downlinkEvent = (type: EventType, name: ApplicationUpMessageName, downlink: ApplicationDownlink, info: string | null) =>
    event(type, contentKey(name, downlink), body.received_at, { ack: ackInfo([downlink], body, info) });

  if (body.uplink_message) {
    const up = body.uplink_message;
    const time = up.received_at ?? body.received_at;
    return event('uplink', uplinkIdentity(body, deviceKey, time), time, { uplink: uplinkOf(up), radio: radioOf(up) });
  }
  if (body.join_accept) {
    const join = body.join_accept;
    return event('join', `tts:join:${deviceKey}:${join.session_key_id ?? contentHash(join)}`, join.received_at ?? body.received_at, {});
  }
  if (body.downlink_queued) return downlinkEvent('downlink.queued', 'downlink_queued', body.downlink_queued, null);
  if (body.downlink_sent) return downlinkEvent('downlink.sent', 'downlink_sent', body.downlink_sent, null);
  if (body.downlink_ack) return downlinkEvent('downlink.acked', 'downlink_ack', body.downlink_ack, null);
  if (body.downlink_nack) {
    // TTS puts a nacked downlink back in the queue itself; this attempt failed, a later one may not.
    return downlinkEvent('downlink.failed', 'downlink_nack', body.downlink_nack, 'not acknowledged by the device; TTS queues it again');
  }
  if (body.downlink_failed) {
    const failed = body.downlink_failed;
    return event('downlink.failed', contentKey('downlink_failed', failed), body.received_at, {
      ack: ackInfo(failed.downlink ? [failed.downlink] : [], body, errorText(failed.error) ?? 'failed'),
    });
  }
  if (body.downlink_queue_invalidated) {
    // The Network Server dropped the queue (e.g. a new session); TTS re-queues what it can and
    // reports the rest as downlink_failed, so this is a notice, not a downlink's final state.
    const invalidated = body.downlink_queue_invalidated;
    const downlinks = invalidated.downlinks ?? [];
    return event('error', contentKey('downlink_queue_invalidated', invalidated), body.received_at, {
      ack: ackInfo(downlinks, body, `downlink queue invalidated (${downlinks.length} downlinks)`),
    });
  }
  if (body.location_solved) {
    const solved = body.location_solved;
    const point = geoPoint(solved.location);
    return event('location', contentKey('location_solved', solved), body.received_at, {
      location: point && {
        ...point,
        // accuracy 0 is left out; 0 m would claim a precision no solver has.
        radiusM: solved.location.accuracy ?? null,
        source: solved.location.source ?? 'SOURCE_UNKNOWN',
      },
    });
  }
  if (body.service_data) {
    // Service data (LoRa Cloud and the like) has no fixed shape: kept in raw, nothing guessed.
    return event('status', contentKey('service_data', body.service_data), body.received_at, {
      status: { batteryV: null, temperatureC: null },
    });
  }
  throw new Error('ApplicationUp without a known message');
}

/**
 * Maps one stream event: `null` for events the bridge does not use (events.stream.start,
 * as.down.data.receive, decode failures…), a `MalformedTtsEventError` for a used one it cannot read.
 * An event carrying an ApplicationUp maps exactly like the webhook body, except `raw`.
 */
export function mapStreamEvent(streamEvent: TtsStreamEvent): IncomingEvent | null {
  const { name } = streamEvent;
  let body: unknown;
  if (APPLICATION_UP_EVENTS.has(name)) {
    body = withoutType(streamEvent, APPLICATION_UP_TYPE);
  } else if (name === DOWNLINK_QUEUED_EVENT) {
    body = {
      end_device_ids: streamEvent.identifiers?.find((ids) => ids.device_ids)?.device_ids,
      correlation_ids: streamEvent.correlation_ids,
      received_at: streamEvent.time,
      downlink_queued: withoutType(streamEvent, APPLICATION_DOWNLINK_TYPE),
    };
  } else {
    return null;
  }
  const parsed = applicationUpSchema.safeParse(body);
  if (!parsed.success) throw new MalformedTtsEventError(name, describeDataIssues(parsed.error));
  return { ...mapApplicationUp(parsed.data), raw: streamEvent };
}

/**
 * The format of `common/validation`'s describeIssues, which this module cannot import: it pulls in
 * @nestjs/common, and the mapper stays free of the web framework. Paths are the ApplicationUp's.
 */
function describeDataIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.length ? issue.path.join('.') : 'data'}: ${issue.message}`).join('; ');
}

function withoutType(streamEvent: TtsStreamEvent, expectedType: string): Record<string, unknown> {
  const data = streamEvent.data;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new MalformedTtsEventError(streamEvent.name, 'data: expected an object');
  }
  const { '@type': type, ...message } = data as Record<string, unknown>;
  if (type !== expectedType) throw new MalformedTtsEventError(streamEvent.name, `data: expected @type ${expectedType}, received ${String(type)}`);
  return message;
}

/**
 * The Application Server names each uplink it handles with an `as:up:<ULID>` correlation id, the
 * same on the webhook body and on the stream's data, and a new one for a frame that repeats a
 * counter (an ABP device whose counters reset). Without one (an older or trimmed server), the
 * session, counter and the time the Network Server received the frame: identical on both paths,
 * and different for any later frame.
 */
function uplinkIdentity(body: ApplicationUp, deviceKey: string, time: string | undefined): string {
  const named = body.correlation_ids?.find((id) => id.startsWith('as:up:'));
  if (named) return `tts:up:${named}`;
  const up = body.uplink_message;
  const session = up?.session_key_id ?? body.end_device_ids.dev_addr ?? '-';
  return `tts:up:${deviceKey}:${session}:${up?.f_cnt ?? 0}:${isoTime(time)}`;
}

/** ISO-8601 with milliseconds. TTS sends nanoseconds, which Date does not parse everywhere: cut to ms. */
function isoTime(timestamp: string | undefined): string {
  if (!timestamp) throw new Error('TTS message without received_at');
  return new Date(timestamp.replace(/(\.\d{3})\d+/, '$1')).toISOString();
}

function uplinkOf(up: NonNullable<ApplicationUp['uplink_message']>): Uplink {
  const payloadBase64 = up.frm_payload ?? '';
  return {
    // Omitted means 0: f_port 0 is a MAC-only frame, f_cnt 0 the first after a join.
    port: up.f_port ?? 0,
    fcnt: up.f_cnt ?? 0,
    confirmed: up.confirmed ?? false,
    payloadHex: base64ToHex(payloadBase64),
    payloadBase64,
    decoded: up.decoded_payload ?? null,
  };
}

function radioOf(up: NonNullable<ApplicationUp['uplink_message']>): Radio {
  const settings = up.settings;
  const lora = settings?.data_rate?.lora;
  const fsk = settings?.data_rate?.fsk;
  const gateways = (up.rx_metadata ?? []).map((metadata) => gatewayOf(metadata, lora !== undefined));
  let dataRate: string | null = null;
  if (lora?.spreading_factor && lora.bandwidth) dataRate = `SF${lora.spreading_factor}BW${lora.bandwidth / 1000}`;
  else if (fsk?.bit_rate) dataRate = `FSK${fsk.bit_rate}`;
  return radioWithGateways(
    {
      frequencyHz: settings?.frequency !== undefined ? Number(settings.frequency) : null,
      dataRate,
      spreadingFactor: lora?.spreading_factor ?? null,
      bandwidthHz: lora?.bandwidth ?? null,
    },
    gateways,
  );
}

function gatewayOf(metadata: RxMetadata, isLora: boolean): Gateway {
  const forwarder = metadata.packet_broker;
  const forwarderGateway = forwarder?.forwarder_gateway_id ?? forwarder?.forwarder_gateway_eui;
  return {
    // Every Packet Broker gateway is "packetbroker": name the forwarder's gateway so merges keep them apart.
    id: forwarderGateway ? `packetbroker:${forwarderGateway}` : metadata.gateway_ids.gateway_id,
    // TTS sends no gateway name; the EUI is the one other identity it gives.
    name: (forwarder?.forwarder_gateway_eui ?? metadata.gateway_ids.eui)?.toUpperCase() ?? null,
    rssi: metadata.rssi ?? metadata.channel_rssi ?? null,
    // Omitted means 0 dB: LoRa gateways always measure an SNR. Other modulations have none.
    snr: metadata.snr ?? (isLora ? 0 : null),
    location: metadata.location ? geoPoint(metadata.location) : null,
  };
}

/** A coordinate of exactly 0 is left out; a location with neither is no location. */
function geoPoint(location: TtsLocation): GeoPoint | null {
  if (location.latitude === undefined && location.longitude === undefined) return null;
  return { lat: location.latitude ?? 0, lng: location.longitude ?? 0 };
}

function ackInfo(downlinks: ApplicationDownlink[], body: ApplicationUp, info: string | null): AckInfo {
  const correlationIds = [...downlinks.flatMap((d) => d.correlation_ids ?? []), ...(body.correlation_ids ?? [])];
  return { downlinkId: correlationIds.find((id) => id.startsWith(BRIDGE_CORRELATION_PREFIX)) ?? null, info };
}

/** TTS's own error text: `error:<namespace>:<name> (<message with attributes filled in>)`. */
function errorText(error: NonNullable<ApplicationUp['downlink_failed']>['error']): string | null {
  if (!error?.name && !error?.message_format) return null;
  const attributes = error.attributes ?? {};
  const message = error.message_format?.replace(/\{(\w+)\}/g, (placeholder, key: string) =>
    key in attributes ? String(attributes[key]) : placeholder,
  );
  const id = `error:${error.namespace ?? ''}:${error.name ?? ''}`;
  return message ? `${id} (${message})` : id;
}

function contentHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 16);
}

/** JSON with object keys sorted, so that key order does not change the hash. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

import { createHash } from 'node:crypto';
import type { DeviceIdentity, EventType, Gateway, GeoPoint, IncomingEvent, Radio } from '../../events/normalized-event';
import { radioWithGateways } from '../../events/radio';
import {
  ChirpstackAck,
  ChirpstackEventType,
  ChirpstackLocation,
  ChirpstackLocationEvent,
  ChirpstackLog,
  ChirpstackRxInfo,
  ChirpstackStatus,
  ChirpstackTxAck,
  ChirpstackTxInfo,
  ChirpstackUplink,
} from './chirpstack.schema';

/** What the bridge keeps of a ChirpStack event: a normalized event, or nothing (and why). */
export type MappedChirpstackEvent = { event: IncomingEvent } | { ignored: string };

type Parts = Partial<Pick<IncomingEvent, 'uplink' | 'radio' | 'status' | 'ack' | 'location'>>;
type Common = { time?: string; deviceInfo: { devEui: string; deviceName?: string } };

/**
 * A validated ChirpStack event (JSON as ChirpStack writes it, or Protobuf turned into that) → the
 * normalized event. Identity (SPEC §4): the event type with its `deduplicationId` (the up, status
 * and ack of one frame share that id), txack by queue item and downlink id, so that the same event
 * by HTTP and by MQTT is one. `raw` is the body as ChirpStack sent it (Protobuf as its JSON).
 */
export function mapChirpstackEvent(type: Exclude<ChirpstackEventType, 'integration'>, body: Record<string, unknown>, raw: unknown = body): MappedChirpstackEvent {
  const common = body as Common;
  const devEui = common.deviceInfo.devEui.toUpperCase();
  const device: DeviceIdentity = { externalId: devEui, name: common.deviceInfo.deviceName || null, devEui, joinEui: null };
  const event = (eventType: EventType, dedupKey: string, parts: Parts): MappedChirpstackEvent => ({
    event: {
      type: eventType,
      dedupKey: `chirpstack:${dedupKey}`,
      device,
      time: isoTime(common.time),
      uplink: null,
      radio: null,
      status: null,
      ack: null,
      location: null,
      raw,
      ...parts,
    },
  });

  switch (type) {
    case 'up': {
      const up = body as ChirpstackUplink;
      const payload = Buffer.from(up.data ?? '', 'base64');
      return event('uplink', `up:${up.deduplicationId}`, {
        uplink: {
          port: up.fPort ?? 0,
          fcnt: up.fCnt ?? 0,
          confirmed: up.confirmed ?? false,
          payloadHex: payload.toString('hex'),
          payloadBase64: payload.toString('base64'),
          decoded: up.object ?? null,
        },
        radio: radioOf(up.txInfo, up.rxInfo),
      });
    }
    case 'join':
      return event('join', `join:${(body as { deduplicationId: string }).deduplicationId}`, {});
    case 'status': {
      const status = body as ChirpstackStatus;
      const unknownLevel = status.externalPowerSource || status.batteryLevelUnavailable;
      return event('status', `status:${status.deduplicationId}`, {
        status: {
          batteryV: null,
          temperatureC: null,
          // A percentage, 0 when on external power or unavailable (then there is none).
          batteryPercent: unknownLevel ? null : (status.batteryLevel ?? 0),
          marginDb: status.margin ?? 0,
          externalPower: status.externalPowerSource ?? false,
        },
      });
    }
    case 'location': {
      const located = body as ChirpstackLocationEvent;
      const point = geoPoint(located.location);
      if (!point) return { ignored: 'a location event without coordinates' };
      const accuracy = located.location.accuracy;
      return event('location', `location:${located.deduplicationId}`, {
        location: { ...point, radiusM: accuracy ? accuracy : null, source: located.location.source ?? 'UNKNOWN' },
      });
    }
    case 'ack': {
      const ack = body as ChirpstackAck;
      const dedupKey = `ack:${ack.queueItemId}:${ack.deduplicationId ?? ''}`;
      return ack.acknowledged
        ? event('downlink.acked', dedupKey, { ack: { downlinkId: ack.queueItemId, info: `acknowledged by the device (FCntDown ${ack.fCntDown ?? 0})` } })
        : event('downlink.failed', dedupKey, { ack: { downlinkId: ack.queueItemId, info: 'not acknowledged by the device: the confirmed downlink timed out' } });
    }
    case 'txack': {
      const txAck = body as ChirpstackTxAck;
      return event('downlink.sent', `txack:${txAck.queueItemId}:${txAck.downlinkId ?? 0}`, {
        ack: { downlinkId: txAck.queueItemId, info: txAck.gatewayId ? `accepted for transmission by gateway ${txAck.gatewayId}` : 'accepted for transmission' },
        radio: txAck.txInfo ? radioOf(txAck.txInfo, []) : null,
      });
    }
    case 'log': {
      const log = body as ChirpstackLog;
      const level = log.level ?? 'INFO';
      if (level === 'INFO') return { ignored: `an INFO log (${log.code ?? 'UNKNOWN'}) is no error` };
      const info = `${level} ${log.code ?? 'UNKNOWN'}: ${log.description ?? ''}`.trim();
      const queueItemId = log.context?.queue_item_id;
      // A queued downlink that ChirpStack discarded (expired, too large, stale counter) is named; it failed.
      const failedDownlink = level === 'ERROR' && queueItemId;
      return event(failedDownlink ? 'downlink.failed' : 'error', `log:${logIdentity(devEui, log)}`, {
        ack: { downlinkId: failedDownlink ? queueItemId : null, info },
      });
    }
  }
}

/** The radio part: LoRa as `SF7BW125`, FSK and LR-FHSS named as such. */
function radioOf(txInfo: ChirpstackTxInfo | undefined, rxInfo: ChirpstackRxInfo[]): Radio {
  const lora = txInfo?.modulation?.lora;
  const fsk = txInfo?.modulation?.fsk;
  const lrFhss = txInfo?.modulation?.lrFhss;
  let dataRate: string | null = null;
  if (lora?.spreadingFactor && lora.bandwidth) dataRate = `SF${lora.spreadingFactor}BW${lora.bandwidth / 1000}`;
  else if (fsk) dataRate = fsk.datarate ? `FSK${fsk.datarate}` : 'FSK';
  else if (lrFhss) dataRate = lrFhss.operatingChannelWidth ? `LR-FHSS-OCW${lrFhss.operatingChannelWidth / 1000}` : 'LR-FHSS';
  return radioWithGateways(
    {
      frequencyHz: txInfo?.frequency || null,
      dataRate,
      spreadingFactor: lora?.spreadingFactor || null,
      bandwidthHz: lora?.bandwidth || null,
    },
    rxInfo.map(gatewayOf),
  );
}

/**
 * A gateway's location is its registered one; a Helium hotspot (not registered in ChirpStack)
 * brings its name and location in the metadata the Helium Packet Router adds.
 */
function gatewayOf(rx: ChirpstackRxInfo): Gateway {
  const metadata = rx.metadata ?? {};
  return {
    id: rx.gatewayId,
    name: metadata.gateway_name || null,
    rssi: rx.rssi ?? 0,
    snr: rx.snr ?? 0,
    location: geoPoint(rx.location) ?? metadataPoint(metadata.gateway_lat, metadata.gateway_long),
  };
}

/** `{}` (registered without coordinates) is no location; one coordinate left out is 0. */
function geoPoint(location: ChirpstackLocation | undefined): GeoPoint | null {
  if (!location || (location.latitude === undefined && location.longitude === undefined)) return null;
  return { lat: location.latitude ?? 0, lng: location.longitude ?? 0 };
}

function metadataPoint(lat: string | undefined, lng: string | undefined): GeoPoint | null {
  const point = { lat: Number(lat), lng: Number(lng) };
  if (!lat || !lng || !Number.isFinite(point.lat) || !Number.isFinite(point.lng)) return null;
  if (Math.abs(point.lat) > 90 || Math.abs(point.lng) > 180) return null;
  return point;
}

/** A log has no id of its own: its content is its identity (identical copies by HTTP and MQTT, one key). */
function logIdentity(devEui: string, log: ChirpstackLog): string {
  const context = Object.entries(log.context ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const content = JSON.stringify([devEui, timeKey(log.time), log.level ?? 'INFO', log.code ?? 'UNKNOWN', log.description ?? '', context]);
  return createHash('sha256').update(content).digest('base64url').slice(0, 32);
}

/** A time to the nanosecond, whatever number of fraction digits wrote it. */
function timeKey(time: string | undefined): string {
  if (!time) return '';
  const nanos = (/\.(\d+)/.exec(time)?.[1] ?? '').padEnd(9, '0').slice(0, 9);
  return `${Math.floor(Date.parse(time) / 1000)}.${nanos}`;
}

/** ISO-8601 UTC to the millisecond; ChirpStack always sends a time, the bridge's clock stands in otherwise. */
function isoTime(time: string | undefined): string {
  return time ? new Date(time).toISOString() : new Date().toISOString();
}

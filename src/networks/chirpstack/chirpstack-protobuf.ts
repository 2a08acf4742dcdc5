import * as common from '@chirpstack/chirpstack-api/common/common_pb';
import * as gw from '@chirpstack/chirpstack-api/gw/gw_pb';
import * as integration from '@chirpstack/chirpstack-api/integration/integration_pb';
import type { Duration } from 'google-protobuf/google/protobuf/duration_pb';
import type { Timestamp } from 'google-protobuf/google/protobuf/timestamp_pb';
import type { ChirpstackEventType } from './chirpstack.schema';

/*
 * A Protobuf event body turned into the JSON ChirpStack would have written for it (pbjson, see the
 * reference), so that one schema and one mapper read both encodings and `raw` is the same for
 * both: the event messages write every field, defaults included; the nested gateway messages
 * leave defaults out. The package's classes have no proto3 JSON of their own (`toObject` is not it).
 */

type Json = Record<string, unknown>;

export class UndecodableProtobufError extends Error {
  constructor(type: string, reason: string) {
    super(`body: not a ChirpStack ${type} event in Protobuf (${reason})`);
    this.name = 'UndecodableProtobufError';
  }
}

const DECODERS: Partial<Record<ChirpstackEventType, (bytes: Uint8Array) => Json>> = {
  up: (bytes) => uplinkJson(integration.UplinkEvent.deserializeBinary(bytes)),
  join: (bytes) => joinJson(integration.JoinEvent.deserializeBinary(bytes)),
  ack: (bytes) => ackJson(integration.AckEvent.deserializeBinary(bytes)),
  txack: (bytes) => txAckJson(integration.TxAckEvent.deserializeBinary(bytes)),
  status: (bytes) => statusJson(integration.StatusEvent.deserializeBinary(bytes)),
  location: (bytes) => locationEventJson(integration.LocationEvent.deserializeBinary(bytes)),
  log: (bytes) => logJson(integration.LogEvent.deserializeBinary(bytes)),
};

/**
 * The event as ChirpStack's JSON. Truncated or foreign bytes throw; bytes that happen to decode
 * (Protobuf is lenient) but carry no DevEUI are then refused by the schema.
 */
export function protobufEventToJson(type: ChirpstackEventType, body: Buffer): Json {
  const decode = DECODERS[type];
  if (!decode) throw new UndecodableProtobufError(type, 'ChirpStack removed this event in v4.15; its Protobuf message is no longer defined');
  try {
    return decode(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
  } catch (error) {
    throw new UndecodableProtobufError(type, (error as Error).message);
  }
}

const nameOf = <M extends Record<string, number>>(map: M) => {
  const names = new Map(Object.entries(map).map(([name, value]) => [value, name]));
  return (value: number) => names.get(value) ?? String(value);
};
const deviceClassName = nameOf(common.DeviceClass as unknown as Record<string, number>);
const locationSourceName = nameOf(common.LocationSource as unknown as Record<string, number>);
const codeRateName = nameOf(gw.CodeRate as unknown as Record<string, number>);
const crcStatusName = nameOf(gw.CRCStatus as unknown as Record<string, number>);
const logLevelName = nameOf(integration.LogLevel as unknown as Record<string, number>);
const logCodeName = nameOf(integration.LogCode as unknown as Record<string, number>);

/**
 * A float32 as its shortest decimal, as ChirpStack writes it (`9.2`, not the widened double
 * `9.199999809265137` that decoding gives JavaScript).
 */
export function float32(value: number): number {
  const single = Math.fround(value);
  for (let digits = 1; digits <= 9; digits++) {
    const candidate = Number(single.toPrecision(digits));
    if (Math.fround(candidate) === single) return candidate;
  }
  return single;
}

/** chrono's `to_rfc3339`: `+00:00`, with 0, 3, 6 or 9 fraction digits as the value needs. */
export function rfc3339(timestamp: Timestamp): string {
  const seconds = new Date(timestamp.getSeconds() * 1000).toISOString().slice(0, 19);
  return `${seconds}${fraction(timestamp.getNanos())}+00:00`;
}

function duration(value: Duration): string {
  return `${value.getSeconds()}${fraction(value.getNanos())}s`;
}

function fraction(nanos: number): string {
  if (nanos === 0) return '';
  const digits = String(nanos).padStart(9, '0');
  return `.${nanos % 1e6 === 0 ? digits.slice(0, 3) : nanos % 1e3 === 0 ? digits.slice(0, 6) : digits}`;
}

/** Nested (gateway/common) messages: default values left out. */
function withoutDefaults(fields: Json): Json {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined && value !== 0 && value !== '' && value !== false));
}

function mapJson(map: { entries(): { next(): { done?: boolean; value?: [string, string] } } }): Record<string, string> {
  const entries: Record<string, string> = {};
  const iterator = map.entries();
  for (let next = iterator.next(); !next.done; next = iterator.next()) {
    const [key, value] = next.value as [string, string];
    entries[key] = value;
  }
  return entries;
}

function timeJson(message: { hasTime(): boolean; getTime(): Timestamp | undefined }): Json {
  const time = message.getTime();
  return message.hasTime() && time ? { time: rfc3339(time) } : {};
}

function deviceInfoJson(message: { getDeviceInfo(): integration.DeviceInfo | undefined }): Json {
  const info = message.getDeviceInfo();
  if (!info) return {};
  return {
    deviceInfo: {
      tenantId: info.getTenantId(),
      tenantName: info.getTenantName(),
      applicationId: info.getApplicationId(),
      applicationName: info.getApplicationName(),
      deviceProfileId: info.getDeviceProfileId(),
      deviceProfileName: info.getDeviceProfileName(),
      deviceName: info.getDeviceName(),
      devEui: info.getDevEui(),
      deviceClassEnabled: deviceClassName(info.getDeviceClassEnabled()),
      tags: mapJson(info.getTagsMap()),
    },
  };
}

function locationJson(location: common.Location): Json {
  return withoutDefaults({
    latitude: location.getLatitude(),
    longitude: location.getLongitude(),
    altitude: location.getAltitude(),
    source: location.getSource() ? locationSourceName(location.getSource()) : undefined,
    accuracy: float32(location.getAccuracy()),
  });
}

function modulationJson(modulation: gw.Modulation | undefined): Json | undefined {
  if (!modulation) return undefined;
  const lora = modulation.getLora();
  const fsk = modulation.getFsk();
  const lrFhss = modulation.getLrFhss();
  if (lora) {
    return {
      lora: withoutDefaults({
        bandwidth: lora.getBandwidth(),
        spreadingFactor: lora.getSpreadingFactor(),
        codeRate: lora.getCodeRate() ? codeRateName(lora.getCodeRate()) : undefined,
        polarizationInversion: lora.getPolarizationInversion(),
        preamble: lora.getPreamble(),
        noCrc: lora.getNoCrc(),
      }),
    };
  }
  if (fsk) return { fsk: withoutDefaults({ frequencyDeviation: fsk.getFrequencyDeviation(), datarate: fsk.getDatarate() }) };
  if (lrFhss) {
    return {
      lrFhss: withoutDefaults({
        operatingChannelWidth: lrFhss.getOperatingChannelWidth(),
        codeRate: lrFhss.getCodeRate() ? codeRateName(lrFhss.getCodeRate()) : undefined,
        gridSteps: lrFhss.getGridSteps(),
      }),
    };
  }
  return {};
}

function rxInfoJson(rx: gw.UplinkRxInfo): Json {
  const optional = <T>(has: boolean, value: T | undefined, write: (v: T) => unknown) => (has && value !== undefined ? write(value) : undefined);
  return {
    ...withoutDefaults({
      gatewayId: rx.getGatewayId(),
      uplinkId: rx.getUplinkId(),
      gwTime: optional(rx.hasGwTime(), rx.getGwTime(), rfc3339),
      nsTime: optional(rx.hasNsTime(), rx.getNsTime(), rfc3339),
      timeSinceGpsEpoch: optional(rx.hasTimeSinceGpsEpoch(), rx.getTimeSinceGpsEpoch(), duration),
      fineTimeSinceGpsEpoch: optional(rx.hasFineTimeSinceGpsEpoch(), rx.getFineTimeSinceGpsEpoch(), duration),
      rssi: rx.getRssi(),
      snr: float32(rx.getSnr()),
      channel: rx.getChannel(),
      rfChain: rx.getRfChain(),
      board: rx.getBoard(),
      antenna: rx.getAntenna(),
    }),
    // Set but all-default (a gateway registered without coordinates) is `{}`, as ChirpStack writes it.
    ...(rx.hasLocation() ? { location: locationJson(rx.getLocation() as common.Location) } : {}),
    ...withoutDefaults({ context: rx.getContext_asB64() }),
    ...(rx.getMetadataMap().getLength() ? { metadata: mapJson(rx.getMetadataMap()) } : {}),
    ...(rx.getCrcStatus() ? { crcStatus: crcStatusName(rx.getCrcStatus()) } : {}),
  };
}

function uplinkTxInfoJson(tx: gw.UplinkTxInfo): Json {
  return { ...withoutDefaults({ frequency: tx.getFrequency() }), ...(tx.hasModulation() ? { modulation: modulationJson(tx.getModulation()) } : {}) };
}

function downlinkTxInfoJson(tx: gw.DownlinkTxInfo): Json {
  const timing = tx.getTiming();
  const delay = timing?.getDelay()?.getDelay();
  const gpsEpoch = timing?.getGpsEpoch()?.getTimeSinceGpsEpoch();
  return {
    ...withoutDefaults({ frequency: tx.getFrequency(), power: tx.getPower() }),
    ...(tx.hasModulation() ? { modulation: modulationJson(tx.getModulation()) } : {}),
    ...withoutDefaults({ board: tx.getBoard(), antenna: tx.getAntenna() }),
    ...(timing
      ? {
          timing: timing.hasImmediately()
            ? { immediately: {} }
            : timing.hasDelay()
              ? { delay: delay ? { delay: duration(delay) } : {} }
              : { gpsEpoch: gpsEpoch ? { timeSinceGpsEpoch: duration(gpsEpoch) } : {} },
        }
      : {}),
    ...withoutDefaults({ context: tx.getContext_asB64() }),
  };
}

function relayJson(message: { hasRelayRxInfo(): boolean; getRelayRxInfo(): integration.UplinkRelayRxInfo | undefined }): Json {
  const relay = message.getRelayRxInfo();
  if (!message.hasRelayRxInfo() || !relay) return {};
  return {
    relayRxInfo: { devEui: relay.getDevEui(), frequency: relay.getFrequency(), dr: relay.getDr(), snr: relay.getSnr(), rssi: relay.getRssi(), worChannel: relay.getWorChannel() },
  };
}

function joinServerContextJson(message: { hasJoinServerContext(): boolean; getJoinServerContext(): common.JoinServerContext | undefined }): Json {
  const context = message.getJoinServerContext();
  if (!message.hasJoinServerContext() || !context) return {};
  const key = context.getAppSKey();
  return {
    joinServerContext: {
      ...withoutDefaults({ sessionKeyId: context.getSessionKeyId() }),
      ...(key ? { appSKey: withoutDefaults({ kekLabel: key.getKekLabel(), aesKey: key.getAesKey_asB64() }) } : {}),
    },
  };
}

function uplinkJson(event: integration.UplinkEvent): Json {
  const txInfo = event.getTxInfo();
  const object = event.getObject();
  return {
    deduplicationId: event.getDeduplicationId(),
    ...timeJson(event),
    ...deviceInfoJson(event),
    devAddr: event.getDevAddr(),
    adr: event.getAdr(),
    dr: event.getDr(),
    fCnt: event.getFCnt(),
    fPort: event.getFPort(),
    confirmed: event.getConfirmed(),
    data: event.getData_asB64(),
    ...(event.hasObject() && object ? { object: object.toJavaScript() } : {}),
    rxInfo: event.getRxInfoList().map(rxInfoJson),
    ...(event.hasTxInfo() && txInfo ? { txInfo: uplinkTxInfoJson(txInfo) } : {}),
    ...relayJson(event),
    ...joinServerContextJson(event),
    regionConfigId: event.getRegionConfigId(),
  };
}

function joinJson(event: integration.JoinEvent): Json {
  return {
    deduplicationId: event.getDeduplicationId(),
    ...timeJson(event),
    ...deviceInfoJson(event),
    devAddr: event.getDevAddr(),
    ...relayJson(event),
    ...joinServerContextJson(event),
    regionConfigId: event.getRegionConfigId(),
  };
}

function ackJson(event: integration.AckEvent): Json {
  return {
    deduplicationId: event.getDeduplicationId(),
    ...timeJson(event),
    ...deviceInfoJson(event),
    queueItemId: event.getQueueItemId(),
    acknowledged: event.getAcknowledged(),
    fCntDown: event.getFCntDown(),
  };
}

function txAckJson(event: integration.TxAckEvent): Json {
  const txInfo = event.getTxInfo();
  return {
    downlinkId: event.getDownlinkId(),
    ...timeJson(event),
    ...deviceInfoJson(event),
    queueItemId: event.getQueueItemId(),
    fCntDown: event.getFCntDown(),
    gatewayId: event.getGatewayId(),
    ...(event.hasTxInfo() && txInfo ? { txInfo: downlinkTxInfoJson(txInfo) } : {}),
  };
}

function statusJson(event: integration.StatusEvent): Json {
  return {
    deduplicationId: event.getDeduplicationId(),
    ...timeJson(event),
    ...deviceInfoJson(event),
    margin: event.getMargin(),
    externalPowerSource: event.getExternalPowerSource(),
    batteryLevelUnavailable: event.getBatteryLevelUnavailable(),
    batteryLevel: float32(event.getBatteryLevel()),
  };
}

function locationEventJson(event: integration.LocationEvent): Json {
  const location = event.getLocation();
  return {
    deduplicationId: event.getDeduplicationId(),
    ...timeJson(event),
    ...deviceInfoJson(event),
    ...(event.hasLocation() && location ? { location: locationJson(location) } : {}),
  };
}

function logJson(event: integration.LogEvent): Json {
  return {
    ...timeJson(event),
    ...deviceInfoJson(event),
    level: logLevelName(event.getLevel()),
    code: logCodeName(event.getCode()),
    description: event.getDescription(),
    context: mapJson(event.getContextMap()),
  };
}

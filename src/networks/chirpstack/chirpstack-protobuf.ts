import * as common from '@chirpstack/chirpstack-api/common/common_pb';
import * as integration from '@chirpstack/chirpstack-api/integration/integration_pb';
import type { Timestamp } from 'google-protobuf/google/protobuf/timestamp_pb';
import type { ChirpstackEventType } from './chirpstack.schema';
import { downlinkTxInfoJson, float32, Json, locationJson, mapJson, nameOf, rfc3339, rxInfoJson, uplinkTxInfoJson, withoutDefaults } from './chirpstack-pbjson';

/*
 * A Protobuf event body turned into the JSON ChirpStack would have written for it (pbjson, see the
 * reference), so that one schema and one mapper read both encodings and `raw` is the same for
 * both: the event messages write every field, defaults included; the nested gateway messages
 * leave defaults out. The package's classes have no proto3 JSON of their own (`toObject` is not it).
 */

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

const deviceClassName = nameOf(common.DeviceClass as unknown as Record<string, number>);
const logLevelName = nameOf(integration.LogLevel as unknown as Record<string, number>);
const logCodeName = nameOf(integration.LogCode as unknown as Record<string, number>);

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

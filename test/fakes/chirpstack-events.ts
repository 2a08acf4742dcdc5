/**
 * ChirpStack v4 integration events as the fake network sends them, in both encodings:
 * JSON as ChirpStack writes it (reference chirpstack-v4.md §3) in the old v4.0 shape (every
 * default left out) or the current one (event-level defaults written, `+00:00` times), and
 * Protobuf built with the package's own classes.
 */
import * as common from '@chirpstack/chirpstack-api/common/common_pb';
import * as gw from '@chirpstack/chirpstack-api/gw/gw_pb';
import * as integration from '@chirpstack/chirpstack-api/integration/integration_pb';
import { Duration } from 'google-protobuf/google/protobuf/duration_pb';
import { Struct } from 'google-protobuf/google/protobuf/struct_pb';
import { Timestamp } from 'google-protobuf/google/protobuf/timestamp_pb';
import { randomUUID } from 'node:crypto';

type Json = Record<string, unknown>;
export type Shape = 'v4.0' | 'current';

export interface TestEvent {
  type: 'up' | 'join' | 'ack' | 'txack' | 'status' | 'location' | 'log';
  json(shape?: Shape): Json;
  protobuf(): Buffer;
}

export interface DeviceSpec {
  devEui: string;
  applicationId: string;
  deviceName?: string;
  tags?: Record<string, string>;
}

/** A ChirpStack time: a millisecond instant plus nanoseconds below it, written with `digits` fraction digits. */
export interface TimeSpec {
  date: Date;
  subMsNanos?: number;
  digits?: 0 | 3 | 6 | 9;
}

/** chrono's to_rfc3339 with a chosen number of fraction digits (ChirpStack picks as the value needs). */
export function csTime({ date, subMsNanos = 0, digits = 9 }: TimeSpec): string {
  const nanos = String((date.getTime() % 1000) * 1e6 + subMsNanos).padStart(9, '0');
  return `${date.toISOString().slice(0, 19)}${digits ? `.${nanos.slice(0, digits)}` : ''}+00:00`;
}

function timestamp({ date, subMsNanos = 0, digits = 9 }: TimeSpec): Timestamp {
  const t = new Timestamp();
  t.setSeconds(Math.floor(date.getTime() / 1000));
  const nanos = (date.getTime() % 1000) * 1e6 + subMsNanos;
  const keep = 10 ** (9 - digits);
  t.setNanos(Math.floor(nanos / keep) * keep);
  return t;
}

function deviceInfoJson(device: DeviceSpec, shape: Shape): Json {
  return {
    tenantId: '52f14cd4-c6f1-4fbd-8f87-4025e1d49242',
    tenantName: 'ChirpStack',
    applicationId: device.applicationId,
    applicationName: 'Test application',
    deviceProfileId: '14855bf7-d10d-4aee-b618-ebfcb64dc7ad',
    deviceProfileName: 'Test device-profile',
    deviceName: device.deviceName ?? 'Test device',
    devEui: device.devEui.toLowerCase(),
    ...(shape === 'current' ? { deviceClassEnabled: 'CLASS_A', tags: device.tags ?? {} } : device.tags && Object.keys(device.tags).length ? { tags: device.tags } : {}),
  };
}

function deviceInfoPb(device: DeviceSpec): integration.DeviceInfo {
  const info = new integration.DeviceInfo();
  info.setTenantId('52f14cd4-c6f1-4fbd-8f87-4025e1d49242');
  info.setTenantName('ChirpStack');
  info.setApplicationId(device.applicationId);
  info.setApplicationName('Test application');
  info.setDeviceProfileId('14855bf7-d10d-4aee-b618-ebfcb64dc7ad');
  info.setDeviceProfileName('Test device-profile');
  info.setDeviceName(device.deviceName ?? 'Test device');
  info.setDevEui(device.devEui.toLowerCase());
  info.setDeviceClassEnabled(common.DeviceClass.CLASS_A);
  for (const [k, v] of Object.entries(device.tags ?? {})) info.getTagsMap().set(k, v);
  return info;
}

/** v4.0 wrote no field holding its default; later versions write those of the event itself. */
function shaped(fields: Json, shape: Shape): Json {
  if (shape === 'current') return fields;
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== 0 && v !== false && v !== '' && !(Array.isArray(v) && v.length === 0)));
}

export interface GatewaySpec {
  gatewayId: string;
  rssi: number;
  snr: number;
  /** Registered coordinates; `{}` for a gateway registered without them; absent for an unknown one. */
  location?: { latitude?: number; longitude?: number; altitude?: number } | Record<string, never>;
  metadata?: Record<string, string>;
}

export interface UplinkSpec {
  device: DeviceSpec;
  deduplicationId?: string;
  time: TimeSpec;
  fCnt: number;
  fPort: number;
  data: Buffer;
  confirmed?: boolean;
  object?: Json;
  gateways: GatewaySpec[];
  frequency: number;
  modulation?: { lora: { spreadingFactor: number; bandwidth: number } } | { fsk: { datarate: number } } | { lrFhss: { operatingChannelWidth: number } };
}

export function upEvent(spec: UplinkSpec): TestEvent & { deduplicationId: string } {
  const deduplicationId = spec.deduplicationId ?? randomUUID();
  const modulation = spec.modulation ?? { lora: { spreadingFactor: 7, bandwidth: 125000 } };
  const modulationJson = 'lora' in modulation ? { lora: { ...modulation.lora, codeRate: 'CR_4_5' } } : modulation;
  return {
    type: 'up',
    deduplicationId,
    json: (shape = 'current') => ({
      deduplicationId,
      time: csTime(spec.time),
      deviceInfo: deviceInfoJson(spec.device, shape),
      ...shaped({ devAddr: '00189440', adr: true, dr: 5, fCnt: spec.fCnt, fPort: spec.fPort, confirmed: spec.confirmed ?? false, data: spec.data.toString('base64') }, shape),
      ...(spec.object ? { object: spec.object } : {}),
      rxInfo: spec.gateways.map((g) => ({
        gatewayId: g.gatewayId,
        uplinkId: 4217106255,
        rssi: g.rssi,
        ...(g.snr ? { snr: g.snr } : {}),
        ...(g.location ? { location: g.location } : {}),
        context: 'E3OWOQ==',
        ...(g.metadata ? { metadata: g.metadata } : {}),
        ...(shape === 'current' ? { crcStatus: 'CRC_OK' } : {}),
      })),
      txInfo: { frequency: spec.frequency, modulation: modulationJson },
      ...(shape === 'current' ? { regionConfigId: 'eu868' } : {}),
    }),
    protobuf: () => {
      const event = new integration.UplinkEvent();
      event.setDeduplicationId(deduplicationId);
      event.setTime(timestamp(spec.time));
      event.setDeviceInfo(deviceInfoPb(spec.device));
      event.setDevAddr('00189440');
      event.setAdr(true);
      event.setDr(5);
      event.setFCnt(spec.fCnt);
      event.setFPort(spec.fPort);
      event.setConfirmed(spec.confirmed ?? false);
      event.setData(new Uint8Array(spec.data));
      if (spec.object) event.setObject(Struct.fromJavaScript(spec.object as never));
      event.setRxInfoList(
        spec.gateways.map((g) => {
          const rx = new gw.UplinkRxInfo();
          rx.setGatewayId(g.gatewayId);
          rx.setUplinkId(4217106255);
          rx.setRssi(g.rssi);
          rx.setSnr(g.snr);
          rx.setContext(Buffer.from('E3OWOQ==', 'base64'));
          rx.setCrcStatus(gw.CRCStatus.CRC_OK);
          if (g.location) {
            const location = new common.Location();
            const { latitude, longitude, altitude } = g.location as { latitude?: number; longitude?: number; altitude?: number };
            if (latitude !== undefined) location.setLatitude(latitude);
            if (longitude !== undefined) location.setLongitude(longitude);
            if (altitude !== undefined) location.setAltitude(altitude);
            rx.setLocation(location);
          }
          for (const [k, v] of Object.entries(g.metadata ?? {})) rx.getMetadataMap().set(k, v);
          return rx;
        }),
      );
      const tx = new gw.UplinkTxInfo();
      tx.setFrequency(spec.frequency);
      const mod = new gw.Modulation();
      if ('lora' in modulation) {
        const lora = new gw.LoraModulationInfo();
        lora.setSpreadingFactor(modulation.lora.spreadingFactor);
        lora.setBandwidth(modulation.lora.bandwidth);
        lora.setCodeRate(gw.CodeRate.CR_4_5);
        mod.setLora(lora);
      } else if ('fsk' in modulation) {
        const fsk = new gw.FskModulationInfo();
        fsk.setDatarate(modulation.fsk.datarate);
        mod.setFsk(fsk);
      } else {
        const lrFhss = new gw.LrFhssModulationInfo();
        lrFhss.setOperatingChannelWidth(modulation.lrFhss.operatingChannelWidth);
        mod.setLrFhss(lrFhss);
      }
      tx.setModulation(mod);
      event.setTxInfo(tx);
      event.setRegionConfigId('eu868');
      return Buffer.from(event.serializeBinary());
    },
  };
}

export function joinEvent(device: DeviceSpec, time: TimeSpec, deduplicationId: string = randomUUID()): TestEvent {
  return {
    type: 'join',
    json: (shape = 'current') => ({ deduplicationId, time: csTime(time), deviceInfo: deviceInfoJson(device, shape), devAddr: '00189440', ...(shape === 'current' ? { regionConfigId: 'eu868' } : {}) }),
    protobuf: () => {
      const event = new integration.JoinEvent();
      event.setDeduplicationId(deduplicationId);
      event.setTime(timestamp(time));
      event.setDeviceInfo(deviceInfoPb(device));
      event.setDevAddr('00189440');
      event.setRegionConfigId('eu868');
      return Buffer.from(event.serializeBinary());
    },
  };
}

export function statusEvent(
  device: DeviceSpec,
  time: TimeSpec,
  fields: { margin: number; batteryLevel: number; externalPowerSource?: boolean; batteryLevelUnavailable?: boolean },
  deduplicationId: string = randomUUID(),
): TestEvent {
  return {
    type: 'status',
    json: (shape = 'current') => ({
      deduplicationId,
      time: csTime(time),
      deviceInfo: deviceInfoJson(device, shape),
      ...shaped({ margin: fields.margin, externalPowerSource: fields.externalPowerSource ?? false, batteryLevelUnavailable: fields.batteryLevelUnavailable ?? false, batteryLevel: fields.batteryLevel }, shape),
    }),
    protobuf: () => {
      const event = new integration.StatusEvent();
      event.setDeduplicationId(deduplicationId);
      event.setTime(timestamp(time));
      event.setDeviceInfo(deviceInfoPb(device));
      event.setMargin(fields.margin);
      event.setExternalPowerSource(fields.externalPowerSource ?? false);
      event.setBatteryLevelUnavailable(fields.batteryLevelUnavailable ?? false);
      event.setBatteryLevel(fields.batteryLevel);
      return Buffer.from(event.serializeBinary());
    },
  };
}

export function ackEvent(device: DeviceSpec, time: TimeSpec, queueItemId: string, acknowledged: boolean, deduplicationId = acknowledged ? randomUUID() : ''): TestEvent {
  return {
    type: 'ack',
    json: (shape = 'current') => ({
      ...shaped({ deduplicationId }, shape),
      time: csTime(time),
      deviceInfo: deviceInfoJson(device, shape),
      queueItemId,
      ...shaped({ acknowledged, fCntDown: 3 }, shape),
    }),
    protobuf: () => {
      const event = new integration.AckEvent();
      event.setDeduplicationId(deduplicationId);
      event.setTime(timestamp(time));
      event.setDeviceInfo(deviceInfoPb(device));
      event.setQueueItemId(queueItemId);
      event.setAcknowledged(acknowledged);
      event.setFCntDown(3);
      return Buffer.from(event.serializeBinary());
    },
  };
}

export function txAckEvent(device: DeviceSpec, time: TimeSpec, queueItemId: string, downlinkId = 3461958127): TestEvent {
  return {
    type: 'txack',
    json: (shape = 'current') => ({
      downlinkId,
      time: csTime(time),
      deviceInfo: deviceInfoJson(device, shape),
      queueItemId,
      fCntDown: 2,
      gatewayId: '0016c001f153a14c',
      txInfo: {
        frequency: 867900000,
        power: 14,
        modulation: { lora: { bandwidth: 125000, spreadingFactor: 7, codeRate: 'CR_4_5', polarizationInversion: true } },
        timing: { delay: { delay: '1s' } },
        context: 'ICYVGw==',
      },
    }),
    protobuf: () => {
      const event = new integration.TxAckEvent();
      event.setDownlinkId(downlinkId);
      event.setTime(timestamp(time));
      event.setDeviceInfo(deviceInfoPb(device));
      event.setQueueItemId(queueItemId);
      event.setFCntDown(2);
      event.setGatewayId('0016c001f153a14c');
      const tx = new gw.DownlinkTxInfo();
      tx.setFrequency(867900000);
      tx.setPower(14);
      const lora = new gw.LoraModulationInfo();
      lora.setBandwidth(125000);
      lora.setSpreadingFactor(7);
      lora.setCodeRate(gw.CodeRate.CR_4_5);
      lora.setPolarizationInversion(true);
      const modulation = new gw.Modulation();
      modulation.setLora(lora);
      tx.setModulation(modulation);
      const delay = new gw.DelayTimingInfo();
      const duration = new Duration();
      duration.setSeconds(1);
      delay.setDelay(duration);
      const timing = new gw.Timing();
      timing.setDelay(delay);
      tx.setTiming(timing);
      tx.setContext(Buffer.from('ICYVGw==', 'base64'));
      event.setTxInfo(tx);
      return Buffer.from(event.serializeBinary());
    },
  };
}

export function logEvent(
  device: DeviceSpec,
  time: TimeSpec,
  fields: { level: 'INFO' | 'WARNING' | 'ERROR'; code: keyof integration.LogCodeMap; description: string; context?: Record<string, string> },
): TestEvent {
  return {
    type: 'log',
    json: (shape = 'current') => ({
      time: csTime(time),
      deviceInfo: deviceInfoJson(device, shape),
      ...(shape === 'current' || fields.level !== 'INFO' ? { level: fields.level } : {}),
      ...(shape === 'current' || fields.code !== 'UNKNOWN' ? { code: fields.code } : {}),
      description: fields.description,
      ...(shape === 'current' || fields.context ? { context: fields.context ?? {} } : {}),
    }),
    protobuf: () => {
      const event = new integration.LogEvent();
      event.setTime(timestamp(time));
      event.setDeviceInfo(deviceInfoPb(device));
      event.setLevel(integration.LogLevel[fields.level]);
      event.setCode(integration.LogCode[fields.code]);
      event.setDescription(fields.description);
      for (const [k, v] of Object.entries(fields.context ?? {})) event.getContextMap().set(k, v);
      return Buffer.from(event.serializeBinary());
    },
  };
}

export function locationEvent(device: DeviceSpec, time: TimeSpec, location: { latitude: number; longitude: number; accuracy?: number }, deduplicationId: string = randomUUID()): TestEvent {
  return {
    type: 'location',
    json: (shape = 'current') => ({ deduplicationId, time: csTime(time), deviceInfo: deviceInfoJson(device, shape), location }),
    protobuf: () => {
      const event = new integration.LocationEvent();
      event.setDeduplicationId(deduplicationId);
      event.setTime(timestamp(time));
      event.setDeviceInfo(deviceInfoPb(device));
      const l = new common.Location();
      l.setLatitude(location.latitude);
      l.setLongitude(location.longitude);
      if (location.accuracy) l.setAccuracy(location.accuracy);
      event.setLocation(l);
      return Buffer.from(event.serializeBinary());
    },
  };
}

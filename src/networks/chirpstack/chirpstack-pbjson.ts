import * as common from '@chirpstack/chirpstack-api/common/common_pb';
import * as gw from '@chirpstack/chirpstack-api/gw/gw_pb';
import type { Duration } from 'google-protobuf/google/protobuf/duration_pb';
import type { Timestamp } from 'google-protobuf/google/protobuf/timestamp_pb';

/*
 * Values and the nested gateway/common messages as ChirpStack's JSON (pbjson) writes them: enums
 * by name, float32 as their shortest decimal, chrono times, and (unlike the event messages) no
 * default values.
 */

export type Json = Record<string, unknown>;

export const nameOf = <M extends Record<string, number>>(map: M) => {
  const names = new Map(Object.entries(map).map(([name, value]) => [value, name]));
  return (value: number) => names.get(value) ?? String(value);
};
const locationSourceName = nameOf(common.LocationSource as unknown as Record<string, number>);
const codeRateName = nameOf(gw.CodeRate as unknown as Record<string, number>);
const crcStatusName = nameOf(gw.CRCStatus as unknown as Record<string, number>);

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
export function withoutDefaults(fields: Json): Json {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined && value !== 0 && value !== '' && value !== false));
}

export function mapJson(map: { entries(): { next(): { done?: boolean; value?: [string, string] } } }): Record<string, string> {
  const entries: Record<string, string> = {};
  const iterator = map.entries();
  for (let next = iterator.next(); !next.done; next = iterator.next()) {
    const [key, value] = next.value as [string, string];
    entries[key] = value;
  }
  return entries;
}


export function locationJson(location: common.Location): Json {
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

export function rxInfoJson(rx: gw.UplinkRxInfo): Json {
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

export function uplinkTxInfoJson(tx: gw.UplinkTxInfo): Json {
  return { ...withoutDefaults({ frequency: tx.getFrequency() }), ...(tx.hasModulation() ? { modulation: modulationJson(tx.getModulation()) } : {}) };
}

export function downlinkTxInfoJson(tx: gw.DownlinkTxInfo): Json {
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


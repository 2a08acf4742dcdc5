import type { IncomingEvent } from '../events/normalized-event';

/** The radio side of a device's latest uplink, as the device JSON shows it. */
export interface LastUplink {
  time: string;
  fcnt: number | null;
  rssi: number | null;
  snr: number | null;
  gatewayCount: number;
}

export interface Battery {
  volts: number | null;
  percent: number | null;
  time: string;
}

/** What one event, or several merged, tell about a device; each part is absent when unknown. */
export interface DeviceState {
  seenAt: string | null;
  lastUplink: LastUplink | null;
  battery: Battery | null;
}

/** Events the device itself caused; downlink reports and the network's error reports are not a sign of life. */
const SIGNS_OF_LIFE = new Set<IncomingEvent['type']>(['uplink', 'join', 'status', 'ack', 'location']);

/** No LPWAN device runs on more than 5 V: a bare `battery` above that is a percentage. */
const MAX_BATTERY_VOLTS = 5;

/**
 * The state an event gives its device. Times are the network's, but never later than the bridge
 * received the event: a network clock ahead would otherwise hide a device going silent.
 */
export function deviceStateOf(event: Pick<IncomingEvent, 'type' | 'time' | 'uplink' | 'radio' | 'status'>, receivedAt: Date): DeviceState {
  if (!SIGNS_OF_LIFE.has(event.type)) return { seenAt: null, lastUplink: null, battery: null };
  const time = stateTime(event, receivedAt);
  const lastUplink =
    event.type === 'uplink'
      ? { time, fcnt: event.uplink?.fcnt ?? null, rssi: event.radio?.rssi ?? null, snr: event.radio?.snr ?? null, gatewayCount: event.radio?.gateways.length ?? 0 }
      : null;
  const reading = batteryOf(event);
  return { seenAt: time, lastUplink, battery: reading && { ...reading, time } };
}

/** Only the battery an uplink's codec decoded, when it decoded one (most do not: nothing is computed then). */
export function decodedBatteryStateOf(event: Pick<IncomingEvent, 'time' | 'uplink' | 'status'> & { receivedAt: string }): DeviceState | null {
  const reading = batteryOf(event);
  return reading && { seenAt: null, lastUplink: null, battery: { ...reading, time: stateTime(event, new Date(event.receivedAt)) } };
}

function stateTime(event: Pick<IncomingEvent, 'time'>, receivedAt: Date): string {
  return new Date(Math.min(Date.parse(event.time), receivedAt.getTime())).toISOString();
}

/** From a status event, else from a codec's (or the network decoder's) `battery` field. */
function batteryOf(event: Pick<IncomingEvent, 'uplink' | 'status'>): Omit<Battery, 'time'> | null {
  const volts = event.status?.batteryV ?? null;
  const percent = event.status?.batteryPercent ?? null;
  if (volts !== null || percent !== null) return { volts, percent };
  const decoded = event.uplink?.decoded;
  if (typeof decoded !== 'object' || decoded === null) return null;
  const fields = decoded as Record<string, unknown>;
  const named = (key: string) => (typeof fields[key] === 'number' && Number.isFinite(fields[key]) ? (fields[key] as number) : null);
  const bare = named('battery');
  const decodedVolts = named('batteryV') ?? (bare !== null && bare <= MAX_BATTERY_VOLTS ? bare : null);
  const decodedPercent = named('batteryPercent') ?? (bare !== null && bare > MAX_BATTERY_VOLTS ? bare : null);
  return decodedVolts !== null || decodedPercent !== null ? { volts: decodedVolts, percent: decodedPercent } : null;
}

/** Newest wins, part by part: events of one device may be recorded out of order. */
export function mergeDeviceState(older: DeviceState, newer: DeviceState): DeviceState {
  return {
    seenAt: latest(older.seenAt, newer.seenAt, (time) => time),
    lastUplink: latest(older.lastUplink, newer.lastUplink, (uplink) => uplink.time),
    battery: latest(older.battery, newer.battery, (battery) => battery.time),
  };
}

/** The later of two, the second on a tie (a merged copy of an uplink updates its gateway count). */
function latest<T>(a: T | null, b: T | null, timeOf: (value: T) => string): T | null {
  if (a === null) return b;
  if (b === null) return a;
  return Date.parse(timeOf(b)) >= Date.parse(timeOf(a)) ? b : a;
}

import { deviceStateOf, mergeDeviceState } from '../../src/devices/device-state';
import type { IncomingEvent } from '../../src/events/normalized-event';

const receivedAt = new Date('2026-12-01T08:00:00.000Z');
const event = (parts: Partial<IncomingEvent>) =>
  ({ type: 'uplink', time: '2026-12-01T07:59:59.000Z', uplink: null, radio: null, status: null, ...parts }) as IncomingEvent;
const uplink = (decoded: unknown) => ({ port: 1, fcnt: 7, confirmed: false, payloadHex: '', payloadBase64: '', decoded });

describe('deviceStateOf', () => {
  it('reads a bare codec `battery` as volts up to 5 and as a percentage above, and the named fields as named', () => {
    expect(deviceStateOf(event({ uplink: uplink({ battery: 3.6 }) }), receivedAt).battery).toMatchObject({ volts: 3.6, percent: null });
    expect(deviceStateOf(event({ uplink: uplink({ battery: 87 }) }), receivedAt).battery).toMatchObject({ volts: null, percent: 87 });
    expect(deviceStateOf(event({ uplink: uplink({ batteryPercent: 3 }) }), receivedAt).battery).toMatchObject({ volts: null, percent: 3 });
    expect(deviceStateOf(event({ uplink: uplink({ battery: 'low' }) }), receivedAt).battery).toBeNull();
    expect(deviceStateOf(event({ uplink: uplink([1, 2]) }), receivedAt).battery).toBeNull();
  });

  it('takes a status battery, and ignores downlink reports and network errors', () => {
    const status = deviceStateOf(event({ type: 'status', status: { batteryV: null, batteryPercent: 40, temperatureC: null } }), receivedAt);
    expect(status).toEqual({ seenAt: '2026-12-01T07:59:59.000Z', lastUplink: null, battery: { volts: null, percent: 40, time: '2026-12-01T07:59:59.000Z' } });
    for (const type of ['downlink.sent', 'error'] as const) expect(deviceStateOf(event({ type }), receivedAt)).toEqual({ seenAt: null, lastUplink: null, battery: null });
  });

  it('never dates a sighting after the bridge received it', () => {
    expect(deviceStateOf(event({ time: '2030-01-01T00:00:00.000Z' }), receivedAt).seenAt).toBe(receivedAt.toISOString());
  });
});

describe('mergeDeviceState', () => {
  it('keeps the newest of each part', () => {
    const older = deviceStateOf(event({ time: '2026-12-01T07:00:00.000Z', status: { batteryV: 3.1, temperatureC: null }, type: 'status' }), receivedAt);
    const newer = deviceStateOf(event({ time: '2026-12-01T07:30:00.000Z' }), receivedAt);
    expect(mergeDeviceState(newer, older)).toEqual({ seenAt: newer.seenAt, lastUplink: newer.lastUplink, battery: older.battery });
  });
});

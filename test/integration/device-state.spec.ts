import { randomBytes } from 'node:crypto';
import heliumUplink from '../fixtures/helium-uplink.json';
import { TestBridge } from '../support/bridge';
import { eventually } from '../support/mqtt-collector';
import { Json, randomEui } from '../support/networks';

describe('device state: last seen, last uplink, battery, silent devices', () => {
  let bridge: TestBridge;
  const run = randomBytes(3).toString('hex');
  const helium = { id: `helium-state-${run}`, token: '' };
  const sigfox = { id: `sigfox-state-${run}`, token: '' };

  beforeAll(async () => {
    bridge = await TestBridge.start({ DEVICE_SILENT_AFTER_MS: '3600000' });
    helium.token = (await bridge.createConnection({ id: helium.id, network: 'helium' })).ingestToken;
    // Credentials of a Sigfox API nobody answers: a registered device stays unsynced, and never seen.
    const settings = { baseUrl: 'http://127.0.0.1:9', login: 'login', password: 'password', deviceTypeId: '5f0c1a2b3c4d5e6f7a8b9c0d' };
    sigfox.token = (await bridge.createConnection({ id: sigfox.id, network: 'sigfox', settings })).ingestToken;
  });

  afterAll(async () => {
    await bridge.stop();
  });

  const uplink = (devEui: string, fcnt: number, reportedAt: number, hotspots: Json[], decoded?: Json) =>
    bridge.post(
      `/ingest/helium/${helium.id}`,
      {
        ...heliumUplink,
        dev_eui: devEui,
        fcnt,
        reported_at: reportedAt,
        hotspots: hotspots.map((h) => ({ ...heliumUplink.hotspots[0], ...h, reported_at: reportedAt })),
        ...(decoded ? { decoded: { status: 'success', payload: decoded } } : {}),
      },
      { 'x-bridge-token': helium.token },
    );
  const deviceOf = async (connectionId: string, externalId: string): Promise<Json> => {
    const page = await (await bridge.api('GET', `/api/devices?connectionId=${connectionId}&externalId=${externalId}`)).json();
    return page.data[0];
  };
  const listIds = async (query: string): Promise<string[]> => {
    const response = await bridge.api('GET', `/api/devices?limit=1000&${query}`);
    expect(response.status).toBe(200);
    return (await response.json()).data.map((device: Json) => device.id);
  };

  it('keeps the newest uplink (with its merged copies) and the battery of the Helium decoder, whatever order they arrive in', async () => {
    const devEui = randomEui();
    const t1 = Date.parse('2026-11-30T10:00:00.000Z');
    const t2 = t1 + 60_000;
    expect((await uplink(devEui, 10, t2, [{ id: 'hs-a', rssi: -90, snr: 5 }], { battery: 3.1, temperature: 20 })).status).toBe(200);
    // An older uplink arriving later (a network replay) does not overwrite the newer state.
    expect((await uplink(devEui, 9, t1, [{ id: 'hs-a', rssi: -50, snr: 10 }])).status).toBe(200);
    // A multi-buy copy of the newest uplink adds its hotspot.
    expect((await uplink(devEui, 10, t2, [{ id: 'hs-b', rssi: -70, snr: 8 }])).status).toBe(200);

    const device = await eventually(
      'the merged copy in the last uplink',
      () => deviceOf(helium.id, devEui),
      (d) => d?.lastUplink?.gatewayCount === 2,
    );
    expect(device.lastSeenAt).toBe(new Date(t2).toISOString());
    expect(device.lastUplink).toEqual({ time: new Date(t2).toISOString(), fcnt: 10, rssi: -70, snr: 8, gatewayCount: 2 });
    expect(device.battery).toEqual({ volts: 3.1, percent: null, time: new Date(t2).toISOString() });
  });

  it('takes the battery of a Sigfox STATUS callback, which is a sign of life but not an uplink', async () => {
    const sigfoxId = randomBytes(3).toString('hex').toUpperCase().replace(/^0+/, '') || '1';
    const time = Math.floor(Date.parse('2026-11-30T11:00:00.000Z') / 1000);
    const status = await bridge.post(`/ingest/sigfox/${sigfox.id}/service`, { device: sigfoxId, time, temp: '21.5', batt: '3.25' }, { 'x-bridge-token': sigfox.token });
    expect(status.status).toBe(200);
    const device = await eventually('the Sigfox battery', () => deviceOf(sigfox.id, sigfoxId), (d) => d?.battery !== null && d?.battery !== undefined);
    expect(device.battery).toEqual({ volts: 3.25, percent: null, time: new Date(time * 1000).toISOString() });
    expect(device.lastSeenAt).toBe(new Date(time * 1000).toISOString());
    expect(device.lastUplink).toBeNull();
  });

  it("takes the battery a payload codec decodes", async () => {
    const codecId = `battery-${run}`;
    const script = 'function decodeUplink(input) { return { data: { battery: 87, first: input.bytes[0] } }; }';
    expect((await bridge.api('POST', '/api/codecs', { id: codecId, name: codecId, script })).status).toBe(201);
    const withCodec = `helium-codec-${run}`;
    const { ingestToken } = await bridge.createConnection({ id: withCodec, network: 'helium', settings: { codecId } });
    const devEui = randomEui();
    const time = Date.parse('2026-11-30T12:00:00.000Z');
    const response = await bridge.post(`/ingest/helium/${withCodec}`, { ...heliumUplink, dev_eui: devEui, reported_at: time }, { 'x-bridge-token': ingestToken });
    expect(response.status).toBe(200);
    const device = await eventually('the codec battery', () => deviceOf(withCodec, devEui), (d) => Boolean(d?.battery));
    expect(device.battery).toEqual({ volts: null, percent: 87, time: new Date(time).toISOString() });
  });

  it('lists the devices silent since a time, and the never-seen ones on request', async () => {
    const quiet = randomEui();
    const recent = randomEui();
    const now = Date.now();
    expect((await uplink(quiet, 1, now - 3 * 3600_000, [{ id: 'hs-q' }])).status).toBe(200);
    expect((await uplink(recent, 1, now - 60_000, [{ id: 'hs-r' }])).status).toBe(200);
    const never = await bridge.api('POST', '/api/devices', { connectionId: sigfox.id, name: 'never', sigfoxId: 'ABCDEF01', pac: '0123456789ABCDEF' });
    expect(never.status).toBe(201);
    const neverId = (await never.json()).id;
    const [quietDevice, recentDevice] = await Promise.all(
      [quiet, recent].map((eui) => eventually(`${eui} seen`, () => deviceOf(helium.id, eui), (d) => d?.lastSeenAt !== null && d?.lastSeenAt !== undefined)),
    );

    const hourAgo = new Date(now - 3600_000).toISOString();
    const silent = await listIds(`seenBefore=${hourAgo}`);
    expect(silent).toContain(quietDevice.id);
    expect(silent).not.toContain(recentDevice.id);
    expect(silent).not.toContain(neverId);
    const silentOrNever = await listIds(`seenBefore=${hourAgo}&neverSeen=true`);
    expect(silentOrNever).toEqual(expect.arrayContaining([quietDevice.id, neverId]));
    expect(silentOrNever).not.toContain(recentDevice.id);
    expect(await listIds('neverSeen=true')).toContain(neverId);
    expect(await listIds('neverSeen=true')).not.toContain(quietDevice.id);

    // The gauge counts the device silent for more than DEVICE_SILENT_AFTER_MS (1 h here).
    const metrics = await (await fetch(`${bridge.url}/metrics`)).text();
    const silentSeries = metrics.match(new RegExp(`^lpwan_devices_silent\\{connection="${helium.id}"\\} (\\d+)`, 'm'));
    expect(Number(silentSeries?.[1])).toBeGreaterThanOrEqual(1);
  });

  it('refuses bad silence filters naming the parameter', async () => {
    for (const [query, parameter] of [
      ['seenBefore=yesterday', 'seenBefore'],
      ['neverSeen=yes', 'neverSeen'],
    ]) {
      const response = await bridge.api('GET', `/api/devices?${query}`);
      expect(response.status).toBe(400);
      expect((await response.json()).message).toContain(parameter);
    }
  });
});

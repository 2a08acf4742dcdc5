import { randomBytes } from 'node:crypto';
import heliumUplink from '../fixtures/helium-uplink.json';
import { TestBridge } from '../support/bridge';
import { MqttCollector, sleep } from '../support/mqtt-collector';

describe('Helium uplinks → Postgres → MQTT', () => {
  let bridge: TestBridge;
  let mqtt: MqttCollector;
  let token: string;
  const connectionId = `helium-${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    bridge = await TestBridge.start();
    mqtt = await MqttCollector.subscribe(`${bridge.topicPrefix}/#`);
    token = (await bridge.createConnection({ id: connectionId, network: 'helium' })).ingestToken;
  });

  afterAll(async () => {
    await mqtt.close();
    await bridge.stop();
  });

  const ingest = (body: unknown, headers: Record<string, string> = { 'x-bridge-token': token }) =>
    bridge.post(`/ingest/helium/${connectionId}`, body, headers);

  it('publishes the seed uplink as exactly the normalized event of SPEC §4 and stores it', async () => {
    const response = await ingest(heliumUplink);
    expect(response.status).toBe(200);
    const topic = `${bridge.topicPrefix}/helium/008000000401261D/event/up`;
    await mqtt.waitFor(() => mqtt.on(topic).length === 1);
    const published = mqtt.on(topic)[0].payload;

    expect(published).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      type: 'uplink',
      network: 'helium',
      connectionId,
      device: {
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        externalId: '008000000401261D',
        name: 'Basement Temp',
        devEui: '008000000401261D',
        joinEui: '70B3D57ED0008E64',
      },
      time: '2021-09-22T23:29:49.723Z',
      receivedAt: expect.any(String),
      uplink: { port: 1, fcnt: 33072, confirmed: false, payloadHex: '0a1b2c', payloadBase64: 'Chss', decoded: null },
      radio: {
        frequencyHz: 904700000,
        dataRate: 'SF9BW125',
        spreadingFactor: 9,
        bandwidthHz: 125000,
        rssi: -57,
        snr: 12.5,
        gateways: [
          { id: '112qDCKek7ebhNdmyeUbmrWvWWbtY5Dxqz3ypBdcBgvhTPL8LUfT', name: 'rapid-sandstone-hare', rssi: -57, snr: 12.5, location: { lat: 43.45, lng: 6.54 } },
        ],
      },
      status: null,
      ack: null,
      location: null,
    });
    expect(Date.parse(published.receivedAt as string)).toBeGreaterThan(Date.now() - 60_000);

    const page = await bridge.api('GET', `/api/events?connectionId=${connectionId}`);
    expect(page.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const history = await page.json();
    expect(history.data).toHaveLength(1);
    expect(history.data[0]).toEqual({ ...published, raw: heliumUplink });
    // History writes its page from the stored JSON as text: the members in the order MQTT has them, raw last.
    expect(Object.keys(history.data[0])).toEqual(Object.keys({ ...published, raw: null }));
    expect(Object.keys(history)).toEqual(['data', 'nextCursor']);
    expect(history.nextCursor).toBeNull();
  });

  it('keeps a multi-buy duplicate as one event with both hotspots, published once', async () => {
    const first = { ...heliumUplink, fcnt: 40001 };
    const second = {
      ...first,
      hotspots: [{ ...heliumUplink.hotspots[0], id: 'second-hotspot', name: 'other-hotspot', rssi: -30, snr: 5.5 }],
    };
    const [a, b] = await Promise.all([ingest(first), ingest(second)]);
    expect([a.status, b.status]).toEqual([200, 200]);

    const topic = `${bridge.topicPrefix}/helium/008000000401261D/event/up`;
    await mqtt.waitFor(() => mqtt.on(topic).some((m) => (m.payload.uplink as { fcnt: number }).fcnt === 40001));
    await sleep(600);
    const copies = mqtt.on(topic).filter((m) => (m.payload.uplink as { fcnt: number }).fcnt === 40001);
    expect(copies).toHaveLength(1);
    const radio = copies[0].payload.radio as { rssi: number; snr: number; gateways: Array<{ id: string }> };
    expect(radio.gateways.map((g) => g.id).sort()).toEqual(['112qDCKek7ebhNdmyeUbmrWvWWbtY5Dxqz3ypBdcBgvhTPL8LUfT', 'second-hotspot']);
    expect(radio.rssi).toBe(-30);
    expect(radio.snr).toBe(12.5);

    const history = await (await bridge.api('GET', `/api/events?connectionId=${connectionId}&limit=1000`)).json();
    expect(history.data.filter((e: { uplink: { fcnt: number } }) => e.uplink.fcnt === 40001)).toHaveLength(1);
  });

  it('accepts the token as a bearer token and as ?token=', async () => {
    expect((await ingest({ ...heliumUplink, fcnt: 2 }, { authorization: `Bearer ${token}` })).status).toBe(200);
    expect((await bridge.post(`/ingest/helium/${connectionId}?token=${token}`, { ...heliumUplink, fcnt: 3 })).status).toBe(200);
  });

  it('registers an unknown device on its first event as discovered', async () => {
    const response = await ingest({ ...heliumUplink, dev_eui: 'a0b1c2d3e4f50617', name: 'New one' });
    expect(response.status).toBe(200);
    const history = await (await bridge.api('GET', `/api/events?externalId=A0B1C2D3E4F50617`)).json();
    expect(history.data[0].device).toMatchObject({ externalId: 'A0B1C2D3E4F50617', name: 'New one' });
  });

  it('registers devices first seen at once each once, with each of their events', async () => {
    const devEuis = Array.from({ length: 12 }, (_, i) => `B0B1C2D3E4F506${i.toString(16).padStart(2, '0').toUpperCase()}`);
    const uplinks = devEuis.flatMap((devEui) => [1, 2].map((fcnt) => ({ ...heliumUplink, dev_eui: devEui, fcnt, name: `burst ${devEui}` })));
    const answers = await Promise.all(uplinks.map((uplink) => ingest(uplink)));
    expect(answers.map((answer) => answer.status)).toEqual(uplinks.map(() => 200));
    const devices = (await (await bridge.api('GET', `/api/devices?connectionId=${connectionId}&limit=1000`)).json()).data.filter((d: { externalId: string }) => devEuis.includes(d.externalId));
    expect(devices.map((d: { externalId: string }) => d.externalId).sort()).toEqual([...devEuis].sort());
    for (const device of devices) {
      const events = (await (await bridge.api('GET', `/api/devices/${device.id}/events?limit=10`)).json()).data;
      expect(events.map((e: { uplink: { fcnt: number } }) => e.uplink.fcnt).sort()).toEqual([1, 2]);
      expect(events[0].device).toMatchObject({ id: device.id, name: `burst ${device.externalId}` });
    }
  });

  describe('bad input gets a 4xx with a JSON error naming the problem, and stores nothing', () => {
    const cases: Array<[string, () => Promise<Response>, number, RegExp]> = [
      ['truncated JSON', () => ingest('{"dev_eui": "0080000004', { 'x-bridge-token': '' }), 400, /JSON/i],
      ['fcnt of the wrong type', () => ingest({ ...heliumUplink, fcnt: 'abc' }), 400, /fcnt/],
      ['missing dev_eui', () => ingest({ ...heliumUplink, dev_eui: undefined }), 400, /dev_eui/],
      ['payload that is not base64', () => ingest({ ...heliumUplink, payload: '%%%' }), 400, /payload/],
      ['reported_at out of range', () => ingest({ ...heliumUplink, reported_at: 1e300 }), 400, /reported_at/],
      ['a 5 MB body', () => ingest({ ...heliumUplink, padding: 'x'.repeat(5 * 1024 * 1024) }), 413, /large/i],
      ['an unknown connection', () => bridge.post('/ingest/helium/no-such-connection', heliumUplink, { 'x-bridge-token': token }), 404, /no-such-connection/],
      ['a wrong token', () => ingest(heliumUplink, { 'x-bridge-token': 'wrong' }), 401, /token/],
      ['a missing token', () => ingest(heliumUplink, {}), 401, /token/],
      ['a non-JSON content type', () => ingest('dev_eui=1', { 'content-type': 'text/plain', 'x-bridge-token': token }), 415, /content.type/i],
      ['a prototype-pollution key', () => ingest(`{"__proto__": {"x": 1}, "dev_eui": "008000000401261D"}`), 400, /.+/],
    ];

    it.each(cases)('%s', async (_name, send, status, message) => {
      const before = (await (await bridge.api('GET', `/api/events?connectionId=${connectionId}&limit=1000`)).json()).data.length;
      const response = await send();
      expect(response.status).toBe(status);
      const body = await response.json();
      expect(body).toMatchObject({ statusCode: status, error: expect.any(String) });
      expect(body.message).toMatch(message);
      const after = (await (await bridge.api('GET', `/api/events?connectionId=${connectionId}&limit=1000`)).json()).data.length;
      expect(after).toBe(before);
    });

    it('keeps serving after all of them', async () => {
      expect((await bridge.api('GET', '/health/live')).status).toBe(200);
    });
  });
});

describe('MQTT_INCLUDE_RAW=true', () => {
  it('publishes the network body as raw (by default MQTT copies leave it out, see above)', async () => {
    const withRaw = await TestBridge.start({ MQTT_INCLUDE_RAW: 'true' });
    const mqtt = await MqttCollector.subscribe(`${withRaw.topicPrefix}/#`);
    try {
      const connectionId = `helium-raw-${randomBytes(3).toString('hex')}`;
      const { ingestToken } = await withRaw.createConnection({ id: connectionId, network: 'helium' });
      expect((await withRaw.post(`/ingest/helium/${connectionId}`, heliumUplink, { 'x-bridge-token': ingestToken })).status).toBe(200);
      const topic = `${withRaw.topicPrefix}/helium/008000000401261D/event/up`;
      await mqtt.waitFor(() => mqtt.on(topic).length === 1);
      expect(mqtt.on(topic)[0].payload.raw).toEqual(heliumUplink);
    } finally {
      await mqtt.close();
      await withRaw.stop();
    }
  });
});

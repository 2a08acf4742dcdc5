import { randomBytes } from 'node:crypto';
import { TestBridge } from '../support/bridge';
import { MqttCollector, sleep } from '../support/mqtt-collector';

/** What a Sigfox DATA callback sends with the body template of the README (variables as text). */
function dataCallback(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    device: '1A2B3C',
    time: '1632353389',
    data: '0a1b2c3d',
    seqNumber: '33',
    ack: 'false',
    duplicate: 'false',
    station: '37F1',
    rssi: '-120.50',
    snr: '12.25',
    lat: '43',
    lng: '6',
    deviceTypeId: '5f0c1a2b3c4d5e6f7a8b9c0d',
    ...overrides,
  };
}

type Json = Record<string, any>;

describe('Sigfox callbacks', () => {
  let bridge: TestBridge;
  let mqtt: MqttCollector;
  let token: string;
  const connectionId = `sigfox-${randomBytes(3).toString('hex')}`;
  const base = `/ingest/sigfox/${connectionId}`;

  beforeAll(async () => {
    bridge = await TestBridge.start();
    mqtt = await MqttCollector.subscribe(`${bridge.topicPrefix}/#`);
    token = (
      await bridge.createConnection({
        id: connectionId,
        network: 'sigfox',
        settings: { deviceTypeId: '5f0c1a2b3c4d5e6f7a8b9c0d', payloadConfig: 'counter::uint:16 temp::int:16:little-endian' },
      })
    ).ingestToken;
  });

  afterAll(async () => {
    await mqtt.close();
    await bridge.stop();
  });

  const postJson = (path: string, body: unknown) => bridge.post(base + path, body, { 'x-bridge-token': token });
  const postForm = (path: string, body: Record<string, string>) =>
    fetch(bridge.url + base + path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-bridge-token': token },
      body: new URLSearchParams(body).toString(),
    });
  const get = (path: string, body: Record<string, string>) => fetch(`${bridge.url}${base}${path}?${new URLSearchParams({ ...body, token })}`);
  const events = async (query: string): Promise<Json[]> => (await (await bridge.api('GET', `/api/events?connectionId=${connectionId}&limit=1000&${query}`)).json()).data;

  it('gives the same uplink from JSON, form and GET, decoded with the connection payload config', async () => {
    const json = { ...dataCallback({ seqNumber: '100', time: '1700000100' }), seqNumber: 100, time: 1700000100, rssi: -120.5, snr: 12.25 };
    const responses = [
      await postJson('/data', json),
      await postForm('/data', dataCallback({ seqNumber: '101', time: '1700000101' })),
      await get('/data', dataCallback({ seqNumber: '102', time: '1700000102' })),
    ];
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);

    const topic = `${bridge.topicPrefix}/sigfox/1A2B3C/event/up`;
    await mqtt.waitFor(() => mqtt.on(topic).length >= 3);
    // Published by concurrent jobs: put them back in the order they were sent.
    const published = mqtt.on(topic).map((m) => m.payload as Json).sort((a, b) => a.uplink.fcnt - b.uplink.fcnt);
    const comparable = published.map(({ id: _id, receivedAt: _r, time: _t, uplink, ...rest }) => ({ ...rest, uplink: { ...uplink, fcnt: 0 } }));
    expect(comparable[1]).toEqual(comparable[0]);
    expect(comparable[2]).toEqual(comparable[0]);
    expect(published[0]).toMatchObject({
      type: 'uplink',
      network: 'sigfox',
      device: { externalId: '1A2B3C' },
      time: '2023-11-14T22:15:00.000Z',
      uplink: { port: null, fcnt: 100, confirmed: false, payloadHex: '0a1b2c3d', payloadBase64: 'ChssPQ==', decoded: { counter: 0x0a1b, temp: 0x3d2c } },
      radio: { rssi: -120.5, snr: 12.25, gateways: [{ id: '37F1', rssi: -120.5, snr: 12.25, location: { lat: 43, lng: 6 } }] },
    });
    // The query string's token is a credential, not a Sigfox variable: it is not stored.
    const stored = await events('type=uplink');
    expect(JSON.stringify(stored)).not.toContain(token);
  });

  it('merges duplicates from several base stations into one event, whatever their order', async () => {
    const message = { seqNumber: '200', time: '1700000200' };
    // The duplicate=true copy arrives first.
    await postForm('/data', dataCallback({ ...message, station: 'B0B0', rssi: '-100.00', duplicate: 'true' }));
    await postForm('/data', dataCallback({ ...message, station: 'A0A0', rssi: '-130.00' }));
    await postForm('/data', dataCallback({ ...message, station: 'C0C0', rssi: '-125.00', duplicate: 'true' }));

    const topic = `${bridge.topicPrefix}/sigfox/1A2B3C/event/up`;
    await mqtt.waitFor(() => mqtt.on(topic).some((m) => (m.payload as Json).uplink.fcnt === 200));
    await sleep(500);
    const copies = mqtt.on(topic).filter((m) => (m.payload as Json).uplink.fcnt === 200);
    expect(copies).toHaveLength(1);
    const stored = (await events('type=uplink')).filter((e) => e.uplink.fcnt === 200);
    expect(stored).toHaveLength(1);
    expect(stored[0].radio.gateways.map((g: Json) => g.id).sort()).toEqual(['A0A0', 'B0B0', 'C0C0']);
    expect(stored[0].radio.rssi).toBe(-100);
  });

  it('publishes a computed location as a location event', async () => {
    const response = await postJson('/data', {
      ...dataCallback({ seqNumber: '300', time: '1700000300' }),
      computedLocation: { lat: 43.45, lng: 6.54, radius: 1200, source: 2, status: 1 },
    });
    expect(response.status).toBe(200);
    const topic = `${bridge.topicPrefix}/sigfox/1A2B3C/event/location`;
    await mqtt.waitFor(() => mqtt.on(topic).length === 1);
    expect(mqtt.on(topic)[0].payload).toMatchObject({ type: 'location', location: { lat: 43.45, lng: 6.54, radiusM: 1200, source: 'sigfox-atlas' } });
  });

  it('answers a BIDIR callback with 204 when no downlink is queued, saying where its time went', async () => {
    const response = await postForm('/data', dataCallback({ seqNumber: '400', time: '1700000400', ack: 'true' }));
    expect(response.status).toBe(204);
    expect(response.headers.get('server-timing')).toMatch(/^decoder;dur=[\d.]+, (queued|store);dur=[\d.]+, .*total;dur=[\d.]+$/);
  });

  it("decodes with the device's own payload config from the callback after it is set, and with the connection's once it is removed", async () => {
    const device = '5E5E01';
    const decodedOf = async (seq: number) => {
      expect((await postForm('/data', dataCallback({ device, seqNumber: String(seq), time: String(1700000000 + seq) }))).status).toBe(200);
      const [event] = (await events(`type=uplink&externalId=${device}`)).filter((e) => e.uplink.fcnt === seq);
      return event.uplink.decoded;
    };
    expect(await decodedOf(450)).toEqual({ counter: 0x0a1b, temp: 0x3d2c });
    const [{ id }] = (await (await bridge.api('GET', `/api/devices?connectionId=${connectionId}&externalId=${device}`)).json()).data;
    expect((await bridge.api('PATCH', `/api/devices/${id}`, { payloadConfig: 'first::uint:8' })).status).toBe(200);
    expect(await decodedOf(451)).toEqual({ first: 0x0a });
    expect((await bridge.api('PATCH', `/api/devices/${id}`, { payloadConfig: null })).status).toBe(200);
    expect(await decodedOf(452)).toEqual({ counter: 0x0a1b, temp: 0x3d2c });
  });

  it('hands a queued downlink to one copy only of a BIDIR message that several stations deliver at once', async () => {
    const device = '5E5E02';
    await postForm('/data', dataCallback({ device, seqNumber: '460', time: '1700000460' }));
    const [{ id }] = (await (await bridge.api('GET', `/api/devices?connectionId=${connectionId}&externalId=${device}`)).json()).data;
    expect((await bridge.api('POST', `/api/devices/${id}/downlinks`, { payloadHex: '1112131415161718' })).status).toBe(202);

    const message = { device, seqNumber: '461', time: '1700000461', ack: 'true' };
    const answers = await Promise.all(['A1A1', 'B1B1', 'C1C1', 'D1D1'].map((station) => postForm('/data', dataCallback({ ...message, station }))));
    const bodies = await Promise.all(answers.map((answer) => (answer.status === 200 ? answer.json() : null)));
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 204, 204, 204]);
    expect(bodies.filter(Boolean)).toEqual([{ [device]: { downlinkData: '1112131415161718' } }]);
    const downlinks = (await (await bridge.api('GET', `/api/devices/${id}/downlinks`)).json()).data;
    expect(downlinks).toEqual([expect.objectContaining({ state: 'sent' })]);
    expect((await postForm('/data', dataCallback({ ...message, seqNumber: '462', time: '1700000462' }))).status).toBe(204);
  });

  it('maps SERVICE STATUS and ERROR callbacks', async () => {
    expect((await postForm('/service', { device: '1A2B3C', time: '1700000500', temp: '21.5', batt: '3.2' })).status).toBe(200);
    expect((await get('/error', { device: '1A2B3C', time: '1700000600', info: 'No message received since 2023-11-14', severity: 'ERROR' })).status).toBe(200);
    const statusTopic = `${bridge.topicPrefix}/sigfox/1A2B3C/event/status`;
    const errorTopic = `${bridge.topicPrefix}/sigfox/1A2B3C/event/error`;
    await mqtt.waitFor(() => mqtt.on(statusTopic).length === 1 && mqtt.on(errorTopic).length === 1);
    expect(mqtt.on(statusTopic)[0].payload).toMatchObject({ type: 'status', status: { temperatureC: 21.5, batteryV: 3.2 } });
    expect(mqtt.on(errorTopic)[0].payload).toMatchObject({ type: 'error', ack: { info: 'ERROR: No message received since 2023-11-14' } });
  });

  describe('one device whatever the zero-padding of its id', () => {
    const devicesLike2C = async (): Promise<Json[]> =>
      (await (await bridge.api('GET', `/api/devices?connectionId=${connectionId}&limit=100`)).json()).data.filter((d: Json) => /^0*2C$/.test(d.externalId));

    it('takes "002C", "2c" and "0000002C" for device 2C: one row, one topic, one event per seqNumber', async () => {
      const message = { seqNumber: '500', time: '1700000500' };
      const first = await postForm('/data', dataCallback({ ...message, device: '002C', station: 'A0A0' }));
      const copy = await postJson('/data', dataCallback({ ...message, device: '2c', station: 'B0B0', duplicate: 'true' }));
      const next = await get('/data', dataCallback({ seqNumber: '501', time: '1700000501', device: '0000002C' }));
      expect([first.status, copy.status, next.status]).toEqual([200, 200, 200]);
      expect(await first.json()).toMatchObject({ duplicate: false });
      expect(await copy.json()).toMatchObject({ duplicate: true });

      const devices = await devicesLike2C();
      expect(devices).toHaveLength(1);
      expect(devices[0]).toMatchObject({ network: 'sigfox', externalId: '2C', sigfoxId: '2C' });

      const topic = `${bridge.topicPrefix}/sigfox/2C/event/up`;
      await mqtt.waitFor(() => mqtt.on(topic).length >= 2);
      await sleep(300);
      expect(mqtt.on(topic).map((m) => (m.payload as Json).uplink.fcnt).sort()).toEqual([500, 501]);
      expect(mqtt.messages.filter((m) => /\/sigfox\/0+2C\//i.test(m.topic))).toEqual([]);

      const stored = (await events(`externalId=2C&type=uplink`)).sort((a, b) => a.uplink.fcnt - b.uplink.fcnt);
      expect(stored.map((e) => [e.uplink.fcnt, e.device.id])).toEqual([
        [500, devices[0].id],
        [501, devices[0].id],
      ]);
      expect(stored[0].radio.gateways.map((g: Json) => g.id).sort()).toEqual(['A0A0', 'B0B0']);
      // raw is the body as Sigfox sent it, padding included.
      expect(stored[0].raw.device).toBe('002C');
      expect(stored[1].raw.device).toBe('0000002C');

      // Filters naming the network take the id as Sigfox or a user writes it.
      expect((await events('network=sigfox&externalId=0002c&type=uplink')).map((e) => e.id).sort()).toEqual(stored.map((e) => e.id).sort());
      const listed = (await (await bridge.api('GET', `/api/devices?connectionId=${connectionId}&network=sigfox&externalId=002C`)).json()).data;
      expect(listed.map((d: Json) => d.id)).toEqual([devices[0].id]);
    });

    it('answers a BIDIR callback from "002C" with the downlink queued for 2C, keyed "002C" as Sigfox sent it', async () => {
      await postForm('/data', dataCallback({ seqNumber: '600', time: '1700000600', device: '2C' }));
      const [device] = await devicesLike2C();
      const queued = await bridge.api('POST', `/api/devices/${device.id}/downlinks`, { payloadHex: '0102030405060708' });
      expect(queued.status).toBe(202);

      const answer = await postForm('/data', dataCallback({ seqNumber: '601', time: '1700000601', device: '002C', ack: 'true' }));
      expect(answer.status).toBe(200);
      expect(await answer.json()).toEqual({ '002C': { downlinkData: '0102030405060708' } });

      // Sigfox's ACKNOWLEDGE may write the id another way again: it still settles that downlink.
      expect((await postForm('/service', { device: '02c', time: '1700000602', downlinkAck: 'true', infoCode: '0' })).status).toBe(200);
      const downlinks = (await (await bridge.api('GET', `/api/devices/${device.id}/downlinks`)).json()).data;
      expect(downlinks).toEqual([expect.objectContaining({ id: (await queued.json()).id, state: 'acked' })]);
      expect(await devicesLike2C()).toHaveLength(1);
    });
  });

  it('refuses an invalid payload config when it is set, naming its position', async () => {
    const response = await bridge.api('POST', '/api/connections', {
      id: `sigfox-bad-${randomBytes(2).toString('hex')}`,
      network: 'sigfox',
      name: 'bad',
      settings: { payloadConfig: 'temp::int:16 flag::boolean:7' },
    });
    expect(response.status).toBe(400);
    expect((await response.json()).message).toMatch(/payloadConfig: invalid at position \d+/);
  });

  describe.each([
    ['JSON', (path: string, body: Record<string, string>) => postJson(path, body)],
    ['form', postForm],
    ['GET', get],
  ] as const)('bad input as %s gets a 400 naming the field', (_encoding, send) => {
    it.each([
      ['non-hex data', { data: 'zz11' }, /data/],
      ['odd-length data', { data: '0a1' }, /data/],
      ['a 13-byte payload', { data: '00'.repeat(13) }, /data/],
      ['a time that is not a number', { time: 'abc' }, /time/],
    ])('%s', async (_name, overrides, field) => {
      const response = await send('/data', dataCallback(overrides));
      expect(response.status).toBe(400);
      expect((await response.json()).message).toMatch(field);
    });

    it('a missing device', async () => {
      const { device: _device, ...withoutDevice } = dataCallback();
      const response = await send('/data', withoutDevice);
      expect(response.status).toBe(400);
      expect((await response.json()).message).toMatch(/device/);
    });
  });

  it('refuses an unknown callback kind, a wrong token and an unknown connection', async () => {
    expect((await postJson('/other', dataCallback())).status).toBe(400);
    expect((await bridge.post(`${base}/data`, dataCallback(), { 'x-bridge-token': 'nope' })).status).toBe(401);
    expect((await bridge.post('/ingest/sigfox/unknown-conn/data', dataCallback(), { 'x-bridge-token': token })).status).toBe(404);
  });
});

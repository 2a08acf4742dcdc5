import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { logEvent, statusEvent, upEvent } from '../fakes/chirpstack-events';
import { TestBridge } from '../support/bridge';
import { MqttCollector } from '../support/mqtt-collector';
import type { Json } from '../support/networks';
import { randomEui } from '../support/networks';

const SAMPLES: Json = JSON.parse(readFileSync(resolve(__dirname, '../fixtures/chirpstack-samples.json'), 'utf8'));
const sample = (name: string): Json => structuredClone(SAMPLES[name].body);

describe('ChirpStack HTTP integration → Postgres → MQTT', () => {
  const applicationId = randomUUID();
  const connectionId = `cs-in-${randomBytes(3).toString('hex')}`;
  let bridge: TestBridge;
  let mqtt: MqttCollector;
  let token: string;

  beforeAll(async () => {
    bridge = await TestBridge.start();
    mqtt = await MqttCollector.subscribe(`${bridge.topicPrefix}/#`);
    const created = await bridge.createConnection({ id: connectionId, network: 'chirpstack', settings: { apiUrl: 'http://127.0.0.1:1', applicationId } });
    token = created.ingestToken;
    expect(created.ingestUrls).toEqual({ integration: expect.stringMatching(new RegExp(`/ingest/chirpstack/${connectionId}$`)) });
  });

  afterAll(async () => {
    await mqtt.close();
    await bridge.stop();
  });

  /** As ChirpStack posts: the URL's own query (the token) kept, `&event=` added. */
  const post = (event: string | undefined, body: unknown, contentType = 'application/json') =>
    fetch(`${bridge.url}/ingest/chirpstack/${connectionId}?token=${token}${event === undefined ? '' : `&event=${event}`}`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: Buffer.isBuffer(body) ? new Uint8Array(body) : typeof body === 'string' ? body : JSON.stringify(body),
    });

  async function events(query = ''): Promise<Json[]> {
    return ((await (await bridge.api('GET', `/api/events?connectionId=${connectionId}&limit=1000${query}`)).json()) as { data: Json[] }).data;
  }

  it('publishes the Helium-hotspot uplink (through a ChirpStack LNS) as the normalized event, field by field', async () => {
    const body = sample('capture:up:helium-thingsix');
    expect((await post('up', body)).status).toBe(200);
    const topic = `${bridge.topicPrefix}/chirpstack/3531383150308B12/event/up`;
    await mqtt.waitFor(() => mqtt.on(topic).length === 1);
    expect(mqtt.on(topic)[0].payload).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      type: 'uplink',
      network: 'chirpstack',
      connectionId,
      device: { id: expect.any(String), externalId: '3531383150308B12', name: 'ls2135023', devEui: '3531383150308B12', joinEui: null },
      time: '2024-12-05T08:21:51.125Z',
      receivedAt: expect.any(String),
      uplink: { port: 1, fcnt: 2483, confirmed: false, payloadHex: '01b43504f0', payloadBase64: 'AbQ1BPA=', decoded: { grondwaterdruk: 111669, grondwatertemperatuur: 12.64 } },
      radio: {
        frequencyHz: 867300000,
        dataRate: 'SF7BW125',
        spreadingFactor: 7,
        bandwidthHz: 125000,
        rssi: -106,
        snr: 3.5,
        gateways: [
          { id: '7276ff000b030916', name: null, rssi: -123, snr: -7.2, location: { lat: 51.97224426269531, lng: 4.133676052093506 } },
          { id: '6a1e3b228ae2a90c', name: 'breezy-pineapple-sawfish', rssi: -122, snr: -6.8, location: { lat: 51.976991314097, lng: 4.133624655108791 } },
          { id: 'dcd1b5dcb5c53623', name: 'strong-cornflower-parrot', rssi: -106, snr: 3.5, location: { lat: 51.98513524853061, lng: 4.144536626723536 } },
          { id: '1a53471331289857', name: null, rssi: -123, snr: -7.2, location: null },
        ],
      },
      status: null,
      ack: null,
      location: null,
    });
    const [stored] = await events('&type=uplink&externalId=3531383150308B12');
    expect(stored.raw).toEqual(body);
  });

  it('takes every documented event type, in the v4.0 shape, and the current shape captured from a server', async () => {
    const answers: Record<string, Json> = {};
    for (const [name, type] of [
      ['docs:up', 'up'],
      ['docs:join', 'join'],
      ['docs:status', 'status'],
      ['docs:ack', 'ack'],
      ['docs:txack', 'txack'],
      ['docs:log', 'log'],
      ['docs:location', 'location'],
      ['docs:integration', 'integration'],
      ['capture:log:warning', 'log'],
    ]) {
      const response = await post(type, sample(name));
      expect(response.status).toBe(200);
      answers[name] = (await response.json()) as Json;
    }
    const cn470 = await post('up', SAMPLES['capture:up:cn470'].raw);
    expect(cn470.status).toBe(200);
    expect(answers['docs:integration']).toEqual({ ignored: expect.stringMatching(/integration events/) });

    const stored = await events('&externalId=0101010101010101');
    expect(stored.map((e) => e.type).sort()).toEqual(['downlink.acked', 'downlink.sent', 'error', 'join', 'location', 'status', 'uplink']);
    expect(stored.find((e) => e.type === 'status')).toMatchObject({ status: { batteryV: null, batteryPercent: 88.3, marginDb: 10, externalPower: false } });
    expect(stored.find((e) => e.type === 'location')).toMatchObject({ location: { lat: 37.344214, lng: -8.839375 } });
    expect(stored.find((e) => e.type === 'downlink.sent')).toMatchObject({ ack: { downlinkId: '42cb6459-a640-46ec-9623-bdff39dc4736' } });
    const [cn470Event] = await events('&externalId=FFFFFF200000B703');
    expect(cn470Event).toMatchObject({ uplink: { port: 210, fcnt: 18230, confirmed: true, decoded: { model: 'AN-303' } }, radio: { gateways: [{ location: null }, { location: null }] } });
    const [warning] = await events('&externalId=3531383150308B12&type=error');
    expect(warning.ack.info).toMatch(/^WARNING UPLINK_F_CNT_RETRANSMISSION/);
  });

  it('the same event as JSON and as Protobuf is one event; a new frame with the same counter is another', async () => {
    const devEui = randomEui();
    const spec = {
      device: { devEui, applicationId },
      time: { date: new Date('2025-04-16T09:47:45.418Z'), subMsNanos: 123456 },
      fCnt: 7,
      fPort: 2,
      data: Buffer.from('cafe', 'hex'),
      gateways: [{ gatewayId: '0016c001f153a14c', rssi: -80, snr: 9.2 }],
      frequency: 868100000,
    };
    const up = upEvent(spec);
    const first = (await (await post('up', up.json())).json()) as Json;
    const protobuf = await post('up', up.protobuf(), 'application/octet-stream');
    expect(protobuf.status).toBe(200);
    expect(await protobuf.json()).toEqual({ id: first.id, duplicate: true });
    // After a rejoin counters start over: the same fCnt and payload, another transmission.
    const rejoined = (await (await post('up', upEvent(spec).protobuf(), 'application/octet-stream')).json()) as Json;
    expect(rejoined.duplicate).toBe(false);
    const stored = await events(`&externalId=${devEui}`);
    expect(stored).toHaveLength(2);
    expect(stored[1]).toMatchObject({ id: first.id, radio: { snr: 9.2 }, uplink: { payloadHex: 'cafe' } });

    // The status of the same frame shares its deduplicationId: another event all the same.
    const status = statusEvent(spec.device, spec.time, { margin: 5, batteryLevel: 50 }, up.deduplicationId);
    expect(((await (await post('status', status.protobuf(), 'application/octet-stream')).json()) as Json).duplicate).toBe(false);
  });

  it('refuses bad input with 400 naming the problem, and stores nothing', async () => {
    const devEui = randomEui();
    const good = upEvent({ device: { devEui, applicationId }, time: { date: new Date() }, fCnt: 1, fPort: 1, data: Buffer.from('01', 'hex'), gateways: [{ gatewayId: '0016c001f153a14c', rssi: -80, snr: 1 }], frequency: 868100000 });
    const cases: Array<[string, () => Promise<Response>, RegExp]> = [
      ['truncated Protobuf', () => post('up', good.protobuf().subarray(0, 30), 'application/octet-stream'), /not a ChirpStack up event in Protobuf/],
      ['JSON of the wrong event type', () => post('status', good.json()), /belongs to up events/],
      ['an unknown event', () => post('uplink', good.json()), /event: unknown event type "uplink"/],
      ['a missing event', () => post(undefined, good.json()), /event: missing/],
      ['a DevEUI that is not 16 hex', () => post('up', { ...good.json(), deviceInfo: { devEui: devEui.slice(1) } }), /deviceInfo\.devEui: Invalid DevEUI/],
      ['a time that does not parse', () => post('up', { ...good.json(), time: 'yesterday' }), /time/],
      ['malformed JSON', () => post('up', '{"deduplicationId": '), /json/i],
      [
        'a NUL in a Protobuf string, which Postgres cannot store',
        () =>
          post('up', upEvent({ device: { devEui, applicationId, deviceName: 'bad\u0000name' }, time: { date: new Date() }, fCnt: 2, fPort: 1, data: Buffer.from('01', 'hex'), gateways: [], frequency: 868100000 }).protobuf(), 'application/octet-stream'),
        /NUL characters/,
      ],
      ['an id far too long to be an identity', () => post('up', { ...good.json(), deduplicationId: 'x'.repeat(5000) }), /deduplicationId: Too long/],
    ];
    for (const [name, send, message] of cases) {
      const response = await send();
      expect({ name, status: response.status }).toEqual({ name, status: 400 });
      expect(((await response.json()) as Json).message).toMatch(message);
    }
    expect(await events(`&externalId=${devEui}`)).toEqual([]);
  });

  it('answers 401 without the token, 415 for other content types, and octet-stream only where a network reads it', async () => {
    const body = sample('docs:up');
    expect((await fetch(`${bridge.url}/ingest/chirpstack/${connectionId}?event=up`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).status).toBe(401);
    expect((await post('up', 'x', 'text/plain')).status).toBe(415);
    const helium = await fetch(`${bridge.url}/ingest/helium/${connectionId}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: 'x' });
    expect(helium.status).toBe(415);
  });

  it('a log ERROR is an error event; an INFO log is answered and left aside', async () => {
    const devEui = randomEui();
    const deviceSpec = { devEui, applicationId };
    const error = logEvent(deviceSpec, { date: new Date() }, { level: 'ERROR', code: 'UPLINK_CODEC', description: 'codec failed', context: { deduplication_id: randomUUID() } });
    expect((await post('log', error.protobuf(), 'application/octet-stream')).status).toBe(200);
    expect(((await (await post('log', error.json())).json()) as Json).duplicate).toBe(true);
    const info = logEvent(deviceSpec, { date: new Date() }, { level: 'INFO', code: 'UNKNOWN', description: 'note' });
    expect(await (await post('log', info.json())).json()).toEqual({ ignored: expect.stringMatching(/INFO/) });
    expect((await events(`&externalId=${devEui}`)).map((e) => [e.type, e.ack.info])).toEqual([['error', 'ERROR UPLINK_CODEC: codec failed']]);
  });

  it('networks are the registry\'s: chirpstack filters work, an unknown network is a 400', async () => {
    expect((await bridge.api('GET', '/api/events?network=chirpstack&limit=1')).status).toBe(200);
    const unknown = await bridge.api('GET', '/api/devices?network=lorawanx');
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as Json).message).toMatch(/unknown network "lorawanx" \(one of .*chirpstack/);
    const webhook = await bridge.api('POST', '/api/webhooks', { url: 'https://example.com/hook', events: ['uplink'], networks: ['chirpstack'] });
    expect(webhook.status).toBe(201);
    expect((await bridge.api('POST', '/api/webhooks', { url: 'https://example.com/hook', events: ['uplink'], networks: ['nope'] })).status).toBe(400);
  });
});

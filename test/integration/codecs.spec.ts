import mqtt, { MqttClient } from 'mqtt';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import heliumUplink from '../fixtures/helium-uplink.json';
import { upEvent } from '../fakes/chirpstack-events';
import { FakeTts, TTS_API_KEY } from '../fakes/fake-tts';
import { TestBridge } from '../support/bridge';
import { Pool } from 'pg';
import { TEST_DATABASE_URL, TEST_MQTT_URL } from '../support/env';
import { eventually, sleep } from '../support/mqtt-collector';
import { Json, randomEui, TTS_APP } from '../support/networks';

/** A typical vendor decoder: temperature (int16, 0.1 °C) and humidity (%), with a warning and an error case. */
const TH_SCRIPT = `
function decodeUplink(input) {
  if (input.bytes.length < 3) return { errors: ['expected 3 bytes, got ' + input.bytes.length] };
  var raw = (input.bytes[0] << 8) | input.bytes[1];
  if (raw & 0x8000) raw -= 0x10000;
  var warnings = input.bytes[2] > 100 ? ['humidity out of range'] : [];
  return { data: { temperature: raw / 10, humidity: input.bytes[2], fPort: input.fPort, at: input.recvTime.toISOString() }, warnings: warnings };
}
function encodeDownlink(input) {
  if (typeof input.data.interval !== 'number') return { errors: ['data.interval must be a number of minutes'] };
  return { bytes: [0x01, input.data.interval >> 8, input.data.interval & 0xff], fPort: 10 };
}`;
const CS_APP = '1f5ea8d6-0e6c-4ec5-9a2b-6a9b0f1c2d3e';
const OTHER_SCRIPT = 'function decodeUplink(input) { return { data: { device: "own", length: input.bytes.length } } }';

const HOSTILE: Record<string, string> = {
  'endless loop': 'function decodeUplink() { while (true) {} }',
  'memory bomb': 'function decodeUplink() { var a = []; while (true) a.push(new Array(1e5).fill(a.length)); }',
  'deep recursion': 'function decodeUplink(input) { function down(n) { return down(n + 1) + 1 } return { data: down(0) } }',
  'require': 'function decodeUplink() { return { data: require("child_process").execSync("id").toString() } }',
  'process': 'function decodeUplink() { return { data: process.env } }',
  'globalThis.process': 'function decodeUplink() { return { data: globalThis.process.mainModule } }',
  'cycle': 'function decodeUplink() { var data = {}; data.self = data; return { data: data } }',
  'BigInt': 'function decodeUplink() { return { data: { n: 2n ** 64n } } }',
  'function result': 'function decodeUplink() { return { data: { f: function () {} } } }',
  'throws': 'function decodeUplink() { throw new Error("cannot decode") }',
  'text Postgres cannot store': 'function decodeUplink() { return { data: { s: "a\\u0000b" } } }',
};

describe('payload codecs (SPEC §9)', () => {
  let bridge: TestBridge;
  let publisher: MqttClient;
  const tts = new FakeTts();
  const run = randomBytes(3).toString('hex');
  const th = `th-${run}`;
  const conn = { helium: `helium-codec-${run}`, tts: `tts-codec-${run}`, sigfox: `sigfox-codec-${run}`, chirpstack: `cs-codec-${run}`, plain: `helium-plain-${run}` };
  const tokens: Record<string, string> = {};
  const database = new Pool({ connectionString: TEST_DATABASE_URL, max: 2 });

  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> => {
    const response = await bridge.api(method, path, body);
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  };
  const createCodec = (id: string, script: string) => api('POST', '/api/codecs', { id, name: id, script });

  const ingest = async (connection: keyof typeof conn, path: string, body: unknown) => {
    const response = await bridge.post(`/ingest/${connection === 'plain' ? 'helium' : connection}/${conn[connection]}${path}`, body, { 'x-bridge-token': tokens[connection] });
    if (response.status >= 300) throw new Error(`ingest: ${response.status} ${await response.text()}`);
    // Codecs run once an event is stored, before it is published: then its stored event has their result.
    const connectionId = conn[connection];
    await eventually(`${connectionId}'s events published`, async () => (await database.query('SELECT 1 FROM events WHERE connection_id = $1 AND published_at IS NULL LIMIT 1', [connectionId])).rowCount, (unpublished) => unpublished === 0);
  };
  const latestUplink = async (connection: keyof typeof conn, externalId: string): Promise<Json> => {
    const { body } = await api('GET', `/api/events?type=uplink&connectionId=${conn[connection]}&externalId=${externalId}&limit=1`);
    return body.data[0];
  };
  const heliumUplinkOf = (externalId: string, payloadHex: string, extra: Json = {}) => ({
    ...heliumUplink,
    dev_eui: externalId,
    fcnt: Math.floor(Math.random() * 60000),
    payload: Buffer.from(payloadHex, 'hex').toString('base64'),
    ...extra,
  });
  const ttsUplinkOf = (externalId: string, payloadHex: string, extra: Json = {}) => ({
    end_device_ids: { device_id: `eui-${externalId.toLowerCase()}`, application_ids: { application_id: TTS_APP }, dev_eui: externalId },
    correlation_ids: [`as:up:${randomBytes(8).toString('hex')}`],
    received_at: '2026-12-01T10:00:00.123Z',
    uplink_message: { f_port: 3, f_cnt: Math.floor(Math.random() * 60000), frm_payload: Buffer.from(payloadHex, 'hex').toString('base64'), received_at: '2026-12-01T10:00:00.100Z', ...extra },
  });
  const deviceIdOf = async (connection: keyof typeof conn, externalId: string): Promise<string> => (await latestUplink(connection, externalId)).device.id;

  beforeAll(async () => {
    await tts.start();
    bridge = await TestBridge.start({ SECRETS_KEY: randomBytes(32).toString('hex') });
    publisher = await mqtt.connectAsync(TEST_MQTT_URL);
    expect((await createCodec(th, TH_SCRIPT)).status).toBe(201);
    tokens.helium = (await bridge.createConnection({ id: conn.helium, network: 'helium', settings: { codecId: th } })).ingestToken;
    tokens.plain = (await bridge.createConnection({ id: conn.plain, network: 'helium' })).ingestToken;
    tokens.sigfox = (await bridge.createConnection({ id: conn.sigfox, network: 'sigfox', settings: { codecId: th } })).ingestToken;
    tokens.chirpstack = (
      await bridge.createConnection({ id: conn.chirpstack, network: 'chirpstack', settings: { apiUrl: 'http://127.0.0.1:1', applicationId: CS_APP, codecId: th } })
    ).ingestToken;
    tokens.tts = (
      await bridge.createConnection({
        id: conn.tts,
        network: 'tts',
        settings: { baseUrl: tts.baseUrl, applicationId: TTS_APP, apiKey: TTS_API_KEY, frequencyPlanId: 'EU_863_870_TTN', codecId: th },
      })
    ).ingestToken;
  });

  afterAll(async () => {
    await publisher.endAsync();
    await bridge.stop();
    await tts.stop();
    await database.end();
  });

  describe('the API', () => {
    it('creates, gets, lists, replaces and deletes a codec', async () => {
      const id = `api-${run}`;
      const created = await createCodec(id, OTHER_SCRIPT);
      expect(created).toEqual({ status: 201, body: { id, name: id, version: 1, encodes: false, script: OTHER_SCRIPT, createdAt: expect.any(String), updatedAt: expect.any(String) } });
      expect((await createCodec(id, OTHER_SCRIPT)).status).toBe(409);
      expect(await api('GET', `/api/codecs/${id}`)).toMatchObject({ status: 200, body: { id, script: OTHER_SCRIPT, version: 1 } });

      const list = await api('GET', `/api/codecs?limit=1000`);
      const listed = list.body.data.find((codec: Json) => codec.id === id);
      expect(listed).toEqual({ id, name: id, version: 1, encodes: false, createdAt: expect.any(String), updatedAt: expect.any(String) });
      expect(list.body).toHaveProperty('nextCursor');

      const replaced = await api('PUT', `/api/codecs/${id}`, { name: 'Renamed', script: TH_SCRIPT });
      expect(replaced).toMatchObject({ status: 200, body: { id, name: 'Renamed', version: 2, encodes: true, script: TH_SCRIPT } });
      expect(await api('POST', `/api/codecs/${id}/test`, { payloadHex: '00eb32', fPort: 2, recvTime: '2026-12-01T10:00:00.000Z' })).toEqual({
        status: 200,
        body: { decoded: { temperature: 23.5, humidity: 50, fPort: 2, at: '2026-12-01T10:00:00.000Z' }, decodeErrors: [], decodeWarnings: [] },
      });

      expect((await api('DELETE', `/api/codecs/${id}`)).status).toBe(204);
      expect((await api('GET', `/api/codecs/${id}`)).status).toBe(404);
      expect((await api('PUT', `/api/codecs/${id}`, { name: 'x', script: TH_SCRIPT })).status).toBe(404);
      expect((await api('POST', `/api/codecs/${id}/test`, { bytes: [1] })).status).toBe(404);
    });

    it("runs the README's example codec as the README says", async () => {
      const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
      const script = /```js codec-example\n([^`]+)```/.exec(readme)?.[1];
      const id = `readme-${run}`;
      expect((await createCodec(id, script ?? '')).body).toMatchObject({ id, version: 1, encodes: true });
      const answer = /# try it: (\{.*\})\n/.exec(readme)?.[1] ?? '';
      expect((await api('POST', `/api/codecs/${id}/test`, { payloadHex: '00eb32', fPort: 1 })).body).toEqual(JSON.parse(answer));
      expect((await api('POST', `/api/codecs/${id}/test`, { data: {} })).body).toEqual({ ok: false, errors: ['data.interval must be a number of minutes'] });
    });

    it('tests decodeUplink on bytes and encodeDownlink on data', async () => {
      expect((await api('POST', `/api/codecs/${th}/test`, { bytes: [0xff, 0x9c, 101] })).body).toMatchObject({
        decoded: { temperature: -10, humidity: 101, fPort: 1 },
        decodeErrors: [],
        decodeWarnings: ['humidity out of range'],
      });
      expect((await api('POST', `/api/codecs/${th}/test`, { bytes: [1] })).body).toEqual({ decoded: null, decodeErrors: ['expected 3 bytes, got 1'], decodeWarnings: [] });
      expect((await api('POST', `/api/codecs/${th}/test`, { data: { interval: 300 } })).body).toEqual({ ok: true, bytes: [1, 1, 44], fPort: 10, warnings: [] });
      expect((await api('POST', `/api/codecs/${th}/test`, { data: {} })).body).toEqual({ ok: false, errors: ['data.interval must be a number of minutes'] });
      expect(await api('POST', `/api/codecs/${th}/test`, { bytes: [1], payloadHex: '01' })).toMatchObject({ status: 400, body: { message: expect.stringContaining('exactly one of bytes and payloadHex') } });
    });

    it('refuses a script that does not compile, naming the line and column, or that defines no decodeUplink', async () => {
      const syntax = await createCodec(`bad-${run}`, 'function decodeUplink(input) {\n  return { data: input.bytes[0] + };\n}');
      expect(syntax).toMatchObject({ status: 400, body: { message: expect.stringMatching(/^script: SyntaxError: .*\(line 2, column \d+\)$/) } });
      expect(await createCodec(`bad-${run}`, 'function decode(input) { return { data: 1 } }')).toMatchObject({
        status: 400,
        body: { message: 'script: the script defines no function decodeUplink' },
      });
      expect(await createCodec(`bad-${run}`, 'while (true) {}')).toMatchObject({ status: 400, body: { message: 'script: stopped after 200 ms (time limit)' } });
      expect(await api('PUT', `/api/codecs/${th}`, { name: 'x', script: 'function decodeUplink( {' })).toMatchObject({ status: 400 });
      expect((await api('GET', `/api/codecs/${th}`)).body.version).toBe(1);
      expect((await api('GET', `/api/codecs/bad-${run}`)).status).toBe(404);
    });

    it('refuses scripts over the documented size: 400 over 128 KiB, 413 for a 1 MB body', async () => {
      const big = `function decodeUplink() { return { data: 1 } }\n//${'x'.repeat(128 * 1024)}`;
      expect(await createCodec(`big-${run}`, big)).toMatchObject({ status: 400, body: { message: 'script: must be at most 131072 bytes (UTF-8)' } });
      expect((await createCodec(`big-${run}`, `//${'x'.repeat(1024 * 1024)}`)).status).toBe(413);
      expect((await createCodec('Bad Id', OTHER_SCRIPT)).status).toBe(400);
    });

    it('refuses codecIds that name no codec, and keeps a codec in use from being deleted', async () => {
      expect(await api('POST', '/api/connections', { id: `nocodec-${run}`, network: 'helium', name: 'x', settings: { codecId: `missing-${run}` } })).toMatchObject({
        status: 400,
        body: { message: `settings.codecId: no codec "missing-${run}"` },
      });
      expect((await api('GET', `/api/connections/${conn.helium}`)).body.settings).toMatchObject({ codecId: th });
      const other = `other-${run}`;
      expect((await bridge.createConnection({ id: other, network: 'tts', settings: { baseUrl: tts.baseUrl, applicationId: TTS_APP, codecId: th, codecOverrides: true } })).id).toBe(other);
      expect((await api('PATCH', `/api/connections/${other}`, { settings: { codecOverrides: 'yes' } })).body.message).toBe('settings.codecOverrides: Invalid input: expected boolean, received string');
      expect((await api('PATCH', `/api/connections/${other}`, { settings: { codecId: null } })).body.settings).toEqual({ baseUrl: tts.baseUrl, applicationId: TTS_APP, stream: false, codecOverrides: true });
      expect(await api('DELETE', `/api/codecs/${th}`)).toMatchObject({ status: 409, body: { message: expect.stringContaining(conn.helium) } });

      const externalId = randomEui();
      await ingest('plain', '', heliumUplinkOf(externalId, '00eb32'));
      const deviceId = await deviceIdOf('plain', externalId);
      expect(await api('PATCH', `/api/devices/${deviceId}`, { codecId: `missing-${run}` })).toMatchObject({ status: 400, body: { message: `codecId: no codec "missing-${run}"` } });
    });
  });

  describe('on uplinks', () => {
    it("decodes a Helium uplink with the connection's codec; recvTime is the event's time", async () => {
      const externalId = randomEui();
      await ingest('helium', '', heliumUplinkOf(externalId, '00eb32'));
      const event = await latestUplink('helium', externalId);
      expect(event.uplink).toMatchObject({
        port: 1,
        payloadHex: '00eb32',
        decoded: { temperature: 23.5, humidity: 50, fPort: 1, at: event.time },
        decodeErrors: [],
        decodeWarnings: [],
      });
    });

    it('gives webhooks, MQTT and the history the same decoded uplink', async () => {
      const received: Json[] = [];
      const server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          res.writeHead(200).end('ok');
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const subscriber = await mqtt.connectAsync(TEST_MQTT_URL);
      const published: Json[] = [];
      subscriber.on('message', (_topic, payload) => published.push(JSON.parse(payload.toString())));
      const externalId = randomEui();
      await subscriber.subscribeAsync(`${bridge.topicPrefix}/helium/+/event/up`, { qos: 1 });
      const webhook = await api('POST', '/api/webhooks', { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, events: ['uplink'], connectionIds: [conn.helium] });
      try {
        expect(webhook.status).toBe(201);
        await ingest('helium', '', heliumUplinkOf(externalId, '00eb32'));
        const expected = { temperature: 23.5, humidity: 50, fPort: 1 };
        expect((await latestUplink('helium', externalId)).uplink.decoded).toMatchObject(expected);
        const [viaWebhook] = await eventually('the webhook delivery', () => received, (list) => list.length > 0);
        expect(viaWebhook.uplink.decoded).toMatchObject(expected);
        const mine = () => published.filter((event) => event.device.externalId.toLowerCase() === externalId.toLowerCase());
        const [viaMqtt] = await eventually('the MQTT event', mine, (list) => list.length > 0);
        expect(viaMqtt.uplink.decoded).toMatchObject(expected);
      } finally {
        await api('DELETE', `/api/webhooks/${webhook.body.id}`);
        await subscriber.endAsync();
        server.close();
      }
    });

    it("decodes a TTS uplink, and keeps the codec's errors and warnings with decoded null on errors", async () => {
      const externalId = randomEui();
      await ingest('tts', '', ttsUplinkOf(externalId, 'ff9c65'));
      expect((await latestUplink('tts', externalId)).uplink).toMatchObject({
        port: 3,
        decoded: { temperature: -10, humidity: 101, fPort: 3, at: '2026-12-01T10:00:00.100Z' },
        decodeErrors: [],
        decodeWarnings: ['humidity out of range'],
      });
      await ingest('tts', '', ttsUplinkOf(externalId, '01'));
      expect((await latestUplink('tts', externalId)).uplink).toMatchObject({ decoded: null, decodeErrors: ['expected 3 bytes, got 1'], decodeWarnings: [] });
    });

    it('leaves MAC-only uplinks (LoRaWAN port 0) alone', async () => {
      const externalId = randomEui();
      await ingest('tts', '', ttsUplinkOf(externalId, '', { f_port: undefined, frm_payload: undefined }));
      const { uplink } = await latestUplink('tts', externalId);
      expect(uplink).toMatchObject({ port: 0, decoded: null });
      expect(uplink).not.toHaveProperty('decodeErrors');
    });

    it('decodes a Sigfox uplink with fPort 1', async () => {
      const device = `5${randomBytes(3).toString('hex').slice(1).toUpperCase()}`;
      await ingest('sigfox', '/data', { device, time: Math.floor(Date.now() / 1000), data: '00eb32', seqNumber: 12, ack: false });
      expect((await latestUplink('sigfox', device)).uplink).toMatchObject({ port: null, decoded: { temperature: 23.5, humidity: 50, fPort: 1 }, decodeErrors: [] });
    });

    it("decodes a ChirpStack uplink without an object, and keeps ChirpStack's own object", async () => {
      const externalId = randomEui();
      const up = (object?: Json) =>
        upEvent({
          device: { devEui: externalId, applicationId: CS_APP },
          time: { date: new Date('2026-12-01T10:00:00.250Z') },
          fCnt: Math.floor(Math.random() * 60000),
          fPort: 7,
          data: Buffer.from('00eb32', 'hex'),
          gateways: [{ gatewayId: '0016c001ff10a235', rssi: -80, snr: 7 }],
          frequency: 868100000,
          object,
        }).json();
      await ingest('chirpstack', '?event=up', up());
      expect((await latestUplink('chirpstack', externalId)).uplink).toMatchObject({
        port: 7,
        decoded: { temperature: 23.5, humidity: 50, fPort: 7, at: '2026-12-01T10:00:00.250Z' },
        decodeErrors: [],
      });
      await ingest('chirpstack', '?event=up', up({ fromChirpStack: true }));
      const kept = (await latestUplink('chirpstack', externalId)).uplink;
      expect(kept.decoded).toEqual({ fromChirpStack: true });
      expect(kept).not.toHaveProperty('decodeErrors');
    });

    it("keeps the network's own decoded payload, unless codecOverrides", async () => {
      const externalId = randomEui();
      await ingest('tts', '', ttsUplinkOf(externalId, '00eb32', { decoded_payload: { fromTts: true } }));
      const kept = (await latestUplink('tts', externalId)).uplink;
      expect(kept.decoded).toEqual({ fromTts: true });
      expect(kept).not.toHaveProperty('decodeErrors');

      expect((await api('PATCH', `/api/devices/${await deviceIdOf('tts', externalId)}`, { codecOverrides: true })).body).toMatchObject({ codecId: null, codecOverrides: true });
      await ingest('tts', '', ttsUplinkOf(externalId, '00eb32', { decoded_payload: { fromTts: true } }));
      expect((await latestUplink('tts', externalId)).uplink.decoded).toMatchObject({ temperature: 23.5 });
    });

    it("runs a device's own codec instead of its connection's, and none without either", async () => {
      const own = `own-${run}`;
      expect((await createCodec(own, OTHER_SCRIPT)).status).toBe(201);
      const externalId = randomEui();
      await ingest('helium', '', heliumUplinkOf(externalId, '00eb32'));
      const deviceId = await deviceIdOf('helium', externalId);
      expect(await api('PATCH', `/api/devices/${deviceId}`, { codecId: own })).toMatchObject({ status: 200, body: { codecId: own } });
      expect((await api('GET', `/api/devices/${deviceId}`)).body).toMatchObject({ codecId: own, codecOverrides: null });
      await ingest('helium', '', heliumUplinkOf(externalId, '00eb32'));
      expect((await latestUplink('helium', externalId)).uplink.decoded).toEqual({ device: 'own', length: 3 });
      expect(await api('DELETE', `/api/codecs/${own}`)).toMatchObject({ status: 409, body: { message: expect.stringContaining('1 device(s)') } });

      expect((await api('PATCH', `/api/devices/${deviceId}`, { codecId: null })).body.codecId).toBeNull();
      await ingest('helium', '', heliumUplinkOf(externalId, '00eb32'));
      expect((await latestUplink('helium', externalId)).uplink.decoded).toMatchObject({ temperature: 23.5 });

      const plain = randomEui();
      await ingest('plain', '', heliumUplinkOf(plain, '00eb32'));
      expect((await latestUplink('plain', plain)).uplink).toEqual(expect.objectContaining({ decoded: null }));
      expect((await latestUplink('plain', plain)).uplink).not.toHaveProperty('decodeErrors');
    });

    it('takes a codecId when a device is registered, and decodes its first uplink with it', async () => {
      const own = `registered-${run}`;
      await createCodec(own, OTHER_SCRIPT);
      const registration = { connectionId: conn.tts, name: 'Registered', joinEui: '70B3D57ED0008E64', appKey: '30EACA8A2CAF0C5315D0E4A1B7F7B55B' };
      expect(await api('POST', '/api/devices', { ...registration, devEui: randomEui(), codecId: `missing-${run}` })).toMatchObject({
        status: 400,
        body: { message: `codecId: no codec "missing-${run}"` },
      });
      const externalId = randomEui();
      expect(await api('POST', '/api/devices', { ...registration, devEui: externalId, codecId: own })).toMatchObject({ status: 201, body: { codecId: own, codecOverrides: null } });
      await ingest('tts', '', ttsUplinkOf(externalId, '00eb32'));
      expect((await latestUplink('tts', externalId)).uplink.decoded).toEqual({ device: 'own', length: 3 });
    });

    it('uses a replaced codec from its next uplink on', async () => {
      const id = `replaced-${run}`;
      await createCodec(id, 'function decodeUplink() { return { data: { v: 1 } } }');
      const externalId = randomEui();
      await ingest('plain', '', heliumUplinkOf(externalId, '01'));
      await api('PATCH', `/api/devices/${await deviceIdOf('plain', externalId)}`, { codecId: id });
      await ingest('plain', '', heliumUplinkOf(externalId, '01'));
      expect((await latestUplink('plain', externalId)).uplink.decoded).toEqual({ v: 1 });
      await api('PUT', `/api/codecs/${id}`, { name: id, script: 'function decodeUplink() { return { data: { v: 2 } } }' });
      await ingest('plain', '', heliumUplinkOf(externalId, '01'));
      expect((await latestUplink('plain', externalId)).uplink.decoded).toEqual({ v: 2 });
    });

    it('contains every hostile script: the event is stored with an error entry and the bridge answers /health/live within 1 s, during and after', async () => {
      const externalId = randomEui();
      await ingest('plain', '', heliumUplinkOf(externalId, '01'));
      const deviceId = await deviceIdOf('plain', externalId);
      for (const [name, script] of Object.entries(HOSTILE)) {
        const id = `hostile-${run}-${Object.keys(HOSTILE).indexOf(name)}`;
        expect((await createCodec(id, script)).status).toBe(201);
        expect((await api('PATCH', `/api/devices/${deviceId}`, { codecId: id })).status).toBe(200);
        // While the script runs, and after: the bridge's event loop is never the script's.
        const stored = ingest('plain', '', heliumUplinkOf(externalId, '01'));
        const during = await fetch(`${bridge.url}/health/live`, { signal: AbortSignal.timeout(1000) });
        await stored;
        const after = await fetch(`${bridge.url}/health/live`, { signal: AbortSignal.timeout(1000) });
        expect({ name, during: during.status, after: after.status }).toEqual({ name, during: 200, after: 200 });
        const { uplink } = await latestUplink('plain', externalId);
        expect({ name, decoded: uplink.decoded, errors: uplink.decodeErrors.length }).toEqual({ name, decoded: null, errors: 1 });
      }
      const { body } = await api('GET', `/api/events?type=uplink&connectionId=${conn.plain}&externalId=${externalId}&limit=100`);
      const errors = (body.data as Json[]).map((event) => event.uplink.decodeErrors?.[0]).filter(Boolean).reverse();
      expect(errors).toEqual([
        'stopped after 50 ms (time limit)',
        expect.stringMatching(/^(out of memory|killed after)/),
        'stack overflow (recursion too deep)',
        expect.stringMatching(/^ReferenceError: .*require/),
        expect.stringMatching(/^ReferenceError: .*process/),
        expect.stringMatching(/^TypeError/),
        expect.stringMatching(/^TypeError: .*circular/),
        expect.stringMatching(/^TypeError: .*BigInt/),
        'TypeError: the result is not JSON: it holds a function at "f"',
        'Error: cannot decode (line 1, column 42)',
        'decodeUplink returned data that cannot be stored: NUL characters (\\u0000) are not accepted',
      ]);
    });

    it('counts calls, errors and time per codec in /metrics', async () => {
      const metrics = await (await fetch(`${bridge.url}/metrics`)).text();
      expect(metrics).toMatch(new RegExp(`lpwan_codec_calls_total\\{codec="${th}",function="decodeUplink",outcome="ok"\\} [1-9]`));
      expect(metrics).toMatch(new RegExp(`lpwan_codec_calls_total\\{codec="${th}",function="decodeUplink",outcome="error"\\} [1-9]`));
      expect(metrics).toMatch(new RegExp(`lpwan_codec_call_seconds_count\\{codec="${th}",function="decodeUplink"\\} [1-9]`));
    });
  });

  describe('downlinks given as data', () => {
    const ttsDevice = async () => {
      const externalId = randomEui();
      tts.seedDevice(TTS_APP, `eui-${externalId.toLowerCase()}`, { dev_eui: externalId }, ['as']);
      await ingest('tts', '', ttsUplinkOf(externalId, '00eb32'));
      return { externalId, id: await deviceIdOf('tts', externalId) };
    };

    it("sends the bytes and fPort of the codec's encodeDownlink to TTS", async () => {
      const device = await ttsDevice();
      const response = await api('POST', `/api/devices/${device.id}/downlinks`, { data: { interval: 300 }, confirmed: true });
      expect(response).toMatchObject({ status: 202, body: { port: 10, payloadHex: '01012c', confirmed: true } });
      const push = await waitFor(() => tts.downlinks.find((d) => d.deviceId === `eui-${device.externalId.toLowerCase()}`));
      expect(push.downlinks[0]).toMatchObject({ f_port: 10, frm_payload: Buffer.from('01012c', 'hex').toString('base64'), confirmed: true });
    });

    it('refuses with 400 what the codec refuses, naming its errors, and data for a device without a codec', async () => {
      const device = await ttsDevice();
      expect(await api('POST', `/api/devices/${device.id}/downlinks`, { data: { interval: 'soon' } })).toMatchObject({
        status: 400,
        body: { message: `data: codec "${th}" refused it: data.interval must be a number of minutes` },
      });
      expect(await api('POST', `/api/devices/${device.id}/downlinks`, { data: { interval: 1 }, payloadHex: '01' })).toMatchObject({ status: 400 });

      const plain = randomEui();
      await ingest('plain', '', heliumUplinkOf(plain, '01'));
      expect(await api('POST', `/api/devices/${await deviceIdOf('plain', plain)}/downlinks`, { data: { interval: 1 } })).toMatchObject({
        status: 400,
        body: { message: expect.stringContaining('has no codec') },
      });
    });

    it('encodes data published on the MQTT command topic', async () => {
      const device = await ttsDevice();
      await publisher.publishAsync(`${bridge.topicPrefix}/tts/${device.externalId}/command/down`, JSON.stringify({ data: { interval: 2 } }), { qos: 1 });
      const push = await waitFor(() => tts.downlinks.find((d) => d.deviceId === `eui-${device.externalId.toLowerCase()}`));
      expect(push.downlinks[0]).toMatchObject({ f_port: 10, frm_payload: Buffer.from('010002', 'hex').toString('base64') });
    });
  });
});

async function waitFor<T>(read: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(50);
  }
}

import mqtt, { MqttClient } from 'mqtt';
import { randomBytes, randomUUID } from 'node:crypto';
import heliumUplink from '../fixtures/helium-uplink.json';
import { FakeHelium } from '../fakes/fake-helium';
import { deviceEvent, FakeTts, TTS_API_KEY } from '../fakes/fake-tts';
import { TestBridge } from '../support/bridge';
import { TEST_MQTT_URL } from '../support/env';
import { MqttCollector, sleep } from '../support/mqtt-collector';

type Json = Record<string, any>;

const NO_DOWNLINK_URL = 'no downlink_url yet: the device has not sent an uplink through the HTTP integration';
const TTS_APP = 'app1';
/**
 * Every bridge consumes the TTS streams of the connections it can open, and test files share one
 * database: a SECRETS_KEY of this file's own keeps other files' bridges off this file's stream.
 */
const SETTINGS = { SECRETS_KEY: randomBytes(32).toString('hex') };

/** Distinct device ids per run: the test database is shared by the test files of a run. */
const eui = () => randomBytes(8).toString('hex').toUpperCase();
/** 6 digits without a leading zero: the canonical id the bridge names the device by, with room for padding. */
const sigfoxDeviceId = () => `5${randomBytes(3).toString('hex').slice(1).toUpperCase()}`;

async function waitUntil<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out; last value: ${JSON.stringify(value)}`);
    await sleep(50);
  }
}

describe('downlinks over REST and MQTT, per network', () => {
  let bridge: TestBridge;
  let events: MqttCollector;
  let publisher: MqttClient;
  const helium = new FakeHelium();
  const tts = new FakeTts();
  const run = randomBytes(3).toString('hex');
  const conn = { helium: `helium-dl-${run}`, tts: `tts-dl-${run}`, sigfox: `sigfox-dl-${run}` };
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    await Promise.all([helium.start(), tts.start()]);
    bridge = await TestBridge.start(SETTINGS);
    // Only events: the commands the test publishes are not all JSON.
    events = await MqttCollector.subscribe(`${bridge.topicPrefix}/+/+/event/#`);
    publisher = await mqtt.connectAsync(TEST_MQTT_URL);
    tokens.helium = (await bridge.createConnection({ id: conn.helium, network: 'helium' })).ingestToken;
    tokens.tts = (
      await bridge.createConnection({ id: conn.tts, network: 'tts', settings: { baseUrl: tts.baseUrl, applicationId: TTS_APP, apiKey: TTS_API_KEY } })
    ).ingestToken;
    tokens.sigfox = (await bridge.createConnection({ id: conn.sigfox, network: 'sigfox' })).ingestToken;
  });

  afterAll(async () => {
    await publisher.endAsync();
    await events.close();
    await bridge.stop();
    await Promise.all([helium.stop(), tts.stop()]);
  });

  const ingest = async (network: 'helium' | 'tts' | 'sigfox', path: string, body: unknown) => {
    const response = await bridge.post(`/ingest/${network}/${conn[network]}${path}`, body, { 'x-bridge-token': tokens[network] });
    if (response.status >= 300) throw new Error(`ingest: ${response.status} ${await response.text()}`);
    return response;
  };

  /** The registry id of a device, found through its events. */
  const deviceId = async (network: 'helium' | 'tts' | 'sigfox', externalId: string): Promise<string> => {
    const page = (await (await bridge.api('GET', `/api/events?connectionId=${conn[network]}&externalId=${externalId}`)).json()) as Json;
    return page.data[0].device.id;
  };

  /** A Helium device discovered from an uplink through the HTTP integration (which carries downlink_url). */
  const heliumDevice = async (): Promise<{ id: string; externalId: string }> => {
    const externalId = eui();
    await ingest('helium', '', helium.uplinkBody({ dev_eui: externalId }));
    return { id: await deviceId('helium', externalId), externalId };
  };

  /** A TTS device discovered from a webhook uplink; its TTS id is its name. */
  const ttsDevice = async (ttsDeviceId: string, registered = true): Promise<{ id: string; externalId: string }> => {
    const externalId = eui();
    if (registered) tts.seedDevice(TTS_APP, ttsDeviceId, { dev_eui: externalId }, ['as']);
    const now = new Date().toISOString();
    await ingest('tts', '', {
      end_device_ids: { device_id: ttsDeviceId, application_ids: { application_id: TTS_APP }, dev_eui: externalId },
      received_at: now,
      uplink_message: { f_port: 1, f_cnt: 1, frm_payload: 'AQI=', received_at: now },
    });
    return { id: await deviceId('tts', externalId), externalId };
  };

  const ttsMessage = (device: { externalId: string }, ttsDeviceId: string, message: Json) => ({
    end_device_ids: { device_id: ttsDeviceId, application_ids: { application_id: TTS_APP }, dev_eui: device.externalId },
    correlation_ids: ['as:up:01HX'],
    received_at: new Date().toISOString(),
    ...message,
  });

  const sendDownlink = async (id: string, body: unknown): Promise<{ status: number; body: Json }> => {
    const response = await bridge.api('POST', `/api/devices/${id}/downlinks`, body);
    return { status: response.status, body: (await response.json()) as Json };
  };

  const listDownlinks = async (id: string, query = ''): Promise<Json> => (await (await bridge.api('GET', `/api/devices/${id}/downlinks${query}`)).json()) as Json;

  const downlinkState = (deviceId: string, downlinkId: string, states: string[]) =>
    waitUntil(
      async () => ((await listDownlinks(deviceId)).data as Json[]).find((d) => d.id === downlinkId),
      (d) => d !== undefined && states.includes(d.state),
    );

  /** The lifecycle steps published for one downlink, in arrival order. */
  const lifecycle = (network: string, externalId: string, downlinkId: string): string[] =>
    events.messages
      .filter((m) => m.topic.startsWith(`${bridge.topicPrefix}/${network}/${externalId}/event/down/`) && (m.payload as Json).ack?.downlinkId === downlinkId)
      .map((m) => m.topic.split('/').pop() as string);

  const waitForLifecycle = (network: string, externalId: string, downlinkId: string, steps: string[]) =>
    events.waitFor(() => lifecycle(network, externalId, downlinkId).length >= steps.length, 15_000);

  describe('Helium', () => {
    it('POSTs the downlink to the downlink_url of the latest uplink, and publishes queued → sent', async () => {
      const device = await heliumDevice();
      const { status, body } = await sendDownlink(device.id, { port: 2, payloadHex: '0A0B0C', confirmed: true });
      expect(status).toBe(202);
      expect(body).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        deviceId: device.id,
        port: 2,
        payloadHex: '0a0b0c',
        payloadBase64: 'CgsM',
        confirmed: true,
        state: 'queued',
        error: null,
        createdAt: expect.any(String),
        sentAt: null,
      });

      const received = await waitUntil(async () => helium.downlinks.find((d) => d.payload_raw === 'CgsM'), Boolean);
      expect(received).toMatchObject({ payload_raw: 'CgsM', port: 2, confirmed: true });
      expect(received?.body).toEqual({ payload_raw: 'CgsM', port: 2, confirmed: true });
      const sent = await downlinkState(device.id, body.id, ['sent']);
      expect(sent?.sentAt).toEqual(expect.any(String));

      await waitForLifecycle('helium', device.externalId, body.id, ['queued', 'sent']);
      expect(lifecycle('helium', device.externalId, body.id)).toEqual(['queued', 'sent']);
      const queued = events.on(`${bridge.topicPrefix}/helium/${device.externalId}/event/down/queued`).find((m) => (m.payload as Json).ack.downlinkId === body.id);
      expect(queued?.payload).toMatchObject({ type: 'downlink.queued', network: 'helium', connectionId: conn.helium, device: { id: device.id }, ack: { downlinkId: body.id, info: null } });
    });

    it('takes the payload as base64 too', async () => {
      const device = await heliumDevice();
      const { status, body } = await sendDownlink(device.id, { port: 9, payloadBase64: 'AQIDBA==' });
      expect(status).toBe(202);
      expect(body).toMatchObject({ payloadHex: '01020304', payloadBase64: 'AQIDBA==', confirmed: false });
      await waitUntil(async () => helium.downlinks.find((d) => d.payload_raw === 'AQIDBA=='), Boolean);
    });

    it('fails a downlink for a device that has sent no uplink through the HTTP integration, with the reason', async () => {
      const externalId = eui();
      await ingest('helium', '', { ...heliumUplink, dev_eui: externalId });
      const id = await deviceId('helium', externalId);
      const { status, body } = await sendDownlink(id, { port: 1, payloadHex: '01' });
      expect(status).toBe(202);
      const failed = await downlinkState(id, body.id, ['failed', 'sent']);
      expect(failed).toMatchObject({ state: 'failed', error: NO_DOWNLINK_URL });
      await waitForLifecycle('helium', externalId, body.id, ['queued', 'failed']);
      expect(lifecycle('helium', externalId, body.id)).toEqual(['queued', 'failed']);
      expect(events.on(`${bridge.topicPrefix}/helium/${externalId}/event/down/failed`)[0].payload.ack).toEqual({ downlinkId: body.id, info: NO_DOWNLINK_URL });
    });
  });

  describe('TTS', () => {
    it('pushes to the Application Server with a bridge correlation id; TTS acks settle it: queued → sent → acked', async () => {
      const device = await ttsDevice(`dev-${run}-a`);
      const { status, body } = await sendDownlink(device.id, { port: 15, payloadHex: 'cafe', confirmed: true });
      expect(status).toBe(202);

      const push = await waitUntil(async () => tts.downlinks.find((d) => d.deviceId === `dev-${run}-a`), Boolean);
      expect(push).toMatchObject({ applicationId: TTS_APP, operation: 'push' });
      expect(push?.headers.authorization).toBe(`Bearer ${TTS_API_KEY}`);
      expect(push?.downlinks).toEqual([
        { f_port: 15, frm_payload: 'yv4=', confirmed: true, priority: 'NORMAL', correlation_ids: [`lpwan-bridge:${body.id}`] },
      ]);
      await downlinkState(device.id, body.id, ['sent']);
      await waitForLifecycle('tts', device.externalId, body.id, ['queued', 'sent']);

      // TTS reports its own downlink_queued of it (one lifecycle step, already published), then the ack.
      const ttsDownlink = { f_port: 15, frm_payload: 'yv4=', confirmed: true, correlation_ids: [`lpwan-bridge:${body.id}`, 'as:downlink:01HX'] };
      await ingest('tts', '', ttsMessage(device, `dev-${run}-a`, { downlink_queued: ttsDownlink }));
      await ingest('tts', '', ttsMessage(device, `dev-${run}-a`, { downlink_ack: ttsDownlink }));
      expect(await downlinkState(device.id, body.id, ['acked'])).toMatchObject({ state: 'acked', error: null });
      await waitForLifecycle('tts', device.externalId, body.id, ['queued', 'sent', 'acked']);
      await sleep(300);
      expect(lifecycle('tts', device.externalId, body.id)).toEqual(['queued', 'sent', 'acked']);
      const acked = events.on(`${bridge.topicPrefix}/tts/${device.externalId}/event/down/acked`)[0].payload;
      expect(acked).toMatchObject({ type: 'downlink.acked', ack: { downlinkId: body.id } });
    });

    it('settles a downlink from the ack that comes over the events stream too', async () => {
      const connectionId = `tts-dls-${run}`;
      const applicationId = `app-stream-${run}`;
      const { ingestToken } = await bridge.createConnection({
        id: connectionId,
        network: 'tts',
        settings: { baseUrl: tts.baseUrl, applicationId, apiKey: TTS_API_KEY, stream: true },
      });
      const ref = { applicationId, deviceId: `dev-${run}-stream`, devEui: eui() };
      tts.seedDevice(applicationId, ref.deviceId, { dev_eui: ref.devEui }, ['as']);
      const now = new Date().toISOString();
      const uplink = {
        end_device_ids: { device_id: ref.deviceId, application_ids: { application_id: applicationId }, dev_eui: ref.devEui },
        received_at: now,
        uplink_message: { f_port: 1, f_cnt: 1, frm_payload: 'AQI=', received_at: now },
      };
      expect((await bridge.post(`/ingest/tts/${connectionId}`, uplink, { 'x-bridge-token': ingestToken })).status).toBe(200);
      const page = (await (await bridge.api('GET', `/api/events?connectionId=${connectionId}&externalId=${ref.devEui}`)).json()) as Json;
      const id = page.data[0].device.id as string;

      const { body } = await sendDownlink(id, { port: 2, payloadHex: '0102', confirmed: true });
      await downlinkState(id, body.id, ['sent']);
      await waitUntil(async () => tts.openStreams, (n) => n > 0);
      const downlink = { f_port: 2, frm_payload: 'AQI=', confirmed: true, correlation_ids: [`lpwan-bridge:${body.id}`] };
      tts.pushEvent(deviceEvent('as.down.data.ack.forward', ref, { received_at: new Date().toISOString(), downlink_ack: downlink }));
      expect(await downlinkState(id, body.id, ['acked'])).toMatchObject({ state: 'acked' });
      await waitForLifecycle('tts', ref.devEui, body.id, ['queued', 'sent', 'acked']);
      expect(lifecycle('tts', ref.devEui, body.id)).toEqual(['queued', 'sent', 'acked']);
      expect((await bridge.api('DELETE', `/api/connections/${connectionId}`)).status).toBe(204);
    });

    it('pushes a device downlinks in the order they were asked for', async () => {
      const device = await ttsDevice(`dev-${run}-order`);
      const payloads = ['b1', 'b2', 'b3', 'b4', 'b5'];
      // A slow first push: the later downlinks must wait for it rather than overtake it.
      tts.delayNext({ method: 'POST', path: new RegExp(`/devices/dev-${run}-order/down/push$`), ms: 400 });
      for (const hex of payloads) expect((await sendDownlink(device.id, { port: 1, payloadHex: hex })).status).toBe(202);
      const pushed = () => tts.downlinks.filter((d) => d.deviceId === `dev-${run}-order`).map((d) => d.downlinks[0].frm_payload);
      await waitUntil(async () => pushed().length, (n) => n === payloads.length);
      expect(pushed()).toEqual(payloads.map((hex) => Buffer.from(hex, 'hex').toString('base64')));
    });

    it('fails a downlink TTS refuses (4xx) with its message, without retrying', async () => {
      const device = await ttsDevice(`ghost-${run}`, false);
      const { body } = await sendDownlink(device.id, { port: 1, payloadHex: '00' });
      const failed = await downlinkState(device.id, body.id, ['failed', 'sent']);
      expect(failed?.state).toBe('failed');
      expect(failed?.error).toMatch(/^TTS answered 404: error:pkg\/.+not_found/);
      expect(tts.requests.filter((r) => r.path.includes(`/devices/ghost-${run}/down/push`))).toHaveLength(1);
      await waitForLifecycle('tts', device.externalId, body.id, ['queued', 'failed']);
      expect(lifecycle('tts', device.externalId, body.id)).toEqual(['queued', 'failed']);
    });

    it('retries a 5xx and sends once TTS recovers', async () => {
      const device = await ttsDevice(`dev-${run}-b`);
      tts.failNext({ method: 'POST', path: new RegExp(`/devices/dev-${run}-b/down/push$`), status: 503 });
      const { body } = await sendDownlink(device.id, { port: 1, payloadHex: '01' });
      expect(await downlinkState(device.id, body.id, ['sent', 'failed'])).toMatchObject({ state: 'sent' });
      expect(tts.requests.filter((r) => r.path.includes(`/devices/dev-${run}-b/down/push`))).toHaveLength(2);
    });

    it('fails a downlink after a few tries when TTS keeps answering 5xx', async () => {
      const device = await ttsDevice(`dev-${run}-c`);
      tts.failNext({ method: 'POST', path: new RegExp(`/devices/dev-${run}-c/down/push$`), status: 503, times: 100 });
      const { body } = await sendDownlink(device.id, { port: 1, payloadHex: '01' });
      const failed = await downlinkState(device.id, body.id, ['sent', 'failed']);
      expect(failed).toMatchObject({ state: 'failed', error: expect.stringMatching(/^TTS answered 503/) });
      expect(tts.requests.filter((r) => r.path.includes(`/devices/dev-${run}-c/down/push`))).toHaveLength(5);
      tts.clear();
    });
  });

  describe('Sigfox', () => {
    const sigfoxDevice = sigfoxDeviceId();
    const dataCallback = (seq: number, ack: boolean) => ({
      device: sigfoxDevice,
      time: String(1_700_000_000 + seq),
      data: '0a1b2c3d',
      seqNumber: String(seq),
      ack: String(ack),
    });

    it('holds the downlink until the next BIDIR callback answers it, then 204; ACKNOWLEDGE acks it', async () => {
      await ingest('sigfox', '/data', dataCallback(1, false));
      const id = await deviceId('sigfox', sigfoxDevice);

      const { status, body } = await sendDownlink(id, { port: 3, payloadHex: '0102030405060708' });
      expect(status).toBe(202);
      expect(body).toMatchObject({ port: null, payloadHex: '0102030405060708', state: 'queued' });
      await sleep(300);
      expect((await listDownlinks(id)).data[0]).toMatchObject({ id: body.id, state: 'queued' });

      const answer = await ingest('sigfox', '/data', dataCallback(2, true));
      expect(answer.status).toBe(200);
      expect(await answer.json()).toEqual({ [sigfoxDevice]: { downlinkData: '0102030405060708' } });
      expect((await listDownlinks(id)).data[0]).toMatchObject({ id: body.id, state: 'sent', sentAt: expect.any(String) });
      expect((await ingest('sigfox', '/data', dataCallback(3, true))).status).toBe(204);

      expect((await ingest('sigfox', '/service', { device: sigfoxDevice, time: '1700000010', downlinkAck: 'true', infoCode: '0' })).status).toBe(200);
      expect((await listDownlinks(id)).data[0]).toMatchObject({ id: body.id, state: 'acked' });
      await waitForLifecycle('sigfox', sigfoxDevice, body.id, ['queued', 'sent', 'acked']);
      expect(lifecycle('sigfox', sigfoxDevice, body.id)).toEqual(['queued', 'sent', 'acked']);
    });
  });

  describe('validation', () => {
    let lorawanId: string;
    let sigfoxId: string;

    beforeAll(async () => {
      lorawanId = (await heliumDevice()).id;
      const sigfoxDevice = sigfoxDeviceId();
      await ingest('sigfox', '/data', { device: sigfoxDevice, time: '1700000100', data: '00', seqNumber: '1', ack: 'false' });
      sigfoxId = await deviceId('sigfox', sigfoxDevice);
    });

    it.each([
      ['port 0', { port: 0, payloadHex: '01' }, /^port: must be 1 to 223/],
      ['port 224', { port: 224, payloadHex: '01' }, /^port: must be 1 to 223/],
      ['no port on LoRaWAN', { payloadHex: '01' }, /^port: is required/],
      ['a port that is not an integer', { port: 1.5, payloadHex: '01' }, /^port: /],
      ['odd-length hex', { port: 1, payloadHex: 'abc' }, /^payloadHex: must be hex/],
      ['non-hex characters', { port: 1, payloadHex: 'zz' }, /^payloadHex: must be hex/],
      ['invalid base64', { port: 1, payloadBase64: 'AQI' }, /^payloadBase64: must be base64/],
      ['both hex and base64', { port: 1, payloadHex: '01', payloadBase64: 'AQ==' }, /payloadHex: give exactly one of payloadHex, payloadBase64 and data/],
      ['no payload', { port: 1 }, /payloadHex: give exactly one/],
      ['an empty payload', { port: 1, payloadHex: '' }, /^payloadHex: must not be empty/],
      ['243 bytes on LoRaWAN', { port: 1, payloadHex: '00'.repeat(243) }, /^payloadHex: must be at most 242 bytes for LoRaWAN, got 243/],
      ['confirmed that is not a boolean', { port: 1, payloadHex: '01', confirmed: 'yes' }, /^confirmed: /],
      ['an unknown field', { port: 1, payloadHex: '01', fport: 2 }, /fport/],
    ])('refuses %s with 400 naming the field (LoRaWAN)', async (_name, body, message) => {
      const { status, body: error } = await sendDownlink(lorawanId, body);
      expect(status).toBe(400);
      expect(error).toMatchObject({ statusCode: 400, error: 'Bad Request' });
      expect(error.message).toMatch(message);
    });

    it('accepts 242 bytes on LoRaWAN', async () => {
      expect((await sendDownlink(lorawanId, { port: 223, payloadHex: 'ab'.repeat(242) })).status).toBe(202);
    });

    it.each([
      ['9 bytes', { payloadHex: '00'.repeat(9) }, /^payloadHex: must be exactly 8 bytes for Sigfox, got 9/],
      ['7 bytes as base64', { payloadBase64: 'AAAAAAAAAA==' }, /^payloadBase64: must be exactly 8 bytes for Sigfox, got 7/],
    ])('refuses a Sigfox payload of %s with 400', async (_name, body, message) => {
      const { status, body: error } = await sendDownlink(sigfoxId, body);
      expect(status).toBe(400);
      expect(error.message).toMatch(message);
    });

    it('stores nothing it refused', async () => {
      const page = await listDownlinks(sigfoxId);
      expect(page).toEqual({ data: [], nextCursor: null });
    });

    it('answers 404 for an unknown device and 400 for a malformed device id', async () => {
      const unknown = await sendDownlink(randomUUID(), { port: 1, payloadHex: '01' });
      expect(unknown.status).toBe(404);
      expect(unknown.body.message).toMatch(/device ".+" not found/);
      expect((await bridge.api('GET', `/api/devices/${randomUUID()}/downlinks`)).status).toBe(404);
      expect((await sendDownlink('not-a-uuid', { port: 1, payloadHex: '01' })).status).toBe(400);
    });

    it('needs the API key', async () => {
      const response = await bridge.post(`/api/devices/${lorawanId}/downlinks`, { port: 1, payloadHex: '01' });
      expect(response.status).toBe(401);
    });
  });

  it('lists a device downlinks newest first, a page at a time', async () => {
    const device = await heliumDevice();
    const ids: string[] = [];
    for (const hex of ['01', '02', '03']) ids.push((await sendDownlink(device.id, { port: 1, payloadHex: hex })).body.id);
    const first = await listDownlinks(device.id, '?limit=2');
    expect(first.data.map((d: Json) => d.id)).toEqual([ids[2], ids[1]]);
    expect(first.nextCursor).toBe(ids[1]);
    const second = await listDownlinks(device.id, `?limit=2&cursor=${first.nextCursor}`);
    expect(second).toEqual({ data: [expect.objectContaining({ id: ids[0], payloadHex: '01' })], nextCursor: null });
    expect((await bridge.api('GET', `/api/devices/${device.id}/downlinks?cursor=nope`)).status).toBe(400);
  });

  describe('MQTT command/down', () => {
    const command = (network: string, externalId: string, body: unknown) =>
      publisher.publishAsync(`${bridge.topicPrefix}/${network}/${externalId}/command/down`, typeof body === 'string' ? body : JSON.stringify(body), { qos: 1 });

    it('queues and sends a downlink like the REST API, with the same lifecycle events', async () => {
      const device = await heliumDevice();
      await command('helium', device.externalId.toLowerCase(), { port: 7, payloadHex: 'beef', confirmed: false });
      const received = await waitUntil(async () => helium.downlinks.find((d) => d.payload_raw === 'vu8='), Boolean);
      expect(received?.body).toEqual({ payload_raw: 'vu8=', port: 7, confirmed: false });
      const [downlink] = (await waitUntil(() => listDownlinks(device.id), (page) => page.data[0]?.state === 'sent')).data;
      expect(downlink).toMatchObject({ port: 7, payloadHex: 'beef', state: 'sent' });
      await waitForLifecycle('helium', device.externalId, downlink.id, ['queued', 'sent']);
      expect(lifecycle('helium', device.externalId, downlink.id)).toEqual(['queued', 'sent']);
    });

    it('pushes a TTS downlink the same way', async () => {
      const device = await ttsDevice(`dev-${run}-mqtt`);
      await command('tts', device.externalId, { port: 4, payloadBase64: 'AQ==' });
      const push = await waitUntil(async () => tts.downlinks.find((d) => d.deviceId === `dev-${run}-mqtt`), Boolean);
      expect(push?.downlinks[0]).toMatchObject({ f_port: 4, frm_payload: 'AQ==', confirmed: false });
    });

    it('keeps the order of the commands of a device', async () => {
      const device = await heliumDevice();
      const payloads = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
      helium.delayNext({ method: 'POST', path: /^\/api\/v1\/down\//, ms: 400 });
      await Promise.all(payloads.map((hex) => command('helium', device.externalId, { port: 1, payloadHex: hex })));
      const base64 = payloads.map((hex) => Buffer.from(hex, 'hex').toString('base64'));
      const received = () => helium.downlinks.filter((d) => base64.includes(d.payload_raw)).map((d) => d.payload_raw);
      await waitUntil(async () => received().length, (n) => n === payloads.length);
      expect(received()).toEqual(base64);
    });

    it('turns an invalid command for a known device into an error event, and queues nothing', async () => {
      const device = await heliumDevice();
      const errorTopic = `${bridge.topicPrefix}/helium/${device.externalId}/event/error`;
      await command('helium', device.externalId, { port: 0, payloadHex: '01' });
      await command('helium', device.externalId, '{"port": 1, "payloadHex": ');
      await command('helium', device.externalId, { port: 1, payloadHex: '01', payloadBase64: 'AQ==' });
      // Bytes Postgres could not keep in the error event's raw copy of the command: NUL, and a 😀 cut in half at 1,024 characters.
      await command('helium', device.externalId, `{"port": 1, "payloadHex": "01\u0000${'x'.repeat(993)}😀"}`);
      await events.waitFor(() => events.on(errorTopic).length === 4);
      const infos = events.on(errorTopic).map((m) => (m.payload as Json).ack.info as string);
      expect(infos).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^downlink command refused: port: must be 1 to 223/),
          'downlink command refused: not JSON',
          expect.stringMatching(/^downlink command refused: payloadHex: give exactly one/),
        ]),
      );
      expect(infos.filter((info) => info === 'downlink command refused: not JSON')).toHaveLength(2);
      expect(events.on(errorTopic)[0].payload).toMatchObject({ type: 'error', network: 'helium', device: { id: device.id } });
      expect((await listDownlinks(device.id)).data).toEqual([]);
    });

    it('takes a Sigfox command on a zero-padded topic for the device, answered on its next BIDIR callback', async () => {
      const sigfoxDevice = sigfoxDeviceId();
      await ingest('sigfox', '/data', { device: sigfoxDevice, time: '1700000200', data: '00', seqNumber: '1', ack: 'false' });
      const id = await deviceId('sigfox', sigfoxDevice);
      await command('sigfox', `0${sigfoxDevice.toLowerCase()}`, { payloadHex: '0807060504030201' });
      const [downlink] = (await waitUntil(() => listDownlinks(id), (page) => page.data[0]?.state === 'queued')).data;
      expect(downlink).toMatchObject({ payloadHex: '0807060504030201', state: 'queued' });
      const answer = await ingest('sigfox', '/data', { device: `00${sigfoxDevice}`, time: '1700000201', data: '00', seqNumber: '2', ack: 'true' });
      expect(await answer.json()).toEqual({ [`00${sigfoxDevice}`]: { downlinkData: '0807060504030201' } });
      await waitForLifecycle('sigfox', sigfoxDevice, downlink.id, ['queued', 'sent']);
      expect(lifecycle('sigfox', sigfoxDevice, downlink.id)).toEqual(['queued', 'sent']);
    });

    it('drops a command for an unknown device (nothing is queued or published for it)', async () => {
      const unknown = eui();
      const device = await heliumDevice();
      await command('helium', unknown, { port: 1, payloadHex: 'dead' });
      await command('helium', device.externalId, { port: 1, payloadHex: 'f00d' });
      await waitUntil(async () => helium.downlinks.find((d) => d.payload_raw === '8A0='), Boolean);
      await sleep(300);
      expect(helium.downlinks.find((d) => d.payload_raw === '3q0=')).toBeUndefined();
      expect(events.messages.filter((m) => m.topic.includes(unknown))).toEqual([]);
      expect(((await (await bridge.api('GET', `/api/events?externalId=${unknown}`)).json()) as Json).data).toEqual([]);
    });

    it('hands each command to one bridge instance when several share the broker', async () => {
      const second = await TestBridge.start({ ...SETTINGS, BRIDGE_ROLE: 'worker', MQTT_TOPIC_PREFIX: bridge.topicPrefix, REDIS_PREFIX: bridge.settings.REDIS_PREFIX });
      try {
        await sleep(500); // its subscription is in place
        const device = await heliumDevice();
        const payloads = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6'];
        for (const hex of payloads) await command('helium', device.externalId, { port: 1, payloadHex: hex });
        const base64 = payloads.map((hex) => Buffer.from(hex, 'hex').toString('base64'));
        await waitUntil(async () => base64.every((b) => helium.downlinks.some((d) => d.payload_raw === b)), Boolean);
        await sleep(500);
        expect(helium.downlinks.filter((d) => base64.includes(d.payload_raw))).toHaveLength(payloads.length);
        expect((await listDownlinks(device.id, '?limit=100')).data).toHaveLength(payloads.length);
      } finally {
        await second.stop();
      }
    });
  });
});

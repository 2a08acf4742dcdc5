import { randomBytes } from 'node:crypto';
import { applicationUp, deviceEvent, FakeTts, TTS_API_KEY, uplinkEvent } from '../fakes/fake-tts';
import { parseTimestampMs } from '../fakes/util';
import { TestBridge } from '../support/bridge';
import { eventually, MqttCollector, sleep } from '../support/mqtt-collector';

/* This file's own SECRETS_KEY keeps other test files' bridges off its streams (see tts-stream.spec.ts). */
const SETTINGS = { SECRETS_KEY: randomBytes(32).toString('hex'), TTS_STREAM_LEASE_MS: '1000' };

interface StoredEvent {
  id: string;
  type: string;
  uplink: { fcnt: number } | null;
  radio: { gateways: Array<{ id: string }> } | null;
}

describe('TTS webhook', () => {
  const tts = new FakeTts();
  const applicationId = `app-${randomBytes(3).toString('hex')}`;
  const connectionId = `tts-wh-${randomBytes(3).toString('hex')}`;
  const devEui = `70B3D57ED0${randomBytes(3).toString('hex').toUpperCase()}`;
  let bridge: TestBridge;
  let mqtt: MqttCollector;
  let token: string;

  beforeAll(async () => {
    await tts.start();
    bridge = await TestBridge.start(SETTINGS);
    mqtt = await MqttCollector.subscribe(`${bridge.topicPrefix}/#`);
    const created = await bridge.createConnection({
      id: connectionId,
      network: 'tts',
      settings: { baseUrl: tts.baseUrl, applicationId, apiKey: TTS_API_KEY, stream: true },
    });
    token = created.ingestToken;
    expect(created.ingestUrls.webhook).toMatch(new RegExp(`/ingest/tts/${connectionId}$`));
    await tts.waitForStreams(1);
  });

  afterAll(async () => {
    await bridge.api('DELETE', `/api/connections/${connectionId}`);
    await mqtt.close();
    await bridge.stop();
    await tts.stop();
  });

  const webhook = (body: unknown, headers: Record<string, string> = { 'x-bridge-token': token }) =>
    bridge.post(`/ingest/tts/${connectionId}`, body, headers);
  const uplink = (fCnt: number) => uplinkEvent({ applicationId, deviceId: `dev-${devEui.toLowerCase()}`, devEui, fCnt, payloadBase64: 'AQI=' });
  const upTopic = () => `${bridge.topicPrefix}/tts/${devEui}/event/up`;
  const withFcnt = (fCnt: number) => (m: { payload: Record<string, unknown> }) => (m.payload.uplink as { fcnt: number } | null)?.fcnt === fCnt;

  async function storedEvents(): Promise<StoredEvent[]> {
    const response = await bridge.api('GET', `/api/events?connectionId=${connectionId}&limit=1000`);
    return ((await response.json()) as { data: StoredEvent[] }).data;
  }

  /** Waits until the stream consumer has handled `time` (its position reached it). */
  async function streamReached(time: string): Promise<void> {
    await eventually(
      `stream position ${time}`,
      async () => ((await (await bridge.api('GET', `/api/connections/${connectionId}/status`)).json()) as { stream: { position: string | null } }).stream.position,
      (position) => position !== null && Date.parse(position) >= parseTimestampMs(time),
    );
  }

  it('stores a webhook uplink and publishes it on {prefix}/tts/{DevEUI}/event/up', async () => {
    const response = await webhook(applicationUp(uplink(100)));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ id: expect.any(String), duplicate: false });
    await mqtt.waitFor(() => mqtt.on(upTopic()).some(withFcnt(100)));
    expect(mqtt.on(upTopic()).find(withFcnt(100))!.payload).toMatchObject({ type: 'uplink', network: 'tts', connectionId, uplink: { payloadHex: '0102' } });
  });

  it('keeps the webhook copy and the stream copy of one uplink as one event, published once (webhook first)', async () => {
    const event = uplink(101);
    const first = await webhook(applicationUp(event));
    expect(await first.json()).toMatchObject({ duplicate: false });
    tts.pushEvent(event);
    await streamReached(event.time);

    expect((await storedEvents()).filter((e) => e.uplink?.fcnt === 101)).toHaveLength(1);
    await mqtt.waitFor(() => mqtt.on(upTopic()).some(withFcnt(101)));
    await sleep(500);
    expect(mqtt.on(upTopic()).filter(withFcnt(101))).toHaveLength(1);
  });

  it('answers duplicate: true to the webhook copy of an uplink the stream brought first', async () => {
    const event = uplink(102);
    tts.pushEvent(event);
    await streamReached(event.time);
    const response = await webhook(applicationUp(event));
    expect(response.status).toBe(200);
    const body = (await response.json()) as { id: string; duplicate: boolean };
    expect(body.duplicate).toBe(true);

    const copies = (await storedEvents()).filter((e) => e.uplink?.fcnt === 102);
    expect(copies.map((e) => e.id)).toEqual([body.id]);
  });

  it('stores a downlink ack sent by webhook as downlink.acked', async () => {
    const ack = deviceEvent('as.down.data.ack.forward', { applicationId, deviceId: `dev-${devEui.toLowerCase()}`, devEui }, {
      received_at: new Date().toISOString(),
      downlink_ack: { f_port: 1, frm_payload: 'AQ==', correlation_ids: ['lpwan-bridge:downlink-1'] },
    });
    const response = await webhook(applicationUp(ack));
    expect(response.status).toBe(200);
    const topic = `${bridge.topicPrefix}/tts/${devEui}/event/down/acked`;
    await mqtt.waitFor(() => mqtt.on(topic).length === 1);
    expect(mqtt.on(topic)[0].payload).toMatchObject({ type: 'downlink.acked', ack: { downlinkId: 'lpwan-bridge:downlink-1' } });
  });

  describe('bad input gets a 4xx JSON error naming the problem, and stores nothing', () => {
    const body = () => applicationUp(uplink(200));
    const withUplink = (patch: Record<string, unknown>) => {
      const up = body();
      return { ...up, uplink_message: { ...(up.uplink_message as Record<string, unknown>), ...patch } };
    };
    const cases: Array<[string, () => Promise<Response>, number, RegExp]> = [
      ['f_cnt that is not a number', () => webhook(withUplink({ f_cnt: 'abc' })), 400, /uplink_message\.f_cnt/],
      ['frm_payload that is not base64', () => webhook(withUplink({ frm_payload: '%%%' })), 400, /uplink_message\.frm_payload/],
      ['no end_device_ids', () => webhook({ ...body(), end_device_ids: undefined }), 400, /end_device_ids/],
      ['no message at all', () => webhook({ end_device_ids: body().end_device_ids, received_at: new Date().toISOString() }), 400, /exactly one of/],
      ['truncated JSON', () => webhook('{"end_device_ids": {"device_id"'), 400, /JSON/i],
      ['a received_at in year 0 (Postgres has none)', () => webhook(withUplink({ received_at: '0000-06-01T00:00:00Z' })), 400, /uplink_message\.received_at: must be a time from year 1 on/],
      ['a missing token', () => webhook(body(), {}), 401, /token/],
      ['a wrong token', () => webhook(body(), { 'x-bridge-token': 'ing_wrong' }), 401, /token/],
      ['an unknown connection', () => bridge.post('/ingest/tts/no-such-connection', body(), { 'x-bridge-token': token }), 404, /no-such-connection/],
    ];

    it.each(cases)('%s', async (_name, send, status, message) => {
      const before = (await storedEvents()).length;
      const response = await send();
      expect(response.status).toBe(status);
      const error = (await response.json()) as { statusCode: number; error: string; message: string };
      expect(error).toMatchObject({ statusCode: status, error: expect.any(String) });
      expect(error.message).toMatch(message);
      expect((await storedEvents()).length).toBe(before);
    });
  });
});

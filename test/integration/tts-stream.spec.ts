import Redis from 'ioredis';
import { randomBytes } from 'node:crypto';
import { TTS_STREAM_EVENT_NAMES } from '../../src/networks/tts/tts.mapper';
import { deviceEvent, FakeTts, TTS_API_KEY, uplinkEvent } from '../fakes/fake-tts';
import { parseTimestampMs } from '../fakes/util';
import { TestBridge } from '../support/bridge';
import { BridgeProcess, freePort } from '../support/bridge-process';
import { testSettings } from '../support/env';
import { eventually, MqttCollector, sleep } from '../support/mqtt-collector';

/*
 * Every bridge consumes the streams of all TTS connections in its database, and test files share
 * one database. A SECRETS_KEY of this file's own keeps the bridges of other files (which cannot
 * open these connections' API keys) away from this file's streams, and this file's from theirs.
 */
const SETTINGS = {
  SECRETS_KEY: randomBytes(32).toString('hex'),
  TTS_STREAM_LEASE_MS: '1000',
  TTS_STREAM_IDLE_TIMEOUT_MS: '2500',
};

interface StoredEvent {
  id: string;
  type: string;
  device: { id: string; externalId: string };
  uplink: { fcnt: number; payloadHex: string } | null;
}

interface ConnectionStatus {
  stream: { state: string; error: string | null; position: string | null };
  lastEventAt: string | null;
}

describe('TTS events stream', () => {
  const tts = new FakeTts();
  let bridge: TestBridge;
  let mqtt: MqttCollector;
  let bridgeRunning = false;

  async function stopBridge(): Promise<void> {
    if (!bridgeRunning) return;
    bridgeRunning = false;
    await bridge.stop();
  }

  beforeAll(async () => {
    await tts.start();
    bridge = await TestBridge.start(SETTINGS);
    bridgeRunning = true;
    mqtt = await MqttCollector.subscribe(`${bridge.topicPrefix}/#`);
  });

  afterAll(async () => {
    await mqtt.close();
    await stopBridge();
    await tts.stop();
  });

  /** A connection with its own TTS application, so that each test sees only its own events. */
  async function streamingConnection(settings: Record<string, unknown> = {}, via = bridge) {
    const id = `tts-${randomBytes(3).toString('hex')}`;
    const applicationId = `app-${id}`;
    await via.createConnection({ id, network: 'tts', settings: { baseUrl: tts.baseUrl, applicationId, apiKey: TTS_API_KEY, stream: true, ...settings } });
    const devEui = `70B3D57ED0${randomBytes(3).toString('hex').toUpperCase()}`;
    const uplink = (fCnt: number, payloadBase64 = 'AQI=') =>
      uplinkEvent({ applicationId, deviceId: `dev-${devEui.toLowerCase()}`, devEui, fCnt, payloadBase64 });
    const requests = () => tts.streamRequests.filter((r) => r.request.identifiers?.[0]?.application_ids?.application_id === applicationId);
    return { id, applicationId, devEui, uplink, requests };
  }

  async function storedEvents(connectionId: string, via = bridge): Promise<StoredEvent[]> {
    const response = await via.api('GET', `/api/events?connectionId=${connectionId}&limit=1000`);
    return ((await response.json()) as { data: StoredEvent[] }).data;
  }

  async function status(connectionId: string, via = bridge): Promise<ConnectionStatus> {
    return (await (await via.api('GET', `/api/connections/${connectionId}/status`)).json()) as ConnectionStatus;
  }

  /** Deletes the connection and waits for its stream to close, so the next test starts with none open. */
  async function remove(connectionId: string, via = bridge): Promise<void> {
    expect((await via.api('DELETE', `/api/connections/${connectionId}`)).status).toBe(204);
    await eventually('the stream to close', () => tts.openStreams, (open) => open === 0);
  }

  const fcnts = (events: StoredEvent[]) => events.map((e) => e.uplink?.fcnt).sort((a, b) => (a ?? 0) - (b ?? 0));

  it('stores and publishes the events pushed on the stream, asked for with the right request', async () => {
    const connection = await streamingConnection();
    await tts.waitForStreams(1);

    const [request] = connection.requests();
    expect(request.headers.accept).toBe('text/event-stream');
    expect(request.headers.authorization).toBe(`Bearer ${TTS_API_KEY}`);
    expect(request.headers['user-agent']).toMatch(/^lpwan-bridge\/\d+\.\d+\.\d+/);
    expect(request.request).toEqual({
      identifiers: [{ application_ids: { application_id: connection.applicationId } }],
      names: TTS_STREAM_EVENT_NAMES,
    });
    await eventually('state connected', () => status(connection.id), (s) => s.stream.state === 'connected');

    const pushed = tts.pushEvent(connection.uplink(7, 'AQI='));
    const topic = `${bridge.topicPrefix}/tts/${connection.devEui}/event/up`;
    await mqtt.waitFor(() => mqtt.on(topic).length > 0);
    const [message] = mqtt.on(topic);
    expect(message.payload).toMatchObject({
      type: 'uplink',
      network: 'tts',
      connectionId: connection.id,
      device: { externalId: connection.devEui, devEui: connection.devEui },
      uplink: { port: 1, fcnt: 7, payloadHex: '0102', payloadBase64: 'AQI=' },
    });
    expect(message.payload).not.toHaveProperty('raw');

    const stored = await storedEvents(connection.id);
    expect(stored).toHaveLength(1);
    expect(stored[0].id).toBe(message.payload.id);
    const after = await status(connection.id);
    expect(Date.parse(after.stream.position ?? '')).toBe(parseTimestampMs(pushed.time));
    expect(after.lastEventAt).not.toBeNull();
    // The device was unknown: its first event registered it.
    expect(stored[0].device).toMatchObject({ id: expect.any(String), externalId: connection.devEui });
    await remove(connection.id);
  });

  it('after a dropped connection asks for what it missed: every event stored once, published at least once', async () => {
    // Like the real server, the fake replays one second before `after`: replays repeat events.
    tts.replayOverlapMs = 1000;
    try {
      const connection = await streamingConnection();
      await tts.waitForStreams(1);
      const before = [tts.pushEvent(connection.uplink(1)), tts.pushEvent(connection.uplink(2))];
      await eventually('2 stored events', () => storedEvents(connection.id), (events) => events.length === 2);

      tts.dropStreams();
      // Pushed in the same tick as the drop: no stream is open, they are only in the server's history.
      const missed = [3, 4, 5].map((fCnt) => tts.pushEvent(connection.uplink(fCnt)));
      await tts.waitForStreams(1);
      await eventually('5 stored events', () => storedEvents(connection.id), (events) => events.length >= 5);

      const resume = connection.requests()[1].request;
      expect(resume.tail).toBe(1000);
      const afterMs = Date.parse(resume.after ?? '');
      expect(afterMs).toBeLessThanOrEqual(parseTimestampMs(before[1].time));
      // The replay brought the two events already stored again (the overlap) ...
      expect(before.every((e) => parseTimestampMs(e.time) > afterMs - tts.replayOverlapMs)).toBe(true);
      // ... and the store still has each uplink exactly once.
      await sleep(300);
      expect(fcnts(await storedEvents(connection.id))).toEqual([1, 2, 3, 4, 5]);

      const topic = `${bridge.topicPrefix}/tts/${connection.devEui}/event/up`;
      await mqtt.waitFor(() => new Set(mqtt.on(topic).map((m) => (m.payload.uplink as { fcnt: number }).fcnt)).size === 5);
      expect(missed).toHaveLength(3);
      await remove(connection.id);
    } finally {
      tts.replayOverlapMs = 0;
    }
  });

  it('skips malformed lines and events without losing the stream; an in-band error reopens it', async () => {
    const connection = await streamingConnection();
    await tts.waitForStreams(1);
    tts.pushRaw('this is not JSON');
    tts.pushRaw('{"result": 42}');
    tts.pushRaw('{"result": {"name": "as.up.data.forward", "time": "yesterday"}}');
    tts.pushRaw('{"neither": "result nor error"}');
    // A used event whose data is not an ApplicationUp.
    tts.pushEvent({ ...deviceEvent('as.up.data.forward', { applicationId: connection.applicationId, deviceId: 'broken' }), data: { '@type': 'wrong' } });
    tts.pushEvent(connection.uplink(10));
    await eventually('the event after the bad lines', () => storedEvents(connection.id), (events) => events.length === 1);
    expect(connection.requests()).toHaveLength(1);
    expect((await status(connection.id)).stream.state).toBe('connected');

    tts.sendStreamError();
    await eventually('a new stream request', () => connection.requests().length, (n) => n === 2);
    await tts.waitForStreams(1);
    tts.pushEvent(connection.uplink(11));
    await eventually('the event after the reconnect', () => storedEvents(connection.id), (events) => events.length === 2);
    expect(fcnts(await storedEvents(connection.id))).toEqual([10, 11]);
    await remove(connection.id);
  });

  it('stops on 401 with the reason in the status, and starts again when the connection is updated', async () => {
    const connection = await streamingConnection({ apiKey: 'NNSXS.WRONGKEYID.WRONGSECRET' });
    const stopped = await eventually('state unauthorized', () => status(connection.id), (s) => s.stream.state === 'unauthorized');
    expect(stopped.stream.error).toMatch(/401.*api_key_not_found/);
    // It does not hammer TTS with a key that does not work.
    await sleep(1500);
    expect(connection.requests()).toHaveLength(1);
    expect(tts.openStreams).toBe(0);

    const patched = await bridge.api('PATCH', `/api/connections/${connection.id}`, { settings: { apiKey: TTS_API_KEY } });
    expect(patched.status).toBe(200);
    await tts.waitForStreams(1);
    const running = await eventually('state connected', () => status(connection.id), (s) => s.stream.state === 'connected');
    expect(running.stream.error).toBeNull();
    expect(connection.requests().at(-1)!.headers.authorization).toBe(`Bearer ${TTS_API_KEY}`);
    await remove(connection.id);
  });

  it('waits as long as a 429 asks (X-Rate-Limit-Retry) and retries a 503', async () => {
    tts.rejectStreams(429, undefined, { times: 1 });
    const connection = await streamingConnection();
    await eventually('a retry after the 429', () => connection.requests().length, (n) => n === 2);
    const [limited, retried] = connection.requests();
    expect(retried.at - limited.at).toBeGreaterThanOrEqual(900);
    await tts.waitForStreams(1);

    tts.rejectStreams(503, undefined, { times: 1 });
    tts.dropStreams();
    await eventually('a retry after the 503', () => connection.requests().length, (n) => n === 4);
    await tts.waitForStreams(1);
    await eventually('state connected', () => status(connection.id), (s) => s.stream.state === 'connected');
    await remove(connection.id);
  });

  it('reopens a stream that stays silent longer than TTS_STREAM_IDLE_TIMEOUT_MS, resuming from its position', async () => {
    const connection = await streamingConnection();
    await tts.waitForStreams(1);
    const start = await eventually('a stream position', () => status(connection.id), (s) => s.stream.position !== null);
    await eventually('a reopened stream', () => connection.requests().length, (n) => n >= 2, 8000);
    expect(Date.parse(connection.requests()[1].request.after ?? '')).toBe(Date.parse(start.stream.position!) - 1);
    await tts.waitForStreams(1);
    await remove(connection.id);
  });

  it('stops the stream when the connection stops streaming, and starts it when it streams again', async () => {
    const connection = await streamingConnection();
    await tts.waitForStreams(1);
    expect((await bridge.api('PATCH', `/api/connections/${connection.id}`, { settings: { stream: false } })).status).toBe(200);
    await eventually('the stream to close', () => tts.openStreams, (open) => open === 0);
    await eventually('state stopped', () => status(connection.id), (s) => s.stream.state === 'stopped');

    expect((await bridge.api('PATCH', `/api/connections/${connection.id}`, { settings: { stream: true } })).status).toBe(200);
    await tts.waitForStreams(1);
    await remove(connection.id);
  });

  it('is consumed by exactly one of two instances, and moves to the other when the holder stops', async () => {
    const connection = await streamingConnection();
    await tts.waitForStreams(1);
    // A second instance of the same deployment: same database, Redis namespace and broker prefix.
    const second = await TestBridge.start({ ...SETTINGS, REDIS_PREFIX: bridge.settings.REDIS_PREFIX, MQTT_TOPIC_PREFIX: bridge.topicPrefix });
    try {
      // Several reconciles and lease renewals later, still one stream (it may have been reopened when idle).
      const deadline = Date.now() + 2000;
      while (Date.now() < deadline) {
        expect(tts.openStreams).toBeLessThanOrEqual(1);
        await sleep(20);
      }
      await tts.waitForStreams(1);
      tts.pushEvent(connection.uplink(20));
      await eventually('the event from the first instance', () => storedEvents(connection.id, second), (events) => events.length === 1);

      const requestsBefore = connection.requests().length;
      await stopBridge();
      await eventually('the stream on the second instance', () => connection.requests().length, (n) => n > requestsBefore, 5000);
      await tts.waitForStreams(1);
      expect(connection.requests().at(-1)!.request.after).toBeDefined();
      tts.pushEvent(connection.uplink(21));
      await eventually('the event from the second instance', () => storedEvents(connection.id, second), (events) => events.length === 2);
      const topic = `${bridge.topicPrefix}/tts/${connection.devEui}/event/up`;
      await mqtt.waitFor(() => mqtt.on(topic).some((m) => (m.payload.uplink as { fcnt: number }).fcnt === 21));
      expect(tts.openStreams).toBe(1);
      await remove(connection.id, second);
    } finally {
      await second.stop();
    }
  });

  it('moves to the other process within the lease time when the holder is killed, storing and publishing each event once', async () => {
    const leaseMs = 1000;
    // Two worker processes of one deployment, and an api-only bridge to manage and read it. Their own
    // SECRETS_KEY keeps this file's in-process bridge (which consumes streams too) off this connection.
    const deployment = testSettings({ SECRETS_KEY: randomBytes(32).toString('hex'), TTS_STREAM_LEASE_MS: String(leaseMs), TTS_STREAM_IDLE_TIMEOUT_MS: '30000' });
    const api = await TestBridge.start({ ...deployment, BRIDGE_ROLE: 'api' });
    const workers: BridgeProcess[] = [];
    const redis = new Redis(deployment.REDIS_URL);
    const published = await MqttCollector.subscribe(`${deployment.MQTT_TOPIC_PREFIX}/#`);
    // Like the real server, the fake replays one second before `after`: the takeover repeats events.
    tts.replayOverlapMs = 1000;
    try {
      const connection = await streamingConnection({}, api);
      for (let i = 0; i < 2; i++) workers.push(BridgeProcess.spawn({ ...deployment, BRIDGE_ROLE: 'worker', PORT: freePort() }));
      await Promise.all(workers.map((worker) => worker.ready()));
      await tts.waitForStreams(1, 10_000);
      // The lease's token names the process that holds it.
      const lease = await redis.get(`${deployment.REDIS_PREFIX}:tts-stream:${connection.id}`);
      const holder = workers.find((worker) => lease?.split(':')[1] === String(worker.child.pid));
      if (!holder) throw new Error(`no worker holds the lease (${lease})`);

      const topic = `${deployment.MQTT_TOPIC_PREFIX}/tts/${connection.devEui}/event/up`;
      const publishedFcnts = () => published.on(topic).map((m) => (m.payload.uplink as { fcnt: number }).fcnt).sort((a, b) => a - b);
      const beforeKill = [tts.pushEvent(connection.uplink(1)), tts.pushEvent(connection.uplink(2))];
      await published.waitFor(() => publishedFcnts().length === 2);
      const lastBeforeKill = parseTimestampMs(beforeKill[1].time);
      await eventually('the position of the last event', () => status(connection.id, api), (s) => Date.parse(s.stream.position ?? '') === lastBeforeKill);

      const requestsBefore = connection.requests().length;
      const killedAt = Date.now();
      expect(await holder.stop('SIGKILL')).toBeNull();
      // Nobody consumes now: these are only in the server's history, for the survivor to ask for.
      tts.pushEvent(connection.uplink(3));
      tts.pushEvent(connection.uplink(4));
      await eventually('the stream on the surviving process', () => connection.requests().length, (n) => n > requestsBefore, 10_000);
      const takeover = connection.requests().at(-1)!;
      // The lease outlives its last renewal by at most leaseMs, and the survivor looks every half
      // lease (about 0.9 s here); 3 s more is slack for a busy machine, not a speed target.
      expect(takeover.at - killedAt).toBeLessThan(leaseMs * 1.5 + 3000);
      expect(Date.parse(takeover.request.after ?? '')).toBe(lastBeforeKill - 1);
      await tts.waitForStreams(1);
      tts.pushEvent(connection.uplink(5));

      await eventually('5 stored events', () => storedEvents(connection.id, api), (events) => events.length >= 5);
      await published.waitFor(() => new Set(publishedFcnts()).size === 5);
      // The replayed copies of 1 and 2 are neither stored nor published again.
      await sleep(1000);
      expect(fcnts(await storedEvents(connection.id, api))).toEqual([1, 2, 3, 4, 5]);
      expect(publishedFcnts()).toEqual([1, 2, 3, 4, 5]);
      expect(tts.openStreams).toBe(1);
      await remove(connection.id, api);
    } finally {
      tts.replayOverlapMs = 0;
      await Promise.all(workers.map((worker) => worker.stop('SIGKILL')));
      await published.close();
      redis.disconnect();
      await api.stop();
    }
  }, 60_000);
});

import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import heliumUplink from '../fixtures/helium-uplink.json';
import { applicationUp, FakeTts, TTS_API_KEY, uplinkEvent } from '../fakes/fake-tts';
import { encodeHeader, encodeRecord } from '../../src/journal/journal-format';
import { mapHeliumIntegration } from '../../src/networks/helium/helium.mapper';
import { heliumIntegrationSchema } from '../../src/networks/helium/helium.schema';
import { uuid7 } from '../../src/common/uuid7';
import { TestBridge } from '../support/bridge';
import { TEST_DATABASE_URL } from '../support/env';
import { eventually, MqttCollector, sleep } from '../support/mqtt-collector';
import { TcpProxy } from '../support/tcp-proxy';

type Json = Record<string, any>;

const postgres = new URL(TEST_DATABASE_URL);
const startProxy = () => TcpProxy.start({ host: postgres.hostname, port: Number(postgres.port || 5432) });

/**
 * SPEC §3: with Postgres unreachable or slow, ingest answers 2xx once the event is synced to the
 * journal; the journal is replayed into Postgres in arrival order when it answers again. The
 * bridge reaches the real Postgres through a relay that the tests cut, stall and restore.
 */
describe('journal: ingest through a Postgres outage', () => {
  const db = new Pool({ connectionString: TEST_DATABASE_URL });
  let proxy: TcpProxy;
  let bridge: TestBridge;
  let mqtt: MqttCollector;
  const suffix = randomBytes(3).toString('hex');
  const ids = { helium: `jr-helium-${suffix}`, sigfox: `jr-sigfox-${suffix}`, tts: `jr-tts-${suffix}` };
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    proxy = await startProxy();
    bridge = await TestBridge.start({ DATABASE_URL: proxy.urlFor(TEST_DATABASE_URL), JOURNAL_STORE_TIMEOUT_MS: '300', DEDUP_WINDOW_MS: '50' });
    mqtt = await MqttCollector.subscribe(`${bridge.topicPrefix}/#`);
    tokens.helium = (await bridge.createConnection({ id: ids.helium, network: 'helium' })).ingestToken;
    tokens.sigfox = (await bridge.createConnection({ id: ids.sigfox, network: 'sigfox' })).ingestToken;
    tokens.tts = (await bridge.createConnection({ id: ids.tts, network: 'tts', settings: { baseUrl: 'http://127.0.0.1:9', applicationId: 'journal' } })).ingestToken;
  });

  afterAll(async () => {
    await proxy.restore();
    await mqtt.close();
    await bridge.stop();
    await proxy.stop();
    await db.end();
  });

  const post = (network: keyof typeof ids, body: unknown, path = '') => bridge.post(`/ingest/${network}/${ids[network]}${path}`, body, { 'x-bridge-token': tokens[network] });
  const helium = (fcnt: number, hotspot = 'hotspot-a') => ({ ...heliumUplink, fcnt, reported_at: Date.now(), hotspots: [{ ...heliumUplink.hotspots[0], id: hotspot }] });
  const ready = async () => {
    const response = await fetch(`${bridge.url}/health/ready`);
    return { status: response.status, body: (await response.json()) as Json };
  };
  const storedUplinks = async (connectionId: string) =>
    (await db.query<{ id: string; fcnt: number; gateways: number }>(
      `SELECT id, (body->'uplink'->>'fcnt')::int AS fcnt, jsonb_array_length(body->'radio'->'gateways') AS gateways FROM events WHERE connection_id = $1 AND type = 'uplink' ORDER BY id`,
      [connectionId],
    )).rows;
  const segments = () => readdirSync(bridge.settings.JOURNAL_DIR).filter((name) => name.endsWith('.jnl'));

  it('answers 200 while Postgres is down, shows it in health and metrics, then stores every event once, in order, and publishes it', async () => {
    await proxy.refuse();
    const answers: Json[] = [];
    for (const fcnt of [101, 102, 103]) {
      const response = await post('helium', helium(fcnt));
      expect(response.status).toBe(200);
      answers.push(await response.json());
    }
    // A multi-buy copy journaled beside its original: merged on replay.
    expect((await post('helium', helium(101, 'hotspot-b'))).status).toBe(200);
    const tts = await post('tts', applicationUp(uplinkEvent({ applicationId: 'journal', deviceId: 'dev-1', devEui: '70B3D57ED0AAAAAA', fCnt: 104, payloadBase64: 'AQI=' })));
    expect(tts.status).toBe(200);
    // Sigfox BIDIR: answered in time, without a downlink (the queue cannot be read).
    const bidir = await fetch(`${bridge.url}/ingest/sigfox/${ids.sigfox}/data`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-bridge-token': tokens.sigfox },
      body: new URLSearchParams({ device: 'BEEF', time: String(Math.floor(Date.now() / 1000)), data: '01', seqNumber: '105', ack: 'true', station: 'S1' }).toString(),
    });
    expect(bidir.status).toBe(204);
    expect(answers.every((answer) => answer.journaled === true && answer.duplicate === false)).toBe(true);

    const health = await ready();
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'degraded', checks: { postgres: 'down', journal: 'buffering' }, journal: { depth: 6 } });
    const metrics = await (await fetch(`${bridge.url}/metrics`)).text();
    expect(metrics).toMatch(/^lpwan_journal_depth 6$/m);
    expect(Number(/^lpwan_journal_bytes (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThan(1000);
    expect(metrics).toMatch(/^lpwan_journal_oldest_age_seconds \d/m);

    // The management API needs Postgres: a clear 503.
    const list = await bridge.api('GET', '/api/connections');
    expect(list.status).toBe(503);
    expect((await list.json()).message).toMatch(/Postgres is unreachable/);

    await proxy.restore();
    await eventually('journal replayed', async () => (await ready()).body, (body) => body.journal.depth === 0 && body.checks.journal === 'idle', 20_000);
    const stored = await storedUplinks(ids.helium);
    expect(stored.map((e) => e.fcnt)).toEqual([101, 102, 103]);
    // Answered ids are the stored ids, and arrival order is id order.
    expect(stored.map((e) => e.id)).toEqual(answers.map((a) => a.id));
    expect(stored[0].gateways).toBe(2);
    expect(await storedUplinks(ids.tts)).toHaveLength(1);
    expect(await storedUplinks(ids.sigfox)).toHaveLength(1);
    for (const fcnt of [101, 102, 103]) {
      await mqtt.waitFor(() => mqtt.on(`${bridge.topicPrefix}/helium/008000000401261D/event/up`).some((m) => (m.payload.uplink as Json).fcnt === fcnt));
    }
    await sleep(300);
    expect(mqtt.on(`${bridge.topicPrefix}/helium/008000000401261D/event/up`).filter((m) => [101, 102, 103].includes((m.payload.uplink as Json).fcnt))).toHaveLength(3);
    await eventually('replayed files deleted', () => segments(), (names) => names.length === 0);
    expect((await ready()).body.status).toBe('ok');
  });

  it('journals an event Postgres does not commit within JOURNAL_STORE_TIMEOUT_MS, and stores it once when it answers', async () => {
    await proxy.stall();
    const started = Date.now();
    const response = await post('helium', helium(201));
    expect(response.status).toBe(200);
    // Answered once the bound (300 ms here) ran out, not when Postgres came back.
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(await response.json()).toMatchObject({ journaled: true });
    await proxy.restore();
    await eventually('stored', () => storedUplinks(ids.helium), (rows) => rows.some((e) => e.fcnt === 201), 20_000);
    await eventually('journal drained', async () => (await ready()).body.journal.depth, (depth) => depth === 0);
    expect((await storedUplinks(ids.helium)).filter((e) => e.fcnt === 201)).toHaveLength(1);
  });

  it('answers 503 naming the reason when the journal is full, and stores what it accepted', async () => {
    const small = await TestBridge.start({ DATABASE_URL: proxy.urlFor(TEST_DATABASE_URL), JOURNAL_STORE_TIMEOUT_MS: '300', JOURNAL_MAX_BYTES: String(64 * 1024) });
    try {
      const id = `jr-full-${suffix}`;
      const { ingestToken } = await small.createConnection({ id, network: 'helium' });
      await proxy.refuse();
      const accepted: number[] = [];
      let refusal: Response | undefined;
      for (let fcnt = 1; fcnt < 200 && !refusal; fcnt++) {
        const response = await small.post(`/ingest/helium/${id}`, helium(fcnt), { 'x-bridge-token': ingestToken });
        if (response.status === 200) accepted.push(fcnt);
        else refusal = response;
      }
      expect(refusal?.status).toBe(503);
      expect((await refusal!.json()).message).toMatch(/journal is full \(JOURNAL_MAX_BYTES=65536\)/);
      expect(accepted.length).toBeGreaterThan(10);
      const full = await fetch(`${small.url}/health/ready`);
      expect(full.status).toBe(503);
      await proxy.restore();
      await eventually('stored', () => storedUplinks(id), (rows) => rows.length === accepted.length, 20_000);
      expect((await small.post(`/ingest/helium/${id}`, helium(500), { 'x-bridge-token': ingestToken })).status).toBe(200);
    } finally {
      await proxy.restore();
      await small.stop();
    }
  });

  it('answers 503 (never crashes) when the journal cannot be written, and works normally while Postgres does', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'journal-file-')), 'not-a-directory');
    writeFileSync(file, 'x');
    const broken = await TestBridge.start({ DATABASE_URL: proxy.urlFor(TEST_DATABASE_URL), JOURNAL_STORE_TIMEOUT_MS: '300', JOURNAL_DIR: join(file, 'journal') });
    try {
      const id = `jr-broken-${suffix}`;
      const { ingestToken } = await broken.createConnection({ id, network: 'helium' });
      expect((await broken.post(`/ingest/helium/${id}`, helium(1), { 'x-bridge-token': ingestToken })).status).toBe(200);
      await proxy.refuse();
      const refused = await broken.post(`/ingest/helium/${id}`, helium(2), { 'x-bridge-token': ingestToken });
      expect(refused.status).toBe(503);
      expect((await refused.json()).message).toMatch(/journal .* cannot be used/);
      expect((await fetch(`${broken.url}/health/ready`)).status).toBe(503);
      await proxy.restore();
      expect((await broken.post(`/ingest/helium/${id}`, helium(3), { 'x-bridge-token': ingestToken })).status).toBe(200);
    } finally {
      await proxy.restore();
      await broken.app.close();
      rmSync(file, { recursive: true, force: true });
    }
  });
});

describe('journal: a TTS stream through a Postgres outage', () => {
  const tts = new FakeTts();
  let proxy: TcpProxy;
  let bridge: TestBridge;
  const db = new Pool({ connectionString: TEST_DATABASE_URL });

  beforeAll(async () => {
    await tts.start();
    proxy = await startProxy();
    // A SECRETS_KEY of its own keeps other files' bridges off this stream (see tts-stream.spec.ts).
    bridge = await TestBridge.start({ DATABASE_URL: proxy.urlFor(TEST_DATABASE_URL), JOURNAL_STORE_TIMEOUT_MS: '300', SECRETS_KEY: randomBytes(32).toString('hex') });
  });

  afterAll(async () => {
    await proxy.restore();
    await bridge.stop();
    await proxy.stop();
    await tts.stop();
    await db.end();
  });

  it('takes stream events into the journal (the stream goes on), and stores each once when Postgres is back', async () => {
    const id = `jr-tts-${randomBytes(3).toString('hex')}`;
    const applicationId = `app-${id}`;
    await bridge.createConnection({ id, network: 'tts', settings: { baseUrl: tts.baseUrl, applicationId, apiKey: TTS_API_KEY, stream: true } });
    await tts.waitForStreams(1);
    const uplink = (fCnt: number) => uplinkEvent({ applicationId, deviceId: 'dev-stream', devEui: '70B3D57ED0BBBBBB', fCnt, payloadBase64: 'AQI=' });
    await proxy.refuse();
    for (const fCnt of [1, 2, 3]) tts.pushEvent(uplink(fCnt));
    await eventually('journaled', async () => ((await (await fetch(`${bridge.url}/health/ready`)).json()) as Json).journal.depth, (depth) => depth === 3);
    const streams = tts.streamRequests.length;
    await proxy.restore();
    await eventually(
      'stored',
      async () => (await db.query(`SELECT (body->'uplink'->>'fcnt')::int AS fcnt FROM events WHERE connection_id = $1 ORDER BY id`, [id])).rows.map((r) => r.fcnt),
      (fcnts) => fcnts.length === 3,
      20_000,
    );
    // The stream was not torn down for the outage: its events were durable in the journal.
    expect(tts.streamRequests.length).toBe(streams);
    await bridge.api('DELETE', `/api/connections/${id}`);
  });
});

describe('journal left by an earlier process', () => {
  const db = new Pool({ connectionString: TEST_DATABASE_URL });
  afterAll(() => db.end());

  it('replays the readable records at start, skips a torn last record and damage, and keeps damaged and newer files aside', async () => {
    const setup = await TestBridge.start();
    const connectionId = `jr-left-${randomBytes(3).toString('hex')}`;
    const { ingestToken } = await setup.createConnection({ id: connectionId, network: 'helium' });
    await setup.stop();

    const dir = mkdtempSync(join(tmpdir(), 'journal-left-'));
    const record = (fcnt: number) => {
      const receivedAt = new Date();
      const event = mapHeliumIntegration(heliumIntegrationSchema.parse({ ...heliumUplink, fcnt, reported_at: Date.now() }));
      return encodeRecord({ v: 1, connectionId, receivedAt: receivedAt.toISOString(), context: {}, ids: [uuid7(receivedAt.getTime())], events: [event] }, Date.now());
    };
    const [one, two, three, four, five] = [1, 2, 3, 4, 5].map(record);
    const damaged = [encodeHeader(), one, Buffer.from('garbage from a bad sector'), two, three.subarray(0, 7), five, four.subarray(0, four.length - 9)];
    writeFileSync(join(dir, 'segment-000000000001.jnl'), Buffer.concat(damaged));
    const newer = encodeHeader();
    newer.writeUInt32LE(2, 8);
    writeFileSync(join(dir, 'segment-000000000002.jnl'), Buffer.concat([newer, Buffer.from('a future format')]));
    writeFileSync(join(dir, 'segment-000000000003.jnl'), Buffer.concat([encodeHeader(), record(6)]));

    const bridge = await TestBridge.start({ JOURNAL_DIR: dir });
    try {
      await eventually(
        'replayed',
        async () => (await db.query<{ fcnt: number }>(`SELECT (body->'uplink'->>'fcnt')::int AS fcnt FROM events WHERE connection_id = $1 ORDER BY id`, [connectionId])).rows.map((r) => r.fcnt),
        (fcnts) => fcnts.length === 4,
      );
      const { rows } = await db.query<{ fcnt: number }>(`SELECT (body->'uplink'->>'fcnt')::int AS fcnt FROM events WHERE connection_id = $1 ORDER BY id`, [connectionId]);
      expect(rows.map((r) => r.fcnt)).toEqual([1, 2, 5, 6]);
      await eventually('files retired', () => readdirSync(dir).filter((n) => n.endsWith('.jnl')), (names) => names.length === 0);
      const aside = readdirSync(join(dir, 'aside'));
      expect(aside.some((name) => name.endsWith('segment-000000000001.jnl'))).toBe(true);
      expect(aside.some((name) => name.endsWith('segment-000000000002.jnl'))).toBe(true);
      // And the bridge goes on taking events.
      expect((await bridge.post(`/ingest/helium/${connectionId}`, { ...heliumUplink, fcnt: 7 }, { 'x-bridge-token': ingestToken })).status).toBe(200);
    } finally {
      await bridge.stop();
    }
  });
});

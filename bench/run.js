#!/usr/bin/env node
/**
 * npm run bench: drives the production build with realistic ingest load on this machine's
 * Postgres, Redis and Mosquitto, and measures what a user would quote (see README "Performance").
 *
 *   BENCH_SECONDS   duration of the throughput phase (default 20)
 *   BENCH_RATE      request rate of the latency phase (default 1000/s)
 *   BENCH_ROWS      events stored before the history query phase (default 1,000,000)
 *   BENCH_SPLIT=1   run one api and one worker process instead of one process with both roles
 *
 * Prints a table and saves bench/results/<timestamp>.json.
 */
const { spawn, execFileSync } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const { mkdirSync, writeFileSync, readFileSync } = require('node:fs');
const { join } = require('node:path');
const autocannon = require('autocannon');
const mqtt = require('mqtt');
const { Client } = require('pg');

const ROOT = join(__dirname, '..');
const ADMIN_URL = process.env.BENCH_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const DATABASE_URL = ADMIN_URL.replace(/\/[^/]*$/, '/lpwan_bridge_bench');
const PORT = Number(process.env.BENCH_PORT ?? 3999);
const URL_BASE = `http://127.0.0.1:${PORT}`;
const API_KEY = 'bench-key';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const RATE = Number(process.env.BENCH_RATE ?? 1000);
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const SPLIT = process.env.BENCH_SPLIT === '1';
const DEVICES = 10_000;
const HOTSPOTS_PER_UPLINK = 3;
const DUPLICATE_SHARE = 0.1;
const TOPIC_PREFIX = 'bench';
const BRIDGE_ENV = {
  NODE_ENV: 'production',
  PORT: String(PORT),
  DATABASE_URL,
  REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  MQTT_URL: process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883',
  MQTT_TOPIC_PREFIX: TOPIC_PREFIX,
  REDIS_PREFIX: `bench-${Date.now()}`,
  API_KEYS: API_KEY,
  SECRETS_KEY: 'ab'.repeat(32),
  LOG_LEVEL: 'warn',
  // Uplinks are published right away; README gives the default window's cost.
  DEDUP_WINDOW_MS: process.env.DEDUP_WINDOW_MS ?? '0',
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const percentile = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : null);
const round = (n, digits = 1) => (n === null || n === undefined ? null : Number(n.toFixed(digits)));

async function resetDatabase() {
  const admin = new Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query('DROP DATABASE IF EXISTS lpwan_bridge_bench WITH (FORCE)');
  await admin.end();
  execFileSync(process.execPath, [join(ROOT, 'dist/database/migrate.js')], { env: { ...process.env, DATABASE_URL }, stdio: 'ignore' });
}

/** The ceiling: plain pg clients inserting the same rows as fast as Postgres takes them. */
async function rawInsertCeiling(seconds, clients) {
  const setup = new Client({ connectionString: DATABASE_URL });
  await setup.connect();
  await setup.query('CREATE TABLE bench_events (LIKE events INCLUDING ALL)');
  await setup.end();
  const body = JSON.stringify(heliumBody('0000000000000001', 1, 'x'));
  let rows = 0;
  const deadline = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, worker) => {
      const client = new Client({ connectionString: DATABASE_URL });
      await client.connect();
      let n = 0;
      while (Date.now() < deadline) {
        await client.query({
          name: 'insert',
          text: `INSERT INTO bench_events (id, connection_id, device_id, network, type, external_id, dedup_key, time, received_at, body, raw)
                 VALUES (gen_random_uuid(), 'bench', gen_random_uuid(), 'helium', 'uplink', $1, $2, now(), now(), $3, $3)`,
          values: ['0000000000000001', `k${worker}:${n++}`, body],
        });
        rows++;
      }
      await client.end();
    }),
  );
  return rows / seconds;
}

function startBridge(role) {
  const child = spawn(process.execPath, [join(ROOT, 'dist/main.js')], {
    env: { ...process.env, ...BRIDGE_ENV, BRIDGE_ROLE: role, PORT: role === 'worker' ? String(PORT + 1) : String(PORT) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.peakRssMb = 0;
  child.sampler = setInterval(() => {
    try {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      child.peakRssMb = Math.max(child.peakRssMb, kb / 1024);
    } catch {
      /* exited */
    }
  }, 250);
  return child;
}

async function waitReady(url) {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${url}/health/ready`)).ok) return;
    } catch {
      /* not yet */
    }
    await sleep(200);
  }
  throw new Error(`bridge at ${url} did not become ready`);
}

async function api(method, path, body) {
  const response = await fetch(URL_BASE + path, {
    method,
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

function heliumBody(devEui, fcnt, hotspotSeed) {
  return {
    app_eui: '70B3D57ED0008E64',
    dev_eui: devEui,
    devaddr: '0A000048',
    fcnt,
    port: 1,
    payload: 'AQIDBAUGBwg=',
    payload_size: 8,
    reported_at: Date.now(),
    name: `dev-${devEui}`,
    id: '5f0c2ba6-2c2d-4b4e-8f3c-6c0a1f2b9d11',
    hotspots: Array.from({ length: HOTSPOTS_PER_UPLINK }, (_, i) => ({
      id: `hotspot-${hotspotSeed}-${i}`,
      name: `hotspot ${i}`,
      rssi: -60 - i * 10,
      snr: 9.5 - i,
      frequency: 904.7000122070313,
      spreading: 'SF9BW125',
      lat: 43.45,
      long: 6.54,
      reported_at: Date.now(),
      status: 'success',
    })),
    downlink_url: 'https://console.helium.com/api/v1/down/abc/def',
  };
}

function ttsBody(devEui, fcnt) {
  const now = new Date().toISOString();
  return {
    end_device_ids: { device_id: `eui-${devEui.toLowerCase()}`, application_ids: { application_id: 'bench' }, dev_eui: devEui, dev_addr: '260BDF71' },
    correlation_ids: ['as:up:bench'],
    received_at: now,
    uplink_message: {
      session_key_id: 'AZpdcJdm3ixYYWExQAIgUg==',
      f_port: 1,
      f_cnt: fcnt,
      frm_payload: 'AMQAFdQ=',
      rx_metadata: Array.from({ length: HOTSPOTS_PER_UPLINK }, (_, i) => ({
        gateway_ids: { gateway_id: `gw-${i}`, eui: `C0EE40FFFF29390${i}` },
        rssi: -70 - i,
        channel_rssi: -70 - i,
        snr: 8.25,
        received_at: now,
      })),
      settings: { data_rate: { lora: { bandwidth: 125000, spreading_factor: 7, coding_rate: '4/5' } }, frequency: '868100000' },
      received_at: now,
    },
  };
}

/**
 * The load: Helium posts (a share of them multi-buy copies), Sigfox form callbacks, TTS webhooks,
 * over many devices. Each request's send time is kept under the identity its MQTT event will carry.
 */
function makeLoad(tokens, sent, options) {
  let counter = 0;
  const nextDevice = () => (counter++ % DEVICES).toString(16).toUpperCase().padStart(16, '0');
  let fcnt = 0;
  const heliumRequest = {
    method: 'POST',
    path: `/ingest/helium/bench-helium`,
    headers: { 'content-type': 'application/json', 'x-bridge-token': tokens.helium },
    setupRequest: (req, context) => {
      const duplicate = context.last && Math.random() < DUPLICATE_SHARE;
      const devEui = duplicate ? context.last.devEui : nextDevice();
      const f = duplicate ? context.last.fcnt : ++fcnt;
      context.last = { devEui, fcnt: f };
      if (!duplicate) sent.set(`helium:${devEui}:${f}`, performance.now());
      return { ...req, body: JSON.stringify(heliumBody(devEui, f, duplicate ? 'dup' : 'a')) };
    },
  };
  let seq = 0;
  const sigfoxRequest = {
    method: 'POST',
    path: `/ingest/sigfox/bench-sigfox/data`,
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-bridge-token': tokens.sigfox },
    setupRequest: (req) => {
      const device = (counter++ % DEVICES).toString(16).toUpperCase();
      const s = ++seq;
      const time = 1_700_000_000 + s;
      sent.set(`sigfox:${device}:${s % 4096}:${time}`, performance.now());
      const body = new URLSearchParams({ device, time: String(time), data: '0102030405060708', seqNumber: String(s % 4096), ack: options.bidir ? 'true' : 'false', station: '37F1', rssi: '-120.00', snr: '12.00', lat: '43', lng: '6' });
      return { ...req, body: body.toString() };
    },
  };
  const ttsRequest = {
    method: 'POST',
    path: `/ingest/tts/bench-tts`,
    headers: { 'content-type': 'application/json', 'x-bridge-token': tokens.tts },
    setupRequest: (req) => {
      const devEui = nextDevice();
      const f = ++fcnt;
      sent.set(`tts:${devEui}:${f}`, performance.now());
      return { ...req, body: JSON.stringify(ttsBody(devEui, f)) };
    },
  };
  return { heliumRequest, sigfoxRequest, ttsRequest };
}

function eventKey(topic, event) {
  if (event.network === 'sigfox') return `sigfox:${event.device.externalId}:${event.uplink.fcnt}:${Date.parse(event.time) / 1000}`;
  return `${event.network}:${event.device.externalId}:${event.uplink.fcnt}`;
}

async function subscribe(sent, delays) {
  const client = await mqtt.connectAsync(BRIDGE_ENV.MQTT_URL);
  await client.subscribeAsync(`${TOPIC_PREFIX}/+/+/event/up`, { qos: 1 });
  const seen = new Set();
  const state = { delivered: 0, lastAt: 0 };
  client.on('message', (topic, payload) => {
    const key = eventKey(topic, JSON.parse(payload.toString()));
    if (seen.has(key)) return;
    seen.add(key);
    const start = sent.get(key);
    if (start !== undefined) delays.push(performance.now() - start);
    state.delivered++;
    state.lastAt = performance.now();
  });
  return { client, state };
}

function cannon(request, options) {
  return new Promise((resolve, reject) => {
    const instance = autocannon({ url: URL_BASE, requests: [request], ...options }, (error, result) => (error ? reject(error) : resolve(result)));
    autocannon.track(instance, { renderProgressBar: false, renderResultsTable: false, renderLatencyTable: false });
  });
}

/** Load at full speed: how many uplinks per second are accepted, and how many reach MQTT. */
async function throughputPhase(tokens, seconds) {
  const sent = new Map();
  const delays = [];
  const { client, state } = await subscribe(sent, delays);
  const load = makeLoad(tokens, sent, { bidir: false });
  const start = performance.now();
  const results = await Promise.all([
    cannon(load.heliumRequest, { connections: 32, duration: seconds }),
    cannon(load.sigfoxRequest, { connections: 16, duration: seconds }),
    cannon(load.ttsRequest, { connections: 16, duration: seconds }),
  ]);
  const loadEnd = performance.now();
  const accepted = results.reduce((n, r) => n + r['2xx'], 0);
  const expected = sent.size;
  // Wait for the fan-out backlog to drain.
  let last = -1;
  while (state.delivered < expected && state.delivered !== last) {
    last = state.delivered;
    await sleep(3000);
  }
  await client.endAsync();
  const non2xx = results.reduce((n, r) => n + r.non2xx + r.errors, 0);
  return {
    acceptedPerSecond: accepted / ((loadEnd - start) / 1000),
    deliveredPerSecond: state.delivered / ((state.lastAt - start) / 1000),
    accepted,
    distinctEvents: expected,
    delivered: state.delivered,
    errors: non2xx,
    delayP99Ms: percentile(delays.sort((a, b) => a - b), 99),
  };
}

/** A steady rate: request → MQTT delay percentiles, and the Sigfox BIDIR answer time. */
async function latencyPhase(tokens, rate, seconds) {
  const sent = new Map();
  const delays = [];
  const { client, state } = await subscribe(sent, delays);
  const load = makeLoad(tokens, sent, { bidir: true });
  const [helium, sigfox, tts] = await Promise.all([
    cannon(load.heliumRequest, { connections: 20, overallRate: rate / 2, duration: seconds }),
    cannon(load.sigfoxRequest, { connections: 10, overallRate: rate / 4, duration: seconds }),
    cannon(load.ttsRequest, { connections: 10, overallRate: rate / 4, duration: seconds }),
  ]);
  await sleep(2000);
  await client.endAsync();
  delays.sort((a, b) => a - b);
  return {
    rate,
    delivered: state.delivered,
    p50Ms: percentile(delays, 50),
    p95Ms: percentile(delays, 95),
    p99Ms: percentile(delays, 99),
    sigfoxBidirP99Ms: sigfox.latency.p99,
    requestP99Ms: Math.max(helium.latency.p99, tts.latency.p99),
  };
}

/**
 * Fills the events table to `rows` events spread over 1,000 devices (as a fleet's history is),
 * then times one device's history query.
 */
async function historyPhase(rows) {
  const db = new Client({ connectionString: DATABASE_URL });
  await db.connect();
  const { rows: devices } = await db.query(`SELECT id, connection_id, external_id FROM devices WHERE connection_id = 'bench-helium' ORDER BY id LIMIT 1000`);
  const { rows: count } = await db.query('SELECT count(*)::int AS n FROM events');
  const missing = Math.max(0, rows - count[0].n);
  const started = Date.now();
  // uuid v7 shaped ids in time order, like the bridge's, so the indexes see realistic keys.
  await db.query(
    `INSERT INTO events (id, connection_id, device_id, network, type, external_id, dedup_key, time, received_at, body, raw, published_at)
     SELECT (lpad(to_hex((extract(epoch from t) * 1000)::bigint), 12, '0') || '7000' || '8000' || lpad(to_hex(g), 12, '0'))::uuid,
            d.connection_id, d.id, 'helium', 'uplink', d.external_id, 'bench-fill:' || g, t, t, b.body, b.raw, t
     FROM generate_series(1, $1::int) g
     CROSS JOIN LATERAL (SELECT now() - interval '30 days' + g * interval '1 second' AS t) tt
     JOIN (SELECT row_number() OVER () - 1 AS n, id, connection_id, external_id FROM unnest($2::uuid[], $3::text[], $4::text[]) AS u(id, connection_id, external_id)) d
       ON d.n = g % $5
     CROSS JOIN (SELECT body, raw FROM events WHERE type = 'uplink' AND network = 'helium' LIMIT 1) b`,
    [missing, devices.map((d) => d.id), devices.map((d) => d.connection_id), devices.map((d) => d.external_id), devices.length],
  );
  // A table that grew to this size over months was vacuumed along the way: do it now, so that the
  // next phase measures the bridge at that size, not autovacuum catching up with a bulk load.
  await db.query('VACUUM (ANALYZE) events');
  await db.query('CHECKPOINT');
  const device = devices[0];
  const fillSeconds = (Date.now() - started) / 1000;
  await db.end();
  const times = [];
  for (let i = 0; i < 300; i++) {
    const t = performance.now();
    const response = await fetch(`${URL_BASE}/api/devices/${device.id}/events?limit=100`, { headers: { authorization: `Bearer ${API_KEY}` } });
    await response.json();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { rows, fillSeconds, p50Ms: percentile(times, 50), p99Ms: percentile(times, 99) };
}

async function main() {
  const startedAt = new Date().toISOString();
  console.log('building…');
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
  await resetDatabase();
  console.log('raw Postgres insert ceiling (10 s, 16 clients)…');
  const ceiling = await rawInsertCeiling(10, 16);

  const processes = SPLIT ? [startBridge('api'), startBridge('worker')] : [startBridge('all')];
  try {
    await waitReady(URL_BASE);
    if (SPLIT) await waitReady(`http://127.0.0.1:${PORT + 1}`);
    const tokens = {};
    for (const [network, settings] of [
      ['helium', {}],
      ['sigfox', {}],
      ['tts', { baseUrl: 'https://eu1.cloud.thethings.network', applicationId: 'bench' }],
    ]) {
      tokens[network] = (await api('POST', '/api/connections', { id: `bench-${network}`, network, name: network, settings })).ingestToken;
    }
    console.log(`throughput (${SECONDS} s at full speed)…`);
    const throughput = await throughputPhase(tokens, SECONDS);
    console.log(`latency (${RATE}/s for 15 s)…`);
    const latency = await latencyPhase(tokens, RATE, 15);
    console.log(`history (${ROWS.toLocaleString()} stored events)…`);
    const history = await historyPhase(ROWS);
    console.log('throughput again at that size (10 s)…');
    const throughputAtSize = await throughputPhase(tokens, 10);
    const peakRssMb = Math.max(...processes.map((p) => p.peakRssMb));

    const result = {
      startedAt,
      settings: { seconds: SECONDS, rate: RATE, rows: ROWS, split: SPLIT, devices: DEVICES, hotspotsPerUplink: HOTSPOTS_PER_UPLINK, duplicateShare: DUPLICATE_SHARE, dedupWindowMs: Number(BRIDGE_ENV.DEDUP_WINDOW_MS), cpus: require('node:os').cpus().length, node: process.version },
      rawInsertCeilingPerSecond: round(ceiling),
      throughput,
      ratioToCeiling: round(throughput.acceptedPerSecond / ceiling, 2),
      latency,
      history,
      throughputAtSize,
      ingestAtSizeVsEmpty: round(throughputAtSize.acceptedPerSecond / throughput.acceptedPerSecond, 2),
      peakRssMb: round(Math.max(peakRssMb, ...processes.map((p) => p.peakRssMb))),
      processPeakRssMb: processes.map((p) => round(p.peakRssMb)),
    };
    mkdirSync(join(__dirname, 'results'), { recursive: true });
    const file = join(__dirname, 'results', `${startedAt.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify(result, null, 2));
    const rows = [
      ['raw Postgres insert ceiling', `${round(ceiling, 0)} rows/s`],
      ['accepted uplinks/s (full speed)', `${round(throughput.acceptedPerSecond, 0)} (${result.ratioToCeiling} × ceiling)`],
      ['MQTT-delivered events/s', `${round(throughput.deliveredPerSecond, 0)}`],
      ['non-2xx / errors', `${throughput.errors}`],
      [`request→MQTT p50/p95/p99 at ${RATE}/s`, `${round(latency.p50Ms)} / ${round(latency.p95Ms)} / ${round(latency.p99Ms)} ms`],
      [`Sigfox BIDIR answer p99 at ${RATE / 4}/s`, `${latency.sigfoxBidirP99Ms} ms`],
      [`history query p50/p99 (${ROWS.toLocaleString()} events)`, `${round(history.p50Ms)} / ${round(history.p99Ms)} ms`],
      ['accepted uplinks/s at that size', `${round(throughputAtSize.acceptedPerSecond, 0)} (${result.ingestAtSizeVsEmpty} × empty)`],
      ['peak RSS', `${result.peakRssMb} MB${SPLIT ? ` (api ${result.processPeakRssMb[0]}, worker ${result.processPeakRssMb[1]})` : ''}`],
    ];
    console.log('\n| measure | result |\n|---|---|');
    for (const [name, value] of rows) console.log(`| ${name} | ${value} |`);
    console.log(`\nsaved ${file}`);
  } finally {
    for (const child of processes) {
      clearInterval(child.sampler);
      child.kill('SIGTERM');
    }
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

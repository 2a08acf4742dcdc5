/**
 * Shared helpers of `npm run bench` (bench/run.js) and its scenarios (bench/scenarios/*.js).
 * A scenario gets this module as `lib`:
 *
 *   module.exports = { name: 'topic', async run(lib) { …; return [{ measure, value, unit, target, met }] } }
 *
 * and is runnable alone: node -e "require('./bench/scenarios/x').run(require('./bench/lib')).then(console.table)"
 * (after `npx nest build`). A scenario that needs a bridge starts its own with `startStack()` and
 * stops it before it returns; the runner has stopped the main phases' bridge by then.
 */
const { spawn, execFileSync } = require('node:child_process');
const { readFileSync } = require('node:fs');
const http = require('node:http');
const { join } = require('node:path');
const autocannon = require('autocannon');
const mqtt = require('mqtt');
const { Client } = require('pg');
const fill = require('./fill');

const ROOT = join(__dirname, '..');
const ADMIN_URL = process.env.BENCH_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
// Database, ports and topics are this run's own: two benches on one machine must not collide.
const DATABASE_NAME = `lpwan_bridge_bench_${process.pid}`;
const DATABASE_URL = ADMIN_URL.replace(/\/[^/]*$/, `/${DATABASE_NAME}`);
const PORT = Number(process.env.BENCH_PORT ?? 20000 + ((process.pid * 4) % 20000));
const URL_BASE = `http://127.0.0.1:${PORT}`;
const API_KEY = 'bench-key';
const MQTT_URL = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const TOPIC_PREFIX = `bench-${process.pid}`;
// One Redis namespace for every process of the run: an api and a worker must share their queues.
const REDIS_PREFIX = `bench-${process.pid}-${Date.now()}`;
/** The load's shape (issue 12): 2,000 devices, 3 hotspots per uplink, 10 % multi-buy copies (BENCH_DEVICES, BENCH_DUPLICATE_SHARE). */
const DEVICES = Number(process.env.BENCH_DEVICES ?? 2000);
const HOTSPOTS_PER_UPLINK = 3;
const DUPLICATE_SHARE = Number(process.env.BENCH_DUPLICATE_SHARE ?? 0.1);

/** The bridge's environment in every phase; `env` of startBridge/startStack overrides it. */
function bridgeEnv() {
  return {
    NODE_ENV: 'production',
    PORT: String(PORT),
    DATABASE_URL,
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    MQTT_URL,
    MQTT_TOPIC_PREFIX: TOPIC_PREFIX,
    REDIS_PREFIX,
    API_KEYS: API_KEY,
    SECRETS_KEY: 'ab'.repeat(32),
    LOG_LEVEL: 'warn',
    // Uplinks are published right away; README gives the default window's cost.
    DEDUP_WINDOW_MS: process.env.DEDUP_WINDOW_MS ?? '0',
    // The bench measures capacity: the per-connection limiter still runs, with a limit no phase
    // reaches (into the journal, one Helium connection took 6,000/s, over the default 5,000).
    INGEST_RATE_LIMIT: '1000000',
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** `sorted` ascending; null when empty. */
const percentile = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : null);
/** The middle value (the upper one of an even count). */
const median = (values) => percentile([...values].sort((a, b) => a - b), 50);
const round = (n, digits = 1) => (n === null || n === undefined || Number.isNaN(n) ? null : Number(n.toFixed(digits)));

function build() {
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
}

/** A fresh bench database, migrated by the build in `root` (another checkout: bench/compare.js). */
async function resetDatabase(root = ROOT) {
  const admin = new Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DATABASE_NAME} WITH (FORCE)`);
  await admin.end();
  execFileSync(process.execPath, [join(root, 'dist/database/migrate.js')], { cwd: root, env: { ...process.env, DATABASE_URL }, stdio: 'ignore' });
}

/** Drops the bench database; the runner calls it at the end. */
async function dropDatabase() {
  const admin = new Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DATABASE_NAME} WITH (FORCE)`);
  await admin.end();
}

/** A connected plain `pg` client on the bench database (or `url`'s); the caller ends it. */
async function db(url = DATABASE_URL) {
  const client = new Client({ connectionString: url });
  await client.connect();
  return client;
}

/**
 * Load that is not measured, then ANALYZE: a deployment that has run for a minute has had its
 * tables analyzed by autovacuum. Without it, a fresh database's prepared statements keep plans
 * made while the week's partition was empty (sequential scans), which cost the bridge's
 * statements that join events (copy merges, the published mark) up to 50 ms each.
 */
async function warmUp(load, url = DATABASE_URL) {
  await load();
  const client = await db(url);
  try {
    await client.query('ANALYZE');
  } finally {
    await client.end();
  }
}

/** Samples a process's resident memory every 250 ms; `peakRssMb` holds the highest seen. */
function sampleRss(child) {
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

/** Spawns a node script with its RSS sampled; `stop()` ends it and waits for the exit. */
function spawnSampled(args, env, cwd = ROOT) {
  const child = spawn(process.execPath, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.stop = async () => {
    clearInterval(child.sampler);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
  };
  return sampleRss(child);
}

/** The node flags of `npm start` (heap sizes): the bench runs the bridge as production does. */
const START_FLAGS = require('../package.json').scripts.start.split(' ').filter((word) => word.startsWith('--'));

/**
 * One bridge process of `role` ('all', 'api', 'worker'); a worker listens on PORT + 1.
 * `nodeArgs` go before the script, after npm start's flags (e.g. ['--cpu-prof']); `root` is the
 * checkout whose build runs.
 */
function startBridge(role = 'all', env = {}, nodeArgs = [], root = ROOT) {
  const port = role === 'worker' ? PORT + 1 : PORT;
  const child = spawnSampled([...START_FLAGS, ...nodeArgs, join(root, 'dist/main.js')], { ...bridgeEnv(), ...env, BRIDGE_ROLE: role, PORT: String(port) }, root);
  child.role = role;
  child.url = `http://127.0.0.1:${port}`;
  return child;
}

async function waitReady(url, path = '/health/ready') {
  for (let i = 0; i < 150; i++) {
    try {
      if ((await fetch(`${url}${path}`)).ok) return;
    } catch {
      /* not yet */
    }
    await sleep(200);
  }
  throw new Error(`${url} did not become ready`);
}

async function api(method, path, body, base = URL_BASE) {
  const response = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

/** Creates the bench's Helium, Sigfox and TTS connections; returns their ingest tokens. */
async function createConnections(base = URL_BASE) {
  const tokens = {};
  for (const [network, settings] of [
    ['helium', {}],
    ['sigfox', {}],
    ['tts', { baseUrl: 'https://eu1.cloud.thethings.network', applicationId: 'bench' }],
  ]) {
    tokens[network] = (await api('POST', '/api/connections', { id: `bench-${network}`, network, name: network, settings }, base)).ingestToken;
  }
  return tokens;
}

/**
 * A fresh database and a ready bridge (one `all` process, or api + worker with `split`), with the
 * bench connections; with `kept` (openKeptDatabase), the bridge runs on that database instead;
 * `root` is the checkout whose build runs (bench/compare.js). `stop()` ends the processes;
 * `peakRssMb()` is the highest of them.
 */
async function startStack({ split = false, env = {}, nodeArgs = [], kept = null, root = ROOT } = {}) {
  if (kept) env = { ...env, DATABASE_URL: kept.url };
  else await resetDatabase(root);
  const processes = (split ? ['api', 'worker'] : ['all']).map((role) => startBridge(role, env, nodeArgs, root));
  try {
    for (const child of processes) await waitReady(child.url);
    const tokens = kept ? kept.tokens : await createConnections();
    return {
      processes,
      tokens,
      url: URL_BASE,
      peakRssMb: () => Math.max(...processes.map((p) => p.peakRssMb)),
      stop: () => Promise.all(processes.map((p) => p.stop())),
    };
  } catch (error) {
    await Promise.all(processes.map((p) => p.stop()));
    throw error;
  }
}

const deviceEui = (n) => (n % DEVICES).toString(16).toUpperCase().padStart(16, '0');

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
    // TTS names each uplink by its as:up correlation id (the bridge's identity of it).
    correlation_ids: [`as:up:bench-${devEui}-${fcnt}`],
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

/** A Sigfox data callback as the form Sigfox posts by default. */
function sigfoxForm(device, seqNumber, time, bidir) {
  return new URLSearchParams({ device, time: String(time), data: '0102030405060708', seqNumber: String(seqNumber), ack: bidir ? 'true' : 'false', station: '37F1', rssi: '-120.00', snr: '12.00', lat: '43', lng: '6' }).toString();
}

/** Frame counters go on across phases: a repeated identity would be (rightly) merged as a duplicate. */
const sequence = { fcnt: 0, sigfox: 0 };

/**
 * The load: Helium posts (a share of them multi-buy copies), Sigfox form callbacks, TTS webhooks,
 * over DEVICES devices. Each request's send time is kept in `sent` under the identity its MQTT
 * event will carry (eventKey); the identities of requests answered 2xx go into `accepted`. Each
 * Sigfox answer's time and Server-Timing steps go into `sigfoxTimings`.
 */
function makeLoad(tokens, sent, { bidir = false, accepted = new Set(), sigfoxTimings = [], connections = { helium: 'bench-helium', sigfox: 'bench-sigfox', tts: 'bench-tts' } } = {}) {
  // autocannon runs one request at a time per connection: the context holds the one in flight.
  const onResponse = (status, _body, context) => {
    if (status >= 200 && status < 300) accepted.add(context.key);
  };
  let counter = 0;
  // The uplink a multi-buy copy repeats. Not in autocannon's context: it resets that before
  // each request when there is a single request definition.
  let last = null;
  const heliumRequest = {
    method: 'POST',
    path: `/ingest/helium/${connections.helium}`,
    headers: { 'content-type': 'application/json', 'x-bridge-token': tokens.helium },
    setupRequest: (req, context) => {
      const duplicate = last && Math.random() < DUPLICATE_SHARE;
      const devEui = duplicate ? last.devEui : deviceEui(counter++);
      const f = duplicate ? last.fcnt : ++sequence.fcnt;
      last = { devEui, fcnt: f };
      context.key = `helium:${devEui}:${f}`;
      if (!duplicate) sent.set(context.key, performance.now());
      return { ...req, body: JSON.stringify(heliumBody(devEui, f, duplicate ? 'dup' : 'a')) };
    },
    onResponse,
  };
  const sigfoxRequest = {
    method: 'POST',
    path: `/ingest/sigfox/${connections.sigfox}/data`,
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-bridge-token': tokens.sigfox },
    setupRequest: (req, context) => {
      const device = (counter++ % DEVICES).toString(16).toUpperCase();
      const s = ++sequence.sigfox;
      const time = 1_700_000_000 + s;
      context.key = `sigfox:${device}:${s % 4096}:${time}`;
      context.sentAt = performance.now();
      sent.set(context.key, context.sentAt);
      return { ...req, body: sigfoxForm(device, s % 4096, time, bidir) };
    },
    onResponse: (status, body, context, headers) => {
      onResponse(status, body, context);
      sigfoxTimings.push({ ms: performance.now() - context.sentAt, steps: serverTiming(headers?.['server-timing']) });
    },
  };
  const ttsRequest = {
    method: 'POST',
    path: `/ingest/tts/${connections.tts}`,
    headers: { 'content-type': 'application/json', 'x-bridge-token': tokens.tts },
    setupRequest: (req, context) => {
      const devEui = deviceEui(counter++);
      const f = ++sequence.fcnt;
      context.key = `tts:${devEui}:${f}`;
      sent.set(context.key, performance.now());
      return { ...req, body: JSON.stringify(ttsBody(devEui, f)) };
    },
    onResponse,
  };
  return { heliumRequest, sigfoxRequest, ttsRequest };
}

/** A Server-Timing header as { step: ms }. */
function serverTiming(header) {
  const steps = {};
  for (const entry of String(header ?? '').split(',')) {
    const [name, ...params] = entry.split(';').map((part) => part.trim());
    const duration = params.find((param) => param.startsWith('dur='));
    if (name && duration) steps[name] = Number(duration.slice(4));
  }
  return steps;
}

/**
 * Where answers' time went, from their Server-Timing steps: each step's p50 and p99, and its mean
 * over the slowest 1 % of answers (those that make the p99). `outside` is the client's time less
 * the bridge's `total`: waiting for the bridge's event loop to read the request, the answer's way
 * back, and the bench's own event loop (it runs on the same cores).
 */
function timingBreakdown(samples) {
  if (!samples.length) return null;
  const sorted = [...samples].sort((a, b) => a.ms - b.ms);
  const slowest = sorted.slice(Math.floor(sorted.length * 0.99));
  const valueOf = (sample, step) => (step === 'outside' ? (sample.steps.total === undefined ? undefined : sample.ms - sample.steps.total) : step === 'client' ? sample.ms : sample.steps[step]);
  const steps = ['client', ...new Set(samples.flatMap((sample) => Object.keys(sample.steps))), 'outside'];
  const mean = (values) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : null);
  return Object.fromEntries(
    steps.map((step) => {
      const values = samples.map((sample) => valueOf(sample, step)).filter((v) => v !== undefined).sort((a, b) => a - b);
      const inSlowest = slowest.map((sample) => valueOf(sample, step)).filter((v) => v !== undefined);
      return [step, { answers: values.length, p50Ms: round(percentile(values, 50), 2), p99Ms: round(percentile(values, 99), 2), slowestMeanMs: round(mean(inSlowest), 2) }];
    }),
  );
}

/** The identity under which makeLoad kept a request's send time, read from its MQTT event. */
function eventKey(event) {
  if (event.network === 'sigfox') return `sigfox:${event.device.externalId}:${event.uplink.fcnt}:${Date.parse(event.time) / 1000}`;
  return `${event.network}:${event.device.externalId}:${event.uplink.fcnt}`;
}

/**
 * Subscribes to every uplink topic under `prefix` (QoS 1); each first delivery of an event
 * records its request→MQTT delay in `delays`. `state.seen` holds the distinct events' identities.
 */
async function subscribe(sent, delays, { prefix = TOPIC_PREFIX, key = eventKey } = {}) {
  const client = await mqtt.connectAsync(MQTT_URL);
  await client.subscribeAsync(`${prefix}/+/+/event/up`, { qos: 1 });
  const seen = new Set();
  const state = { delivered: 0, lastAt: 0, seen };
  client.on('message', (_topic, payload) => {
    const id = key(JSON.parse(payload.toString()));
    if (seen.has(id)) return;
    seen.add(id);
    const start = sent.get(id);
    if (start !== undefined) delays.push(performance.now() - start);
    state.delivered++;
    state.lastAt = performance.now();
  });
  return { client, state };
}

/** Waits until every identity in `accepted` was delivered, or deliveries stop for `quietMs`; returns how many are missing. */
async function drain(state, accepted, quietMs = 3000) {
  const missing = () => [...accepted].filter((key) => !state.seen.has(key)).length;
  let last = -1;
  while (missing() > 0 && state.delivered !== last) {
    last = state.delivered;
    await sleep(quietMs);
  }
  return missing();
}

/** autocannon on one request definition; resolves with its result. */
function cannon(request, options, base = URL_BASE) {
  return new Promise((resolve, reject) => {
    const instance = autocannon({ url: base, requests: [request], ...options }, (error, result) => (error ? reject(error) : resolve(result)));
    autocannon.track(instance, { renderProgressBar: false, renderResultsTable: false, renderLatencyTable: false });
  });
}

/**
 * `rate` requests a second of one request definition (autocannon's shape: setupRequest,
 * onResponse), sent open-loop: request n leaves at start + n / rate whatever the earlier ones
 * are doing, on up to `connections` keep-alive sockets, as a network's servers send independent
 * callbacks. Each latency is counted from the time its request was due, so a request that waited
 * for a free socket counts its wait. Answers autocannon's result fields that runLoad reads.
 *
 * Not autocannon's `overallRate`: its clients send their whole second's share back to back when
 * each second starts, then pause (httpClient.js resets `reqsMadeThisSecond` every 1,000 ms), so
 * "1,000/s" was a burst at full speed every second; and its coordinated-omission correction uses
 * an expected interval of ceil(1 / rate) = 1 ms (seconds taken for milliseconds), adding a made-up
 * sample for every millisecond of a slow answer.
 */
function paced(request, { rate, duration, connections }, base = URL_BASE) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const { hostname, port } = new URL(base);
  const latencies = [];
  const result = { '2xx': 0, non2xx: 0, errors: 0 };
  const total = Math.round(rate * duration);
  const start = performance.now();
  let sent = 0;
  let settled = 0;
  return new Promise((resolve) => {
    const done = () => {
      agent.destroy();
      latencies.sort((a, b) => a - b);
      resolve({ ...result, latency: { p50: round(percentile(latencies, 50), 2), p99: round(percentile(latencies, 99), 2) } });
    };
    const send = (dueAt) => {
      const context = {};
      let finished = false;
      let timer;
      const finish = () => {
        if (finished) return false;
        finished = true;
        clearTimeout(timer);
        if (++settled === total) setImmediate(done);
        return true;
      };
      const req = request.setupRequest({ method: request.method, path: request.path, headers: request.headers }, context);
      const outgoing = http.request({ agent, hostname, port, method: req.method, path: req.path, headers: { ...req.headers, 'content-length': Buffer.byteLength(req.body ?? '') } }, (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => {
          if (finished) return;
          latencies.push(performance.now() - dueAt);
          if (response.statusCode >= 200 && response.statusCode < 300) result['2xx']++;
          else result.non2xx++;
          request.onResponse?.(response.statusCode, Buffer.concat(chunks).toString(), context, response.headers);
          finish();
        });
      });
      // As autocannon's default: an answer that takes longer counts as an error.
      timer = setTimeout(() => outgoing.destroy(new Error('no answer in 10 s')), 10_000);
      outgoing.on('error', () => {
        if (finish()) result.errors++;
      });
      outgoing.end(req.body);
    };
    const tick = () => {
      const now = performance.now();
      while (sent < total && start + (sent * 1000) / rate <= now) send(start + (sent++ * 1000) / rate);
      if (sent < total) setTimeout(tick, Math.max(0, start + (sent * 1000) / rate - performance.now()));
    };
    tick();
  });
}

/**
 * A bridge process's event-loop delay since the previous call, in ms: prom-client's
 * monitorEventLoopDelay histogram, which it resets at each scrape of /metrics. Tells a tail that
 * the process made (a stall of its one thread) from one it waited out (Postgres, the machine).
 */
async function eventLoopDelay(base = URL_BASE) {
  const response = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${API_KEY}` } });
  if (!response.ok) throw new Error(`GET /metrics: ${response.status}`);
  const text = await response.text();
  const gauge = (name) => round(Number(new RegExp(`^lpwan_process_nodejs_eventloop_lag_${name}_seconds (\\S+)$`, 'm').exec(text)?.[1]) * 1000, 1);
  return { p99Ms: gauge('p99'), maxMs: gauge('max') };
}

/** CPU time (user + system) a process has used so far, in ms, from /proc. */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** A GET on `agent`'s connection; the body is read and dropped, its bytes counted. */
function get(url, agent) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent, headers: { authorization: `Bearer ${API_KEY}` } }, (response) => {
        let bytes = 0;
        response.on('data', (chunk) => (bytes += chunk.length));
        response.on('end', () => resolve({ status: response.statusCode, bytes }));
        response.on('error', reject);
      })
      .on('error', reject);
  });
}

/**
 * Times `count` sequential GETs of `path` on one keep-alive connection; p50/p99 in ms, and with
 * `server` (the process that answers) its CPU ms per GET, steadier than latency on a shared machine.
 * node:http, not fetch: fetch's `arrayBuffer()` of a 200 KB history page made this process run a
 * mark-compact every ~16 GETs (3–11 ms each, its GC threads on the cores the bridge and Postgres
 * need), and those were inside 10 of the 12 slowest GETs of a run: the p99 timed the client.
 */
async function timeGets(path, count, base = URL_BASE, server = null) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const times = [];
  const cpuBefore = server ? cpuMs(server.pid) : 0;
  try {
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      const { status } = await get(base + path, agent);
      if (status !== 200) throw new Error(`GET ${path}: ${status}`);
      times.push(performance.now() - t);
    }
  } finally {
    agent.destroy();
  }
  const serverCpuMsPerGet = server ? (cpuMs(server.pid) - cpuBefore) / count : null;
  times.sort((a, b) => a - b);
  return { p50Ms: percentile(times, 50), p99Ms: percentile(times, 99), serverCpuMsPerGet };
}

/** The ceiling: `clients` plain pg clients inserting bench-shaped rows as fast as Postgres takes them. */
async function rawInsertCeiling(seconds, clients) {
  const setup = await db();
  await setup.query('DROP TABLE IF EXISTS bench_events');
  await setup.query('CREATE TABLE bench_events (LIKE events INCLUDING ALL)');
  await setup.end();
  const body = JSON.stringify(heliumBody('0000000000000001', 1, 'x'));
  let rows = 0;
  const deadline = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, worker) => {
      const client = await db();
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
  const cleanup = await db();
  await cleanup.query('DROP TABLE bench_events');
  await cleanup.end();
  return rows / seconds;
}

/**
 * Where a load goes: the bridge (one ingest token per network, connections `bench-<network>`) or
 * the bare pipeline (Helium only). `prefix` is the MQTT topic prefix its events come out under.
 */
function bridgeTarget(tokens) {
  return { base: URL_BASE, prefix: TOPIC_PREFIX, tokens, connections: { helium: 'bench-helium', sigfox: 'bench-sigfox', tts: 'bench-tts' } };
}

/**
 * Drives `mix` ([{ network, connections, rate? }], rate in requests/s, none: full speed) at
 * `target` for `seconds` while subscribed to its MQTT events. Answers accepted and delivered
 * rates, accepted events never delivered (after the backlog drains), non-2xx and errors,
 * request→MQTT delay percentiles, each network's request p50 and p99, and where the Sigfox answers'
 * time went (timingBreakdown).
 */
async function runLoad(target, mix, seconds, { bidir = false } = {}) {
  const sent = new Map();
  const delays = [];
  const { client, state } = await subscribe(sent, delays, { prefix: target.prefix });
  const acceptedKeys = new Set();
  const sigfoxTimings = [];
  const load = makeLoad(target.tokens, sent, { bidir, accepted: acceptedKeys, sigfoxTimings, connections: target.connections });
  const start = performance.now();
  const results = await Promise.all(
    mix.map(({ network, connections, rate }) =>
      rate ? paced(load[`${network}Request`], { rate, duration: seconds, connections }, target.base) : cannon(load[`${network}Request`], { connections, duration: seconds }, target.base),
    ),
  );
  const loadEnd = performance.now();
  const accepted = results.reduce((n, r) => n + r['2xx'], 0);
  const undelivered = await drain(state, acceptedKeys, 2000);
  await client.endAsync();
  delays.sort((a, b) => a - b);
  return {
    acceptedPerSecond: accepted / ((loadEnd - start) / 1000),
    deliveredPerSecond: state.delivered / ((state.lastAt - start) / 1000),
    accepted,
    acceptedEvents: acceptedKeys.size,
    delivered: state.delivered,
    undelivered,
    errors: results.reduce((n, r) => n + r.non2xx + r.errors, 0),
    p50Ms: percentile(delays, 50),
    p95Ms: percentile(delays, 95),
    p99Ms: percentile(delays, 99),
    requestP99Ms: Object.fromEntries(mix.map(({ network }, i) => [network, results[i].latency.p99])),
    requestP50Ms: Object.fromEntries(mix.map(({ network }, i) => [network, results[i].latency.p50])),
    sigfoxBreakdown: timingBreakdown(sigfoxTimings),
  };
}

/** The three networks at full speed: how many uplinks per second are accepted, and reach MQTT. */
function measureThroughput(tokens, seconds) {
  const mix = [
    { network: 'helium', connections: 32 },
    { network: 'sigfox', connections: 16 },
    { network: 'tts', connections: 16 },
  ];
  return runLoad(bridgeTarget(tokens), mix, seconds);
}

/** A steady `rate`: half Helium, a quarter each Sigfox BIDIR callbacks and TTS. */
function measureLatency(tokens, rate, seconds) {
  const mix = [
    { network: 'helium', connections: 20, rate: rate / 2 },
    { network: 'sigfox', connections: 10, rate: rate / 4 },
    { network: 'tts', connections: 10, rate: rate / 4 },
  ];
  return runLoad(bridgeTarget(tokens), mix, seconds, { bidir: true });
}

/** Helium uplinks only, at full speed (no `rate`) or a steady rate: the load of the bare comparison. */
function measureHelium(target, seconds, rate) {
  return runLoad(target, [{ network: 'helium', connections: rate ? 32 : 64, rate }], seconds);
}

const BARE_PORT = PORT + 2;
const BARE_TOKEN = 'bare-token';

/** The bare pipeline (bench/bare-pipeline.js) on the bench database; `stop()` ends it. */
async function startBare() {
  const child = spawnSampled([join(__dirname, 'bare-pipeline.js')], { PORT: String(BARE_PORT), DATABASE_URL, MQTT_URL, MQTT_TOPIC_PREFIX: `${TOPIC_PREFIX}-bare`, BARE_TOKEN });
  child.target = { base: `http://127.0.0.1:${BARE_PORT}`, prefix: `${TOPIC_PREFIX}-bare`, tokens: { helium: BARE_TOKEN }, connections: { helium: 'bare-helium' } };
  try {
    await waitReady(child.target.base);
  } catch (error) {
    await child.stop();
    throw error;
  }
  return child;
}

module.exports = {
  ROOT,
  ADMIN_URL,
  DATABASE_URL,
  PORT,
  URL_BASE,
  API_KEY,
  MQTT_URL,
  TOPIC_PREFIX,
  DEVICES,
  HOTSPOTS_PER_UPLINK,
  DUPLICATE_SHARE,
  bridgeEnv,
  sleep,
  percentile,
  median,
  round,
  build,
  resetDatabase,
  dropDatabase,
  db,
  warmUp,
  spawnSampled,
  startBridge,
  waitReady,
  api,
  createConnections,
  startStack,
  deviceEui,
  heliumBody,
  ttsBody,
  sigfoxForm,
  makeLoad,
  eventKey,
  serverTiming,
  timingBreakdown,
  subscribe,
  drain,
  cannon,
  paced,
  eventLoopDelay,
  cpuMs,
  timeGets,
  rawInsertCeiling,
  bridgeTarget,
  runLoad,
  measureThroughput,
  measureLatency,
  measureHelium,
  startBare,
  /** bench/fill.js: fillEvents(client, { rows }) and the kept database of the history phase. */
  fillEvents: fill.fillEvents,
  seedUplink: (base, token) => fill.seedUplink(module.exports, base, token, DATABASE_URL),
  openKeptDatabase: (rows, log) => fill.openKeptDatabase(module.exports, rows, log),
};

#!/usr/bin/env node
/**
 * npm run bench: drives the production build with realistic ingest load on this machine's
 * Postgres, Redis and Mosquitto, and measures what a user would quote (see README "Performance").
 * The main phases run first, then every bench/scenarios/*.js (interface in bench/lib.js).
 *
 *   BENCH_SECONDS   duration of the throughput phase (default 20)
 *   BENCH_RATE      request rate of the latency phase (default 1000/s)
 *   BENCH_ROWS      events stored before the history query phase (default 1,000,000)
 *   BENCH_SPLIT=1   run one api and one worker process instead of one process with both roles
 *   BENCH_ONLY      comma-separated scenario names: run only those (and skip the main phases)
 *
 * Prints one table and saves bench/results/<timestamp>.json.
 */
const { mkdirSync, writeFileSync, readdirSync } = require('node:fs');
const { join } = require('node:path');
const os = require('node:os');
const lib = require('./lib');

const { round } = lib;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const RATE = Number(process.env.BENCH_RATE ?? 1000);
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const SPLIT = process.env.BENCH_SPLIT === '1';
const ONLY = process.env.BENCH_ONLY?.split(',').filter(Boolean);

const row = (measure, value, unit, target = null, met = null) => ({ measure, value, unit, target, met });

/** The bridge's own phases: ceiling, throughput, latency, history at size, ingest at size. */
async function mainPhases() {
  await lib.resetDatabase();
  console.log('raw Postgres insert ceiling (10 s, 16 clients)…');
  const ceiling = await lib.rawInsertCeiling(10, 16);
  const stack = await lib.startStack({ split: SPLIT });
  try {
    console.log(`throughput (${SECONDS} s at full speed)…`);
    const throughput = await lib.measureThroughput(stack.tokens, SECONDS);
    console.log(`latency (${RATE}/s for 15 s)…`);
    const latency = await lib.measureLatency(stack.tokens, RATE, 15);
    console.log(`history (${ROWS.toLocaleString()} stored events)…`);
    const { devices, fillSeconds } = await lib.fillEvents(ROWS);
    const history = { rows: ROWS, fillSeconds, ...(await lib.timeGets(`/api/devices/${devices[0].id}/events?limit=100`, 300)) };
    console.log('throughput again at that size (10 s)…');
    const throughputAtSize = await lib.measureThroughput(stack.tokens, 10);
    const processPeakRssMb = stack.processes.map((p) => round(p.peakRssMb));
    const details = { rawInsertCeilingPerSecond: round(ceiling), throughput, latency, history, throughputAtSize, processPeakRssMb };
    const atSize = throughputAtSize.acceptedPerSecond / throughput.acceptedPerSecond;
    const rows = [
      row('raw Postgres insert ceiling (16 clients)', round(ceiling, 0), 'rows/s'),
      row('accepted uplinks/s (full speed)', round(throughput.acceptedPerSecond, 0), '/s'),
      row('accepted / ceiling', round(throughput.acceptedPerSecond / ceiling, 2), '×'),
      row('MQTT-delivered events/s', round(throughput.deliveredPerSecond, 0), '/s'),
      row('accepted events not delivered to MQTT', throughput.undelivered + latency.undelivered + throughputAtSize.undelivered, 'events', 0, throughput.undelivered + latency.undelivered + throughputAtSize.undelivered === 0),
      row('non-2xx / errors', throughput.errors + latency.errors + throughputAtSize.errors, 'requests', 0, throughput.errors + latency.errors + throughputAtSize.errors === 0),
      row(`request→MQTT p50 at ${RATE}/s`, round(latency.p50Ms), 'ms'),
      row(`request→MQTT p99 at ${RATE}/s`, round(latency.p99Ms), 'ms'),
      row(`Sigfox BIDIR answer p99 at ${RATE / 4}/s`, latency.sigfoxBidirP99Ms, 'ms', 50, latency.sigfoxBidirP99Ms <= 50),
      row(`history limit=100 p50 (${ROWS.toLocaleString()} events)`, round(history.p50Ms), 'ms'),
      row(`history limit=100 p99 (${ROWS.toLocaleString()} events)`, round(history.p99Ms), 'ms', 20, history.p99Ms <= 20),
      row(`accepted uplinks/s at ${ROWS.toLocaleString()} vs empty`, round(atSize, 2), '×', 0.9, atSize >= 0.9),
      SPLIT
        ? row('peak RSS api / worker', processPeakRssMb.join(' / '), 'MB')
        : row('peak RSS (one `all` process)', processPeakRssMb[0], 'MB', 200, processPeakRssMb[0] <= 200),
    ];
    return { rows, details };
  } finally {
    await stack.stop();
  }
}

function scenarioFiles() {
  const dir = join(__dirname, 'scenarios');
  let files;
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.js')).sort();
  } catch {
    return [];
  }
  return files.map((f) => ({ file: f, scenario: require(join(dir, f)) })).filter(({ scenario }) => !ONLY || ONLY.includes(scenario.name));
}

/** Each scenario runs on its own; one that fails is reported and the others still run. */
async function runScenario({ file, scenario }) {
  console.log(`scenario ${scenario.name}…`);
  const started = Date.now();
  try {
    const rows = await scenario.run(lib);
    return { name: scenario.name, seconds: (Date.now() - started) / 1000, rows };
  } catch (error) {
    console.error(`scenario ${scenario.name} (${file}) failed:`, error);
    return { name: scenario.name, seconds: (Date.now() - started) / 1000, error: String(error?.stack ?? error), rows: [row(`${scenario.name}: failed`, String(error?.message ?? error), '', null, false)] };
  }
}

function printTable(sections) {
  const cell = (v) => (v === null || v === undefined ? '—' : typeof v === 'number' ? v.toLocaleString('en-US') : String(v));
  const met = (m) => (m === true ? 'yes' : m === false ? '**no**' : '');
  console.log('\n| measure | result | target | met |\n|---|---|---|---|');
  for (const { name, rows } of sections) {
    for (const r of rows) {
      const target = r.target === null || r.target === undefined ? '—' : `${cell(r.target)} ${r.unit ?? ''}`.trim();
      console.log(`| ${name ? `${name}: ` : ''}${r.measure} | ${`${cell(r.value)} ${r.unit ?? ''}`.trim()} | ${target} | ${met(r.met)} |`);
    }
  }
}

async function main() {
  const startedAt = new Date().toISOString();
  console.log('building…');
  lib.build();
  const sections = [];
  let details = null;
  if (!ONLY) {
    const main = await mainPhases();
    details = main.details;
    sections.push({ name: '', rows: main.rows });
  }
  for (const entry of scenarioFiles()) sections.push(await runScenario(entry));

  const result = {
    startedAt,
    totalSeconds: (Date.now() - Date.parse(startedAt)) / 1000,
    settings: { seconds: SECONDS, rate: RATE, rows: ROWS, split: SPLIT, devices: lib.DEVICES, hotspotsPerUplink: lib.HOTSPOTS_PER_UPLINK, duplicateShare: lib.DUPLICATE_SHARE, dedupWindowMs: Number(lib.bridgeEnv().DEDUP_WINDOW_MS), cpus: os.cpus().length, loadAverage: os.loadavg(), node: process.version },
    ...details,
    sections,
  };
  mkdirSync(join(__dirname, 'results'), { recursive: true });
  const file = join(__dirname, 'results', `${startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2));
  printTable(sections);
  console.log(`\n${round(result.totalSeconds, 0)} s; saved ${file}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

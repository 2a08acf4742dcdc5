/**
 * Payload codecs (issue 15): ingest throughput with a typical codec decoding every uplink of every
 * network, against the same load without codecs (target ≥ 0.85×), and what one call costs.
 * BENCH_CODEC_SECONDS (default 3) per burst, 12 bursts (about 50 s in all).
 */
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const BURST_SECONDS = Number(process.env.BENCH_CODEC_SECONDS ?? 3);
/** A B B A A B…: a drift of the machine's speed over the run weighs on both sides alike, and each pair of bursts gives a ratio. */
const ORDER = [false, true, true, false, false, true, true, false, false, true, true, false];
const CALLS = 6400;
/** Then one at a time, as in a quiet bridge. */
const SEQUENTIAL_CALLS = 2000;

/** A typical vendor decoder: fields from fixed offsets, a status byte's flags, a range warning. */
const TYPICAL_CODEC = `
function decodeUplink(input) {
  var b = input.bytes;
  if (b.length < 4) return { errors: ['payload too short: ' + b.length + ' bytes'] };
  var data = {
    temperature: (((b[0] << 8) | b[1]) << 16 >> 16) / 100,
    humidity: b[2] / 2,
    battery: { volts: 2 + b[3] / 100, low: b[3] < 50 },
    flags: { button: (b[3] & 1) === 1, tamper: (b[3] & 2) === 2 },
    port: input.fPort,
    measuredAt: input.recvTime.toISOString(),
  };
  if (b.length >= 6) data.co2ppm = (b[4] << 8) | b[5];
  if (b.length >= 8) data.counter = (b[6] << 8) | b[7];
  return { data: data, warnings: data.humidity > 100 ? ['humidity out of range'] : [] };
}`;

module.exports = {
  name: 'codecs',
  async run(lib) {
    const { pairs, without, withCodec, cpu, decodedShare, errors } = await throughput(lib);
    const cost = await callCost(lib);
    // Each pair is two adjacent bursts, one with and one without: the machine's drift over the run cancels out.
    const ratio = Math.exp(pairs.reduce((sum, r) => sum + Math.log(r), 0) / pairs.length);
    return [
      { measure: `ingest without codecs (mean of ${ORDER.length / 2} bursts)`, value: lib.round(without), unit: 'uplinks/s', target: null, met: null },
      { measure: `ingest with a codec on every uplink (mean of ${ORDER.length / 2} bursts)`, value: lib.round(withCodec), unit: 'uplinks/s', target: null, met: null },
      { measure: `with codec / without (geometric mean of ${pairs.length} adjacent pairs: ${pairs.map((r) => r.toFixed(2)).join(', ')})`, value: lib.round(ratio, 2), unit: '×', target: '≥ 0.85', met: ratio >= 0.85 },
      { measure: 'bridge CPU per uplink, without / with codec', value: `${lib.round(cpu.without)} / ${lib.round(cpu.withCodec)}`, unit: 'µs', target: null, met: null },
      { measure: 'machine CPU idle during the bursts, without / with codec', value: `${lib.round(cpu.idleWithout)} / ${lib.round(cpu.idleWith)}`, unit: '%', target: null, met: null },
      { measure: 'ingest requests refused or failed during the bursts', value: errors, unit: 'requests', target: '0', met: errors === 0 },
      { measure: 'uplinks stored decoded (sample of the codec bursts)', value: decodedShare, unit: '%', target: '100', met: decodedShare === 100 },
      { measure: 'codec call p50 / p99 (round trip to the sandbox thread, one at a time)', value: `${lib.round(cost.aloneP50, 3)} / ${lib.round(cost.aloneP99, 3)}`, unit: 'ms', target: null, met: null },
      { measure: 'codec call p50 / p99 (round trip to the sandbox thread, 64 at a time)', value: `${lib.round(cost.roundTripP50, 3)} / ${lib.round(cost.roundTripP99, 3)}`, unit: 'ms', target: null, met: null },
      { measure: 'codec call p50 / p99 (inside the sandbox)', value: `${lib.round(cost.sandboxP50, 3)} / ${lib.round(cost.sandboxP99, 3)}`, unit: 'ms', target: null, met: null },
      { measure: 'codec call p99 inside the sandbox, under the limit', value: lib.round(cost.sandboxP99, 3), unit: 'ms', target: '< 50 (the deadline)', met: cost.sandboxP99 < 50 },
      { measure: 'CPU per codec call (bench process: this thread and the sandbox thread)', value: lib.round(cost.cpuMicros), unit: 'µs', target: null, met: null },
    ];
  },
};

/** CPU time of a process so far, in µs (utime + stime of /proc/<pid>/stat, in clock ticks of 10 ms). */
function processCpuMicros(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** The machine's CPU time so far: total and idle, in ticks. */
function machineCpu() {
  const ticks = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number);
  return { total: ticks.reduce((sum, n) => sum + n, 0), idle: ticks[3] + ticks[4] };
}

/**
 * One bridge; bursts of the usual load (Helium with multi-buy copies, Sigfox, TTS) alternately
 * without and with the codec on all three connections, so that both see the same machine and the
 * same database: this machine is shared, and runs minutes apart differed by 3×. Each burst also
 * gives the bridge's CPU per uplink, which drifts far less than the rate.
 */
async function throughput(lib) {
  const stack = await lib.startStack();
  const pid = stack.processes[0].pid;
  const rates = { false: [], true: [] };
  const cpuPerUplink = { false: [], true: [] };
  const idle = { false: [], true: [] };
  const errors = { count: 0 };
  let decodedShare = null;
  const setCodec = async (on) => {
    // One process: the PATCH applies to its next request.
    for (const network of ['helium', 'sigfox', 'tts']) await lib.api('PATCH', `/api/connections/bench-${network}`, { settings: { codecId: on ? 'bench-typical' : null } });
  };
  try {
    await lib.api('POST', '/api/codecs', { id: 'bench-typical', name: 'typical', script: TYPICAL_CODEC });
    // Warm-up, both ways: devices discovered, statements prepared, the codec compiled.
    await setCodec(true);
    await burst(lib, stack.tokens, 3);
    await setCodec(false);
    await lib.warmUp(() => burst(lib, stack.tokens, 3));
    for (const withCodec of ORDER) {
      await setCodec(withCodec);
      const cpuBefore = processCpuMicros(pid);
      const machineBefore = machineCpu();
      const { rate, accepted } = await burst(lib, stack.tokens, BURST_SECONDS, errors);
      const machineAfter = machineCpu();
      rates[withCodec].push(rate);
      cpuPerUplink[withCodec].push((processCpuMicros(pid) - cpuBefore) / accepted);
      idle[withCodec].push((100 * (machineAfter.idle - machineBefore.idle)) / (machineAfter.total - machineBefore.total));
      if (withCodec && decodedShare === null) {
        // The newest uplinks, all from this burst; decoded once published, which trails the burst by a moment.
        await new Promise((resolve) => setTimeout(resolve, 2000));
        const page = await lib.api('GET', `/api/events?type=uplink&limit=${Math.min(300, Math.floor(accepted / 2))}`);
        const decoded = page.data.filter((event) => event.uplink.decoded?.measuredAt && !event.uplink.decodeErrors.length).length;
        decodedShare = lib.round((100 * decoded) / Math.max(page.data.length, 1), 1);
        const reasons = new Set(page.data.flatMap((event) => event.uplink.decodeErrors ?? []));
        if (reasons.size) console.log(`codecs: uplinks not decoded: ${[...reasons].join('; ')}`);
      }
    }
  } finally {
    await stack.stop();
  }
  const mean = (values) => values.reduce((sum, value) => sum + value, 0) / values.length;
  // ORDER's bursts two by two: each pair has one of each.
  const pairs = [];
  for (let i = 0; i < ORDER.length; i += 2) {
    const [a, b] = [ORDER[i], ORDER[i + 1]];
    const rateOf = (on) => rates[on][ORDER.slice(0, i + 2).filter((x) => x === on).length - 1];
    if (a !== b) pairs.push(rateOf(true) / rateOf(false));
  }
  return {
    pairs,
    without: mean(rates.false),
    withCodec: mean(rates.true),
    cpu: { without: mean(cpuPerUplink.false), withCodec: mean(cpuPerUplink.true), idleWithout: mean(idle.false), idleWith: mean(idle.true) },
    decodedShare,
    errors: errors.count,
  };
}

/** Uplinks accepted per second over `seconds` of the three networks' load at full speed. */
async function burst(lib, tokens, seconds, errors = { count: 0 }) {
  const load = lib.makeLoad(tokens, new Map());
  const started = performance.now();
  const results = await Promise.all([
    lib.cannon(load.heliumRequest, { connections: 32, duration: seconds }),
    lib.cannon(load.sigfoxRequest, { connections: 16, duration: seconds }),
    lib.cannon(load.ttsRequest, { connections: 16, duration: seconds }),
  ]);
  const accepted = results.reduce((n, r) => n + r['2xx'], 0);
  errors.count += results.reduce((n, r) => n + r.non2xx + r.errors, 0);
  return { rate: accepted / ((performance.now() - started) / 1000), accepted };
}

/**
 * CALLS decodes through the runner the bridge uses (dist/, after a build), 64 at a time as under
 * load: the round trip of each, its time in QuickJS, and the CPU of the calls (this process: its
 * thread and the sandbox thread).
 */
async function callCost(lib) {
  const { CodecRunner } = require(join(lib.ROOT, 'dist/codecs/codec-runner.service.js'));
  const runner = new CodecRunner();
  const roundTrips = [];
  const inSandbox = [];
  const alone = [];
  const call = async (i) => {
    const payloadHex = Buffer.from([i & 0xff, 0xc4, 0x64, 0x55, 0x01, 0xf4, (i >> 8) & 0xff, i & 0xff]).toString('hex');
    const started = performance.now();
    const { decoding, ms } = await runner.decode('bench-typical@1', TYPICAL_CODEC, payloadHex, 2, Date.now());
    if (decoding.decodeErrors.length) throw new Error(`codec failed: ${decoding.decodeErrors[0]}`);
    return { roundTrip: performance.now() - started, ms };
  };
  let cpuMicros;
  try {
    for (let i = 0; i < 200; i++) await call(i); // warm-up: thread start, compilation
    const cpuBefore = process.cpuUsage();
    for (let i = 0; i < CALLS; i += 64) {
      for (const { roundTrip, ms } of await Promise.all(Array.from({ length: 64 }, (_, j) => call(i + j)))) {
        roundTrips.push(roundTrip);
        inSandbox.push(ms);
      }
    }
    const cpu = process.cpuUsage(cpuBefore);
    cpuMicros = (cpu.user + cpu.system) / roundTrips.length;
    for (let i = 0; i < SEQUENTIAL_CALLS; i++) alone.push((await call(i)).roundTrip);
  } finally {
    runner.onModuleDestroy();
  }
  for (const list of [roundTrips, inSandbox, alone]) list.sort((a, b) => a - b);
  return {
    aloneP50: lib.percentile(alone, 50),
    aloneP99: lib.percentile(alone, 99),
    roundTripP50: lib.percentile(roundTrips, 50),
    roundTripP99: lib.percentile(roundTrips, 99),
    sandboxP50: lib.percentile(inSandbox, 50),
    sandboxP99: lib.percentile(inSandbox, 99),
    cpuMicros,
  };
}

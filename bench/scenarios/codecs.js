/**
 * Payload codecs (issue 15): ingest throughput with a typical codec decoding every uplink of every
 * network, against the same load without codecs (target ≥ 0.85×), and what one call costs.
 * BENCH_CODEC_SECONDS (default 4) per burst, 8 bursts (about 45 s in all).
 */
const { join } = require('node:path');

const BURST_SECONDS = Number(process.env.BENCH_CODEC_SECONDS ?? 4);
/** A B B A A B B A: a drift of the machine's speed over the run weighs on both sides alike. */
const ORDER = [false, true, true, false, false, true, true, false];
const CALLS = 5000;

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
    const { without, withCodec, decodedShare, errors } = await throughput(lib);
    const cost = await callCost(lib);
    const ratio = withCodec / without;
    return [
      { measure: 'ingest without codecs (mean of 4 bursts)', value: lib.round(without), unit: 'uplinks/s', target: null, met: null },
      { measure: 'ingest with a codec on every uplink (mean of 4 bursts)', value: lib.round(withCodec), unit: 'uplinks/s', target: null, met: null },
      { measure: 'with codec / without', value: lib.round(ratio, 2), unit: '×', target: '≥ 0.85', met: ratio >= 0.85 },
      { measure: 'ingest requests refused or failed during the bursts', value: errors, unit: 'requests', target: '0', met: errors === 0 },
      { measure: 'uplinks stored decoded (sample of the codec bursts)', value: decodedShare, unit: '%', target: '100', met: decodedShare === 100 },
      { measure: 'codec call p50 (round trip to the sandbox thread)', value: lib.round(cost.roundTripP50, 3), unit: 'ms', target: null, met: null },
      { measure: 'codec call p99 (round trip to the sandbox thread)', value: lib.round(cost.roundTripP99, 3), unit: 'ms', target: null, met: null },
      { measure: 'codec call p99 (inside the sandbox)', value: lib.round(cost.sandboxP99, 3), unit: 'ms', target: '< 50 (the deadline)', met: cost.sandboxP99 < 50 },
    ];
  },
};

/**
 * One bridge; bursts of the usual load (Helium with multi-buy copies, Sigfox, TTS) alternately
 * without and with the codec on all three connections, so that both see the same machine and the
 * same database: this machine is shared, and runs minutes apart differed by 3×.
 */
async function throughput(lib) {
  const stack = await lib.startStack();
  const rates = { false: [], true: [] };
  const errors = { count: 0 };
  let decodedShare = null;
  try {
    await lib.api('POST', '/api/codecs', { id: 'bench-typical', name: 'typical', script: TYPICAL_CODEC });
    await burst(lib, stack.tokens, 6); // warm-up: devices discovered, statements prepared
    for (const withCodec of ORDER) {
      // One process: the PATCH applies to its next request.
      for (const network of ['helium', 'sigfox', 'tts']) await lib.api('PATCH', `/api/connections/bench-${network}`, { settings: { codecId: withCodec ? 'bench-typical' : null } });
      rates[withCodec].push(await burst(lib, stack.tokens, BURST_SECONDS, errors));
      if (withCodec && decodedShare === null) {
        const page = await lib.api('GET', '/api/events?type=uplink&limit=300');
        const decoded = page.data.filter((event) => event.uplink.decoded?.measuredAt && !event.uplink.decodeErrors.length).length;
        decodedShare = lib.round((100 * decoded) / Math.max(page.data.length, 1), 1);
      }
    }
  } finally {
    await stack.stop();
  }
  const mean = (values) => values.reduce((sum, value) => sum + value, 0) / values.length;
  return { without: mean(rates.false), withCodec: mean(rates.true), decodedShare, errors: errors.count };
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
  return accepted / ((performance.now() - started) / 1000);
}

/** CALLS decodes one after the other through the runner the bridge uses (dist/, after a build). */
async function callCost(lib) {
  const { CodecRunner } = require(join(lib.ROOT, 'dist/codecs/codec-runner.service.js'));
  const runner = new CodecRunner();
  const roundTrips = [];
  const inSandbox = [];
  try {
    for (let i = 0; i < CALLS + 100; i++) {
      const bytes = [i & 0xff, 0xc4, 0x64, 0x55, 0x01, 0xf4, i >> 8, i & 0xff];
      const started = performance.now();
      const outcome = await runner.run('bench-typical@1', TYPICAL_CODEC, 'decodeUplink', { bytes, fPort: 2 }, Date.now());
      if (!outcome.ok) throw new Error(`codec failed: ${outcome.error}`);
      if (i < 100) continue; // warm-up: thread start, compilation
      roundTrips.push(performance.now() - started);
      inSandbox.push(outcome.ms);
    }
  } finally {
    runner.onModuleDestroy();
  }
  roundTrips.sort((a, b) => a - b);
  inSandbox.sort((a, b) => a - b);
  return { roundTripP50: lib.percentile(roundTrips, 50), roundTripP99: lib.percentile(roundTrips, 99), sandboxP99: lib.percentile(inSandbox, 99) };
}

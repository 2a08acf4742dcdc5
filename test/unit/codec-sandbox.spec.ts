import { CodecRunner } from '../../src/codecs/codec-runner.service';
import { SANDBOX_LIMITS } from '../../src/codecs/sandbox';

const TEMPERATURE = `
function decodeUplink(input) {
  if (input.bytes.length < 2) return { errors: ['too short'] };
  return { data: { temperature: ((input.bytes[0] << 8) | input.bytes[1]) / 10, port: input.fPort, at: input.recvTime.toISOString() }, warnings: [] };
}`;
const RECV = Date.parse('2026-12-01T10:00:00.000Z');

const RUNNER = new CodecRunner();
afterAll(() => RUNNER.onModuleDestroy());

describe('codec sandbox (QuickJS, in its own thread)', () => {
  let version = 0;
  /** decodeUplink through the runner: its data, or its first error entry. */
  const run = async (script: string, input: { bytes: number[]; fPort?: number } = { bytes: [1, 2], fPort: 1 }, key = `codec${(version += 1)}@1`) => {
    const { decoding, ms } = await RUNNER.decode(key, script, Buffer.from(input.bytes).toString('hex'), input.fPort ?? 1, RECV);
    return decoding.decodeErrors.length ? { ok: false as const, error: decoding.decodeErrors[0], ms } : { ok: true as const, value: decoding.decoded, ms };
  };
  const valueOf = async (script: string, input?: { bytes: number[]; fPort?: number }) => {
    const outcome = await run(script, input);
    if (!outcome.ok) throw new Error(outcome.error);
    return outcome.value;
  };
  const errorOf = async (script: string, input?: { bytes: number[]; fPort?: number }) => {
    const outcome = await run(script, input);
    if (outcome.ok) throw new Error(`no error, got ${JSON.stringify(outcome.value)}`);
    return outcome.error;
  };
  const compileError = async (script: string) => {
    const checked = await RUNNER.check(script);
    if (!('error' in checked)) throw new Error('compiled');
    return checked.error;
  };

  it('decodes bytes given as a plain array, with fPort and recvTime as a Date', async () => {
    expect(await valueOf(TEMPERATURE, { bytes: [0x00, 0xeb], fPort: 2 })).toEqual({ temperature: 23.5, port: 2, at: '2026-12-01T10:00:00.000Z' });
    expect(await valueOf('function decodeUplink(i) { return { data: Array.isArray(i.bytes) } }')).toBe(true);
  });

  it('refuses a syntax error with its line and column, and a script without decodeUplink', async () => {
    expect(await compileError('function decodeUplink(input) {\n  return { data: 1 + };\n}')).toMatch(/^SyntaxError: .* \(line 2, column \d+\)$/);
    expect(await compileError('function decode(input) { return {} }')).toBe('the script defines no function decodeUplink');
    expect(await compileError('throw new Error("boom")')).toMatch(/^Error: boom \(line 1, column \d+\)$/);
    expect(await compileError('while (true) {}')).toBe(`stopped after ${SANDBOX_LIMITS.compileMs} ms (time limit)`);
    expect(await RUNNER.check(TEMPERATURE)).toEqual({ encodes: false });
    expect(await RUNNER.check(`${TEMPERATURE}\nfunction encodeDownlink(input) { return { bytes: [1] } }`)).toEqual({ encodes: true });
  });

  it('finds codec functions declared with const and let', async () => {
    expect(await valueOf('const decodeUplink = (input) => ({ data: input.bytes.length })')).toBe(2);
  });

  it('gives scripts no host object and no clock but recvTime', async () => {
    const script = `function decodeUplink() {
      return { data: { names: Object.getOwnPropertyNames(globalThis), now: Date.now(), date: new Date().toISOString(),
        reach: [typeof require, typeof process, typeof fetch, typeof setTimeout, typeof console, typeof module, typeof performance] } };
    }`;
    const data = (await valueOf(script)) as { names: string[]; now: number; date: string; reach: string[] };
    expect(data.reach).toEqual(Array(7).fill('undefined'));
    expect(data.names.filter((name) => !STANDARD_GLOBALS.has(name))).toEqual([]);
    expect(data.now).toBe(RECV);
    expect(data.date).toBe('2026-12-01T10:00:00.000Z');
    expect(await errorOf('function decodeUplink() { return { data: require("fs") } }')).toMatch(/^ReferenceError: .*require/);
    expect(await errorOf('function decodeUplink() { return { data: globalThis.process.env } }')).toMatch(/^TypeError/);
  });

  it('stops an endless loop at the deadline, and the codec works again on the next call', async () => {
    const script = 'function decodeUplink(input) { if (input.fPort === 9) while (true) {} return { data: 1 } }';
    expect(await run(script, { bytes: [], fPort: 9 }, 'loop@1')).toEqual({ ok: false, error: `stopped after ${SANDBOX_LIMITS.deadlineMs} ms (time limit)`, ms: expect.any(Number) });
    expect(await run(script, { bytes: [], fPort: 1 }, 'loop@1')).toEqual({ ok: true, value: 1, ms: expect.any(Number) });
  });

  it('stops a memory bomb at 16 MiB and deep recursion at the stack limit', async () => {
    expect(await errorOf('function decodeUplink() { var a = []; while (true) a.push("x".repeat(1e5) + a.length); }')).toMatch(/^(out of memory \(limit 16 MiB\)|stopped after|killed after)/);
    expect(await errorOf('function decodeUplink() { var a = new Uint8Array(32 * 1024 * 1024); return { data: a.length } }')).toBe('out of memory (limit 16 MiB)');
    expect(await errorOf('function decodeUplink(input) { function down(n) { return down(n + 1) + 1 } return { data: down(0) } }')).toMatch(/^stack overflow/);
    expect(await valueOf(TEMPERATURE, { bytes: [0, 10], fPort: 1 })).toMatchObject({ temperature: 1 });
  });

  it('suspends a codec stopped by its limits 3 times in a row, so that a flood of its uplinks leaves the thread to the others', async () => {
    const loop = 'function decodeUplink() { while (true) {} }';
    const flood = Array.from({ length: 30 }, () => run(loop, { bytes: [] }, 'flood@1'));
    const other = run(TEMPERATURE, { bytes: [0, 5, 1], fPort: 1 }, 'other@1');
    const errors = (await Promise.all(flood)).map((outcome) => (outcome.ok ? 'ok' : outcome.error));
    expect(errors.slice(0, 3)).toEqual(Array(3).fill(`stopped after ${SANDBOX_LIMITS.deadlineMs} ms (time limit)`));
    expect(new Set(errors.slice(3))).toEqual(new Set(["codec suspended for 60 s: its calls ran into the sandbox's limits 3 times in a row"]));
    expect(await other).toMatchObject({ ok: true, value: { temperature: 0.5 } });
  });

  it('turns results that are not JSON into errors', async () => {
    expect(await errorOf('function decodeUplink() { var a = {}; a.self = a; return { data: a } }')).toMatch(/^TypeError: .*circular/);
    expect(await errorOf('function decodeUplink() { return { data: 10n } }')).toMatch(/^TypeError: .*BigInt/);
    expect(await errorOf('function decodeUplink() { return { data: { f: function () {} } } }')).toBe('TypeError: the result is not JSON: it holds a function at "f"');
    expect(await errorOf('function decodeUplink() { }')).toBe('TypeError: decodeUplink must return an object, not undefined');
    expect(await errorOf('function decodeUplink() { return { toJSON: function () { return undefined } } }')).toBe('TypeError: decodeUplink must return an object that is JSON');
    expect(await errorOf('function decodeUplink() { return new Proxy({}, { ownKeys: function () { while (true) {} } }) }')).toBe('stopped after 50 ms (time limit)');
    expect(await errorOf('function decodeUplink() { return { data: "x".repeat(70000) } }')).toBe(`the result is larger than ${SANDBOX_LIMITS.resultBytes} bytes as JSON`);
  });

  it('starts every call from the same state: nothing a call keeps reaches the next one', async () => {
    const keeper = `
      var count = 0; let lexical = 0; var table = {};
      function decodeUplink(input) {
        count += 1; lexical += 1; table[input.fPort] = true;
        implicit = (typeof implicit === 'number' ? implicit : 0) + 1;
        globalThis.viaGlobal = (globalThis.viaGlobal || 0) + 1;
        Array.prototype.stash = ([].stash || 0) + 1;
        Object.prototype.stash2 = 1;
        JSON.stash = 1;
        Math = null;
        Object.getPrototypeOf([][Symbol.iterator]()).stash3 = 1;
        Object.getPrototypeOf(function* () {}).stash4 = 1;
        (0, eval)('var evalVar = (typeof evalVar === "number" ? evalVar : 0) + 1; let evalLet = 1');
        Object.defineProperty(globalThis, 'quiet', { value: (typeof quiet === 'number' ? quiet : 0) + 1, enumerable: false, configurable: true });
        globalThis[Symbol.for('kept')] = (globalThis[Symbol.for('kept')] || 0) + 1;
        var numberBefore = typeof Number;
        Object.defineProperty(globalThis, 'Number', { value: null, configurable: true });
        return { data: { count: count, lexical: lexical, ports: Object.keys(table), implicit: implicit, viaGlobal: globalThis.viaGlobal,
          stashes: [[].stash, ({}).stash2, JSON.stash, [][Symbol.iterator]().stash3, (function* () {})().stash4].map(String),
          math: typeof Math.max, evalVar: evalVar, evalLet: typeof evalLet, quiet: quiet, kept: globalThis[Symbol.for('kept')],
          numberBefore: numberBefore, randoms: [Math.random(), Math.random()] } };
      }`;
    const first = (await valueOf(keeper, { bytes: [], fPort: 1 })) as { randoms: number[] };
    const second = (await valueOf(keeper, { bytes: [], fPort: 2 })) as { randoms: number[] };
    const same = { count: 1, lexical: 1, implicit: 1, viaGlobal: 1, stashes: Array(5).fill('undefined'), math: 'function', evalVar: 1, evalLet: 'undefined', quiet: 1, kept: 1, numberBefore: 'function' };
    expect(first).toEqual({ ...same, ports: ['1'], randoms: expect.any(Array) });
    expect(second).toEqual({ ...same, ports: ['2'], randoms: expect.any(Array) });
    expect(first.randoms).not.toEqual(second.randoms);
    // Asked together, they are made in one call into QuickJS: still each from the same state.
    const key = `keeper${(version += 1)}@1`;
    const together = await Promise.all([3, 4, 5].map((fPort) => run(keeper, { bytes: [], fPort }, key)));
    expect(together).toEqual([3, 4, 5].map((fPort) => ({ ok: true, value: { ...same, ports: [String(fPort)], randoms: expect.any(Array) }, ms: expect.any(Number) })));
    const randoms = together.map((outcome) => JSON.stringify((outcome as { value: { randoms: number[] } }).value.randoms));
    expect(new Set(randoms).size).toBe(3);
  });

  it('gives each of the calls made together its own deadline: one stopped after the others is made again first', async () => {
    // A loop of bytes[0] × 100,000 turns, sized to take about 15 ms here (once QuickJS's code is warm).
    const script = 'function decodeUplink(input) { var n = input.bytes[0] * 100000, x = 0; for (var i = 0; i < n; i++) x += i; if (input.fPort === 9) while (true) {} return { data: input.fPort } }';
    const probes = [];
    for (let i = 0; i < 3; i++) probes.push((await run(script, { bytes: [2], fPort: 1 }, 'paced@1')).ms);
    const turns = Math.max(1, Math.min(250, Math.round((2 * 15) / Math.max(Math.min(...probes), 0.05))));
    // Eight calls of ~15 ms each: more than one deadline's worth, asked together.
    const paced = await Promise.all(Array.from({ length: 8 }, (_, i) => run(script, { bytes: [turns], fPort: 10 + i }, 'paced@1')));
    expect(paced.map((outcome) => (outcome.ok ? outcome.value : outcome.error))).toEqual(Array.from({ length: 8 }, (_, i) => 10 + i));
    // An endless one among them is stopped, and only it.
    const mixed = await Promise.all([1, 2, 9, 3].map((fPort) => run(script, { bytes: [1], fPort }, 'paced@1')));
    expect(mixed.map((outcome) => (outcome.ok ? outcome.value : outcome.error))).toEqual([1, 2, `stopped after ${SANDBOX_LIMITS.deadlineMs} ms (time limit)`, 3]);
    // So is one out of memory among them, and the calls after it still decode.
    const hungry = 'function decodeUplink(input) { if (input.fPort === 8) { var a = new Uint8Array(32 * 1024 * 1024); } return { data: input.fPort } }';
    const withBomb = await Promise.all([1, 8, 2].map((fPort) => run(hungry, { bytes: [], fPort }, 'hungry@1')));
    expect(withBomb.map((outcome) => (outcome.ok ? outcome.value : outcome.error))).toEqual([1, 'out of memory (limit 16 MiB)', 2]);
  });

  it('throws away a context left with what cannot be removed: a fixed global, another global prototype, a Promise job', async () => {
    const leaving = (how: string) => `function decodeUplink() {
      var seen = typeof sticky === 'number' ? sticky : 0;
      assigned = 1; // undeclared: fails if the global object was left non-extensible
      ${how}
      return { data: seen + assigned - 1 };
    }`;
    for (const how of [
      "Object.defineProperty(globalThis, 'sticky', { value: 1 });",
      'Object.setPrototypeOf(globalThis, { sticky: 1 });',
      "Promise.resolve().then(function () { Object.defineProperty(globalThis, 'sticky', { value: 1 }) });",
      'Object.preventExtensions(globalThis);',
    ]) {
      const key = `leaving${(version += 1)}@1`;
      const call = () => run(leaving(how), { bytes: [], fPort: 1 }, key);
      expect([await call(), await call()]).toEqual(Array(2).fill({ ok: true, value: 0, ms: expect.any(Number) }));
    }
  });

  it("gives the clock only through recvTime, even by the real Date's prototype", async () => {
    const script = `function decodeUplink() {
      var real = Date.prototype.constructor;
      return { data: [new real().getTime(), real === Date, typeof Date(), Object.getPrototypeOf(Date) === Function.prototype, new Date(0).getTime()] };
    }`;
    expect(await valueOf(script)).toEqual([RECV, true, 'string', true, 0]);
  });

  it('kills a call stuck in a built-in past the deadline, suspends that codec and keeps serving the others', async () => {
    const bomb = 'function decodeUplink() { var a = []; while (true) a.push(new Array(100000).fill(1)) }';
    const good = (n: number) => run(TEMPERATURE, { bytes: [0, n, 1], fPort: 1 }, 'good@1');
    const outcomes = await Promise.all([good(1), good(2), run(bomb, { bytes: [] }, 'bomb@1'), good(3), good(4)]);
    expect(outcomes.map((outcome) => (outcome.ok ? (outcome.value as { temperature: number }).temperature : outcome.error))).toEqual([
      0.1,
      0.2,
      expect.stringMatching(/^killed after \d+ ms|^out of memory/),
      0.3,
      0.4,
    ]);
    expect(await run(bomb, { bytes: [] }, 'bomb@1')).toMatchObject({ ok: false, error: expect.stringMatching(/^codec suspended for 60 s: a call of it ran past every limit|^out of memory/) });
  });
});

const STANDARD_GLOBALS = new Set(
  'Object Function Array Number parseFloat parseInt Infinity NaN undefined Boolean String Symbol Date Promise RegExp Error AggregateError EvalError RangeError ReferenceError SyntaxError TypeError URIError InternalError globalThis JSON Math Reflect Proxy Map Set WeakMap WeakSet WeakRef FinalizationRegistry ArrayBuffer SharedArrayBuffer DataView Int8Array Uint8Array Uint8ClampedArray Int16Array Uint16Array Int32Array Uint32Array Float16Array Float32Array Float64Array BigInt64Array BigUint64Array BigInt Iterator decodeURI decodeURIComponent encodeURI encodeURIComponent escape unescape isFinite isNaN eval decodeUplink'.split(' '),
);

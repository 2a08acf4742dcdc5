import type { QuickJSContext, QuickJSHandle, QuickJSRuntime, QuickJSWASMModule } from 'quickjs-emscripten';
import { shouldInterruptAfterDeadline } from 'quickjs-emscripten';

/** What one codec call may use (SPEC §9). Documented in the README, Codecs. */
export const SANDBOX_LIMITS = {
  memoryBytes: 16 * 1024 * 1024,
  deadlineMs: 50,
  /** Evaluating a script's top level when it is compiled (once per version and process). */
  compileMs: 200,
  stackBytes: 256 * 1024,
  /** A result larger than this, as JSON, is refused: it would be stored in every event. */
  resultBytes: 64 * 1024,
};

export type CodecFunction = 'decodeUplink' | 'encodeDownlink';

export type SandboxOutcome = { ok: true; json: string } | { ok: false; error: string };

/** A script the sandbox refuses to compile, with the engine's reason and position. */
export class CodecCompileError extends Error {}

const SCRIPT_FILE = 'codec.js';
/** Codec versions kept compiled (each holds a QuickJS runtime: ~0.1 MiB, more with its state); beyond, the least used goes. */
const MAX_COMPILED = 100;
/**
 * A codec version stopped by a limit this many times in a row is not run for SUSPENSION_MS: a codec
 * looping to its deadline on every uplink would take the thread from all the others.
 */
const LIMIT_HITS_TO_SUSPEND = 3;
const SUSPENSION_MS = 60_000;

/**
 * Evaluated before the codec's script; the function it returns stays with the host, out of the
 * script's reach. It takes the codec function's input as JSON and gives its result as JSON, so
 * nothing but strings crosses the boundary. The clock stands still at the uplink's recvTime.
 */
const PRELUDE = `(function () {
  var parse = JSON.parse, stringify = JSON.stringify, now = 0;
  var StillDate = class Date extends globalThis.Date {
    constructor(...args) { if (args.length) super(...args); else super(now); }
    static now() { return now; }
  };
  globalThis.Date = StillDate;
  function plainJson(key, value) {
    var type = typeof value;
    if (type === 'function' || type === 'symbol') {
      throw new TypeError('the result is not JSON: it holds a ' + type + (key ? ' at "' + key + '"' : ''));
    }
    return value;
  }
  return function (name, json, time) {
    var f = name === 'decodeUplink' ? (typeof decodeUplink === 'function' ? decodeUplink : undefined)
      : (typeof encodeDownlink === 'function' ? encodeDownlink : undefined);
    if (f === undefined) throw new TypeError(name + ' is not defined');
    now = time;
    var input = parse(json);
    if (name === 'decodeUplink') input.recvTime = new StillDate(time);
    var result = f(input);
    if (typeof result !== 'object' || result === null) throw new TypeError(name + ' must return an object, not ' + (result === null ? 'null' : typeof result));
    var json = stringify(result, plainJson);
    if (typeof json !== 'string') throw new TypeError(name + ' must return an object that is JSON');
    return json;
  };
})()`;

interface CompiledCodec {
  runtime: QuickJSRuntime;
  context: QuickJSContext;
  call: QuickJSHandle;
  encodes: boolean;
}

/**
 * Runs codec scripts in QuickJS (WebAssembly): no host object is ever given to a script, so it has
 * the language's built-ins and nothing else. Each codec version has its own runtime (memory
 * limit) and context, compiled once and reused across calls; one that hit a limit is thrown away
 * and compiled again on its next call, since its state may be half-built.
 */
export class CodecSandbox {
  private readonly compiled = new Map<string, CompiledCodec>();
  /** Limits hit in a row, per codec version; and the versions suspended, until when. */
  private readonly limitHits = new Map<string, number>();
  private readonly suspended = new Map<string, number>();
  /**
   * QuickJS may fail to free a runtime that ran out of memory (an assertion aborts the WebAssembly
   * instance): then nothing more can run in this instance, and its thread must be replaced.
   */
  broken = false;

  /**
   * WebAssembly code is compiled lazily: the first runtime of an instance takes tens of ms to
   * build, which would count against the first codec's limits. One throwaway codec call first.
   */
  constructor(private readonly quickjs: QuickJSWASMModule) {
    this.run('warm-up@0', 'function decodeUplink(input) { return { data: [input.bytes.length, new Date().getTime()] } }', 'decodeUplink', { bytes: [1] }, 0);
    this.discard('warm-up@0');
  }

  /** Compiles a script to check it: the reason it cannot be used, or whether it can encode. */
  check(script: string): { encodes: boolean } {
    const codec = this.compile(script);
    const encodes = codec.encodes;
    this.release(codec);
    return { encodes };
  }

  /** Calls `fn` of the script cached as `key` (a codec version), compiling it on first use. */
  run(key: string, script: string, fn: CodecFunction, input: unknown, recvTime: number): SandboxOutcome {
    const until = this.suspended.get(key);
    if (until !== undefined && until > Date.now()) return { ok: false, error: `codec suspended for ${SUSPENSION_MS / 1000} s: its calls ran into the sandbox's limits ${LIMIT_HITS_TO_SUSPEND} times in a row` };
    let codec = this.compiled.get(key);
    if (!codec) {
      try {
        codec = this.compile(script);
      } catch (error) {
        if (error instanceof CodecCompileError) return { ok: false, error: error.message };
        throw error;
      }
      this.forgetVersionsOf(key);
      const leastUsed = this.compiled.size >= MAX_COMPILED ? this.compiled.keys().next().value : undefined;
      if (leastUsed !== undefined) this.discard(leastUsed);
    } else this.compiled.delete(key);
    // Map order is use order: the first key is the least recently used.
    this.compiled.set(key, codec);
    const { runtime, context } = codec;
    runtime.setInterruptHandler(shouldInterruptAfterDeadline(Date.now() + SANDBOX_LIMITS.deadlineMs));
    const args = [context.newString(fn), context.newString(JSON.stringify(input)), context.newNumber(recvTime)];
    const result = context.callFunction(codec.call, context.undefined, ...args);
    for (const arg of args) arg.dispose();
    if (result.error) {
      const { message, limitHit } = describeError(context, result.error, SANDBOX_LIMITS.deadlineMs);
      result.error.dispose();
      this.countLimitHits(key, limitHit);
      if (limitHit) this.discard(key);
      return { ok: false, error: message };
    }
    this.countLimitHits(key, false);
    const json = context.getString(result.value);
    result.value.dispose();
    if (json.length > SANDBOX_LIMITS.resultBytes) return { ok: false, error: `the result is larger than ${SANDBOX_LIMITS.resultBytes} bytes as JSON` };
    return { ok: true, json };
  }

  private compile(script: string): CompiledCodec {
    const runtime = this.quickjs.newRuntime();
    runtime.setMemoryLimit(SANDBOX_LIMITS.memoryBytes);
    runtime.setMaxStackSize(SANDBOX_LIMITS.stackBytes);
    runtime.setInterruptHandler(shouldInterruptAfterDeadline(Date.now() + SANDBOX_LIMITS.compileMs));
    const context = runtime.newContext();
    const codec: CompiledCodec = { runtime, context, call: context.undefined, encodes: false };
    try {
      const prelude = context.evalCode(PRELUDE, 'sandbox.js', { type: 'global', strict: true });
      if (prelude.error) {
        const { message } = describeError(context, prelude.error, SANDBOX_LIMITS.compileMs);
        prelude.error.dispose();
        throw new CodecCompileError(message);
      }
      codec.call = prelude.value;
      const evaluated = context.evalCode(script, SCRIPT_FILE, { type: 'global' });
      if (evaluated.error) {
        const { message } = describeError(context, evaluated.error, SANDBOX_LIMITS.compileMs);
        evaluated.error.dispose();
        throw new CodecCompileError(message);
      }
      evaluated.value.dispose();
      const defines = (name: CodecFunction) => {
        const found = context.evalCode(`typeof ${name} === 'function'`, 'sandbox.js');
        const value = found.error ? false : context.dump(found.value) === true;
        (found.error ?? found.value).dispose();
        return value;
      };
      if (!defines('decodeUplink')) throw new CodecCompileError('the script defines no function decodeUplink');
      codec.encodes = defines('encodeDownlink');
      return codec;
    } catch (error) {
      this.release(codec);
      throw error;
    }
  }

  private countLimitHits(key: string, hit: boolean): void {
    const hits = hit ? (this.limitHits.get(key) ?? 0) + 1 : 0;
    if (hits >= LIMIT_HITS_TO_SUSPEND) this.suspended.set(key, Date.now() + SUSPENSION_MS);
    if (hits > 0 && hits < LIMIT_HITS_TO_SUSPEND) this.limitHits.set(key, hits);
    else this.limitHits.delete(key);
  }

  private forgetVersionsOf(key: string): void {
    const codecId = key.slice(0, key.lastIndexOf('@') + 1);
    for (const other of this.compiled.keys()) if (other.startsWith(codecId)) this.discard(other);
  }

  private discard(key: string): void {
    const codec = this.compiled.get(key);
    this.compiled.delete(key);
    if (codec) this.release(codec);
  }

  private release(codec: CompiledCodec): void {
    try {
      if (codec.call !== codec.context.undefined) codec.call.dispose();
      codec.context.dispose();
      codec.runtime.dispose();
    } catch {
      this.broken = true;
    }
  }
}

/** QuickJS's InternalErrors are its limits: interrupted (deadline), out of memory, stack overflow. */
function describeError(context: QuickJSContext, handle: QuickJSHandle, deadlineMs: number): { message: string; limitHit: boolean } {
  const error = context.dump(handle) as { name?: unknown; message?: unknown; stack?: unknown } | unknown;
  if (typeof error !== 'object' || error === null) return { message: `threw ${clip(String(error))}`, limitHit: false };
  const { name, message, stack } = error as { name?: unknown; message?: unknown; stack?: unknown };
  const limitHit = name === 'InternalError';
  const position = typeof stack === 'string' ? new RegExp(`${SCRIPT_FILE.replace('.', '\\.')}:(\\d+):(\\d+)`).exec(stack) : null;
  const limit = limitHit ? LIMIT_NAMES[String(message)]?.replace('{ms}', String(deadlineMs)) : undefined;
  const text = limit ?? `${typeof name === 'string' ? name : 'Error'}: ${clip(String(message))}`;
  return { message: position && !limit ? `${text} (line ${position[1]}, column ${position[2]})` : text, limitHit };
}

const LIMIT_NAMES: Record<string, string> = {
  interrupted: 'stopped after {ms} ms (time limit)',
  'out of memory': `out of memory (limit ${SANDBOX_LIMITS.memoryBytes / 1024 / 1024} MiB)`,
  'stack overflow': 'stack overflow (recursion too deep)',
};

function clip(text: string): string {
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

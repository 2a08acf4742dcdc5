import type { QuickJSContext, QuickJSHandle, QuickJSRuntime, QuickJSWASMModule } from 'quickjs-emscripten';
import { PRELUDE, RESULT_SEPARATOR, SCRIPT_PREFIX, SCRIPT_SUFFIX } from './sandbox-prelude';

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

/** An uplink for decodeUplink: its bytes as hex (checked by the caller), its port and time. */
export interface UplinkInput {
  payloadHex: string;
  fPort: number;
  recvTime: number;
}
/** What the function returned, as JSON; or why there is no result (the script's error, a limit). */
export type SandboxResult = { ok: true; json: string } | { ok: false; error: string };

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
 * Time for the prelude (ours, not the script's: ~20 ms), however busy the machine; with the
 * script's compileMs, within the runner's watchdog (500 ms), which would end the thread.
 */
const PRELUDE_MS = 300;

interface CompiledCodec {
  runtime: QuickJSRuntime;
  context: QuickJSContext;
  /** The prelude's call function for this script (see sandbox-prelude.ts). */
  call: QuickJSHandle;
  encodes: boolean;
  /** When the interrupt handler stops the script: set before each call. */
  deadline: { at: number };
}

/** What a call answered: its result as JSON, or its error; `left`: it left state that could not be removed. */
type CallResult = { ok: true; json: string; left: boolean } | { ok: false; error: string; limitHit: boolean; left: boolean };
/** Time for the prelude to answer what a call stopped by its deadline had made. */
const PROGRESS_MS = 50;

/**
 * Runs codec scripts in QuickJS (WebAssembly): no host object is ever given to a script, so it has
 * the language's built-ins and nothing else. Each codec version has its own runtime (memory
 * limit) and context, compiled once and reused across calls, each of which starts from the same
 * state (see sandbox-prelude.ts). A context a call may have left otherwise (it hit a limit, or
 * left what cannot be removed) is thrown away, and the codec compiled again on its next call.
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
    this.decode('warm-up@0', 'function decodeUplink(input) { return { data: [input.bytes.length, new Date().getTime()] } }', [{ payloadHex: '01', fPort: 1, recvTime: 0 }]);
    this.discard('warm-up@0');
  }

  /** Compiles a script to check it: the reason it cannot be used, or whether it can encode. */
  check(script: string): { encodes: boolean } {
    const codec = this.compile(script);
    const encodes = codec.encodes;
    this.release(codec);
    return { encodes };
  }

  /**
   * decodeUplink of the script cached as `key` (a codec version, compiled on first use) on each
   * uplink: one call each, all from the same state, and as few calls into QuickJS as can be (each
   * costs more than a typical codec's work). The deadline is each call's own: calls made together
   * share one, so one stopped after others had run is made again first, with the whole deadline.
   * `onCall(i)`: a call into QuickJS begins, from the i-th uplink (the runner's watchdog times it).
   */
  decode(key: string, script: string, uplinks: UplinkInput[], onCall: (first: number) => void = () => undefined): SandboxResult[] {
    const results: SandboxResult[] = [];
    while (results.length < uplinks.length) {
      onCall(results.length);
      const codec = this.ready(key, script);
      if ('error' in codec) {
        while (results.length < uplinks.length) results.push({ ok: false, error: codec.error });
        break;
      }
      const { answers, stopped } = this.decodeInQuickjs(codec, uplinks.slice(results.length));
      let discard = stopped || codec.runtime.hasPendingJob();
      for (const [i, answer] of answers.entries()) {
        const limit = !answer.ok && answer.limitHit;
        if (limit || answer.left) discard = true;
        // A limit after other calls in the same context may be theirs (memory): made again first, in a fresh one.
        if (limit && i > 0) break;
        results.push(this.counted(key, answer));
      }
      if (discard) this.discard(key);
    }
    return results;
  }

  /** encodeDownlink of the script cached as `key` on `{ data }`. */
  encode(key: string, script: string, data: unknown): SandboxResult {
    const codec = this.ready(key, script);
    if ('error' in codec) return { ok: false, error: codec.error };
    const result = this.invoke(codec, 'encodeDownlink', JSON.stringify({ data }), Date.now(), SANDBOX_LIMITS.deadlineMs);
    if (result.left || codec.runtime.hasPendingJob()) this.discard(key);
    return this.counted(key, result);
  }

  /** The codec version compiled, most recently used; or why it cannot run. */
  private ready(key: string, script: string): CompiledCodec | { error: string } {
    const until = this.suspended.get(key);
    if (until !== undefined && until > Date.now()) return { error: `codec suspended for ${SUSPENSION_MS / 1000} s: its calls ran into the sandbox's limits ${LIMIT_HITS_TO_SUSPEND} times in a row` };
    let codec = this.compiled.get(key);
    if (!codec) {
      try {
        codec = this.compile(script);
      } catch (error) {
        if (error instanceof CodecCompileError) return { error: error.message };
        throw error;
      }
      this.forgetVersionsOf(key);
      const leastUsed = this.compiled.size >= MAX_COMPILED ? this.compiled.keys().next().value : undefined;
      if (leastUsed !== undefined) this.discard(leastUsed);
    } else this.compiled.delete(key);
    // Map order is use order: the first key is the least recently used.
    this.compiled.set(key, codec);
    return codec;
  }

  /** A call's result as the caller gets it, counted against the codec's limits. */
  private counted(key: string, result: CallResult): SandboxResult {
    this.countLimitHits(key, !result.ok && result.limitHit);
    if (!result.ok) return { ok: false, error: result.error };
    if (result.json.length > SANDBOX_LIMITS.resultBytes) return { ok: false, error: `the result is larger than ${SANDBOX_LIMITS.resultBytes} bytes as JSON` };
    return { ok: true, json: result.json };
  }

  /**
   * One call of the prelude's decodeMany: the answers it made (one at least), and whether its
   * deadline stopped it after them (a call stopped first is answered with the limit: it had the
   * whole deadline).
   */
  private decodeInQuickjs(codec: CompiledCodec, uplinks: UplinkInput[]): { answers: CallResult[]; stopped: boolean } {
    const packed = uplinks.map((uplink) => `${uplink.payloadHex} ${uplink.fPort} ${uplink.recvTime} ${(Math.random() * 2 ** 32) | 0}`).join(';');
    const result = this.callPrelude(codec, 'decodeMany', packed, 0, 0, SANDBOX_LIMITS.deadlineMs);
    if (result.ok) return { answers: answersOf(result.text), stopped: false };
    const progress = this.callPrelude(codec, 'progress', '', 0, 0, PROGRESS_MS);
    const answers = progress.ok ? answersOf(progress.text) : [];
    return { answers: answers.length ? answers : [{ ok: false, ...result.thrown, left: true }], stopped: true };
  }

  /** A call of the codec (or the probe) alone, stopped after `deadlineMs`. */
  private invoke(codec: CompiledCodec, name: CodecFunction | 'probe', json: string, time: number, deadlineMs: number): CallResult {
    const result = this.callPrelude(codec, name, json, (Math.random() * 2 ** 32) | 0, time, deadlineMs);
    // A limit (QuickJS's interrupt cannot be caught), or the cleanup failing: the context goes.
    return result.ok ? answerOf(result.text) : { ok: false, ...result.thrown, left: true };
  }

  /** The prelude's call function (see sandbox-prelude.ts): its answer, or what was thrown out of it. */
  private callPrelude(codec: CompiledCodec, name: string, arg: string, seed: number, time: number, deadlineMs: number): { ok: true; text: string } | { ok: false; thrown: { error: string; limitHit: boolean } } {
    const { context } = codec;
    const args = [context.newString(name), context.newString(arg), context.newNumber(seed), context.newNumber(time)];
    codec.deadline.at = Date.now() + deadlineMs;
    const result = context.callFunction(codec.call, context.undefined, ...args);
    for (const handle of args) handle.dispose();
    if (result.error) {
      const thrown = describe(context.dump(result.error), deadlineMs, true);
      result.error.dispose();
      return { ok: false, thrown };
    }
    const text = context.getString(result.value);
    result.value.dispose();
    return { ok: true, text };
  }

  private compile(script: string): CompiledCodec {
    const runtime = this.quickjs.newRuntime();
    runtime.setMemoryLimit(SANDBOX_LIMITS.memoryBytes);
    runtime.setMaxStackSize(SANDBOX_LIMITS.stackBytes);
    // The prelude freezing the built-ins is not the script's work, and not counted in its limit.
    const deadline = { at: Date.now() + PRELUDE_MS };
    runtime.setInterruptHandler(() => Date.now() > deadline.at);
    const context = runtime.newContext();
    const codec: CompiledCodec = { runtime, context, call: context.undefined, encodes: false, deadline };
    try {
      // The script alone first: its syntax errors at their own positions, and no way out of the function it is put in.
      this.evaluate(context, script, { type: 'global', compileOnly: true }, false).dispose();
      const adopt = this.evaluate(context, PRELUDE, { type: 'global', strict: true }, false, 'sandbox.js');
      deadline.at = Date.now() + SANDBOX_LIMITS.compileMs;
      const factory = this.evaluate(context, SCRIPT_PREFIX + script + SCRIPT_SUFFIX, { type: 'global' }, true);
      const adopted = context.callFunction(adopt, context.undefined, factory);
      adopt.dispose();
      factory.dispose();
      codec.call = context.unwrapResult(adopted);
      const probe = this.invoke(codec, 'probe', '', 0, SANDBOX_LIMITS.compileMs);
      if (!probe.ok) throw new CodecCompileError(probe.error);
      const [decodes, encodes] = JSON.parse(probe.json) as [boolean, boolean];
      if (!decodes) throw new CodecCompileError('the script defines no function decodeUplink');
      if (probe.left) throw new CodecCompileError('the script leaves in the global object what cannot be removed');
      codec.encodes = encodes;
      return codec;
    } catch (error) {
      this.release(codec);
      throw error;
    }
  }

  private evaluate(context: QuickJSContext, code: string, options: { type: 'global'; strict?: boolean; compileOnly?: boolean }, prefixed: boolean, file = SCRIPT_FILE): QuickJSHandle {
    const evaluated = context.evalCode(code, file, options);
    if (!evaluated.error) return evaluated.value;
    const { error } = describe(context.dump(evaluated.error), SANDBOX_LIMITS.compileMs, prefixed);
    evaluated.error.dispose();
    throw new CodecCompileError(error);
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
      if (codec.call.alive && codec.call !== codec.context.undefined) codec.call.dispose();
      codec.context.dispose();
      codec.runtime.dispose();
    } catch {
      this.broken = true;
    }
  }
}

/**
 * What a script threw, as the host tells it: QuickJS's InternalErrors are its limits (interrupted
 * at the deadline, out of memory, stack overflow); others keep their position in the script
 * (`prefixed`: in the function the script was put in, whose first line is longer).
 */
function describe(thrown: unknown, deadlineMs: number, prefixed: boolean): { error: string; limitHit: boolean } {
  if (typeof thrown !== 'object' || thrown === null) return { error: `threw ${clip(String(thrown))}`, limitHit: false };
  if ('value' in thrown && !('name' in thrown)) return { error: `threw ${clip(String(thrown.value))}`, limitHit: false };
  const { name, message, stack } = thrown as { name?: unknown; message?: unknown; stack?: unknown };
  const limitHit = name === 'InternalError';
  const limit = limitHit ? LIMIT_NAMES[String(message)]?.replace('{ms}', String(deadlineMs)) : undefined;
  const text = limit ?? `${typeof name === 'string' ? name : 'Error'}: ${clip(String(message))}`;
  const position = typeof stack === 'string' && !limit ? new RegExp(`${SCRIPT_FILE.replace('.', '\\.')}:(\\d+):(\\d+)`).exec(stack) : null;
  if (!position) return { error: text, limitHit };
  const line = Number(position[1]);
  const column = line === 1 && prefixed ? Number(position[2]) - SCRIPT_PREFIX.length : Number(position[2]);
  return { error: `${text} (line ${line}, column ${column})`, limitHit };
}

/** One answer of the prelude: 'R' + JSON, or 'E' (an error) / 'L' (a limit) + the error described; '!' second: it left state. */
function answerOf(text: string): CallResult {
  const left = text[1] === '!';
  const body = text.slice(left ? 2 : 1);
  if (text[0] === 'R') return { ok: true, json: body, left };
  return { ok: false, ...describe(JSON.parse(body), SANDBOX_LIMITS.deadlineMs, true), left };
}

function answersOf(text: string): CallResult[] {
  return text ? text.split(RESULT_SEPARATOR).map(answerOf) : [];
}

const LIMIT_NAMES: Record<string, string> = {
  interrupted: 'stopped after {ms} ms (time limit)',
  'out of memory': `out of memory (limit ${SANDBOX_LIMITS.memoryBytes / 1024 / 1024} MiB)`,
  'stack overflow': 'stack overflow (recursion too deep)',
};

function clip(text: string): string {
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { compileWithBothTiers } from '../common/wasm-tiers';
import { Decoding, Encoding, undecoded } from './codec-results';
import { CALL_TIMEOUT_MS, rememberScript, SandboxCall, SandboxMessage, SandboxReply, SandboxRequest, SandboxThreadData, sinceClockBase } from './sandbox-protocol';

/**
 * QuickJS checks its deadline between bytecodes only: a script spending long in one built-in
 * (filling a huge sparse array, a regular expression backtracking) outlives it. Beyond this the
 * thread is ended and a new one started.
 */
const WATCHDOG_MS = 500;
/**
 * Calls handed to the thread at a time. The others wait here, and their bounds start once they
 * are handed over: a flood of uplinks (a journal replayed after an outage) is decoded at the
 * thread's pace, not refused. What waits is bounded by the fan-out's own batches in flight.
 */
const MAX_SENT = 256;
/** A thread that has not loaded QuickJS by then is ended; calls wait for it at most this long. */
export const START_TIMEOUT_MS = 5000;
/** After a thread failed to start, calls are answered at once with the reason for this long. */
export const RESTART_DELAY_MS = 5000;
/** A thread that replies to none of its calls for this long, while making none, is replaced (its answered calls forgotten). */
const UNRESPONSIVE_MS = 3 * CALL_TIMEOUT_MS;
/** How often the watchdog and the calls' bounds are checked while calls are unanswered. */
const TICK_MS = 50;
/** A codec whose call had to be killed is not run again for this long (in this process). */
const SUSPENSION_MS = 60_000;

interface Job {
  call: SandboxCall;
  id: number;
  /** The codec version's script, sent with the call to a thread that does not have it yet. */
  script?: string;
  resolve: (reply: SandboxReply & { byRunner?: boolean }) => void;
  /** Answered already (timed out) while the thread may still be making it. */
  answered?: boolean;
}

interface SandboxThread {
  worker: Worker;
  /** See SandboxThreadData. */
  running: Int32Array;
  clockBase: number;
  spawnedAt: number;
  /** When it loaded QuickJS; 0 until then (calls sent before wait, not counted by the watchdog). */
  readyAt: number;
  /** The scripts it was given (see rememberScript). */
  scripts: Map<string, true>;
}

/**
 * Hands codec calls to the sandbox thread and answers each: it never rejects, answers every call
 * within CALL_TIMEOUT_MS, and no script can hold up the event loop of the bridge. The calls of
 * one turn of the event loop go in one message, their replies come back in a few: a call's cost
 * on this thread is a small share of a message. The thread says which call it is making, so a
 * stuck one is known. The thread starts on first use.
 */
@Injectable()
export class CodecRunner implements OnModuleDestroy {
  private readonly logger = new Logger(CodecRunner.name);
  private thread?: SandboxThread;
  /** Asked in this turn of the event loop, sent at its end. */
  private outbox: Job[] = [];
  /** Sent to the thread and not replied to yet, by id, oldest first. */
  private readonly sent = new Map<number, Job>();
  private clock?: NodeJS.Timeout;
  private readonly suspended = new Map<string, number>();
  private nextId = 1;
  /** Why the last thread failed to start, and until when calls are answered with it. */
  private startFailure?: { reason: string; until: number };

  /** Compiles a script: whether it can encode, or why it cannot be used (`unavailable`: the sandbox's fault, not the script's). */
  async check(script: string): Promise<{ encodes: boolean } | { error: string } | { unavailable: string }> {
    const refused = this.refusal();
    if (refused) return { unavailable: refused };
    const { outcome } = await this.ask({ kind: 'check', script, askedAt: Date.now() });
    return outcome.ok ? (outcome.value as { encodes: boolean } | { error: string }) : { unavailable: outcome.error };
  }

  /** decodeUplink of a codec version (`key`, e.g. `acme@3`) on an uplink's payload. */
  async decode(key: string, script: string, payloadHex: string, fPort: number, recvTime: number): Promise<{ decoding: Decoding; ms: number }> {
    const refused = this.refusal(key);
    if (refused) return { decoding: undecoded(refused), ms: 0 };
    const { outcome, ms } = await this.ask({ kind: 'decode', key, payloadHex, fPort, recvTime, askedAt: Date.now() }, script);
    return { decoding: outcome.ok ? (outcome.value as Decoding) : undecoded(outcome.error), ms };
  }

  /** encodeDownlink of a codec version on `{ data }`. */
  async encode(key: string, script: string, data: unknown): Promise<{ encoding: Encoding; ms: number }> {
    const refused = this.refusal(key);
    if (refused) return { encoding: { ok: false, errors: [refused] }, ms: 0 };
    const { outcome, ms } = await this.ask({ kind: 'encode', key, data, askedAt: Date.now() }, script);
    return { encoding: outcome.ok ? (outcome.value as Encoding) : { ok: false, errors: [outcome.error] }, ms };
  }

  onModuleDestroy(): void {
    this.stop();
  }

  /** How a thread is started: tests give one that never loads, or fails to. */
  protected spawn(workerData: SandboxThreadData): Worker {
    return spawnSandbox(workerData);
  }

  /** Why a call is not made at all, if it is not. */
  private refusal(key?: string): string | undefined {
    const now = Date.now();
    const until = key === undefined ? undefined : this.suspended.get(key);
    if (until && until > now) return `codec suspended for ${SUSPENSION_MS / 1000} s: a call of it ran past every limit and had to be killed`;
    if (this.startFailure && this.startFailure.until > now) return this.startFailure.reason;
    return undefined;
  }

  private ask(call: SandboxCall, script?: string): Promise<SandboxReply & { byRunner?: boolean }> {
    return new Promise((resolve) => {
      this.nextId = this.nextId >= 0x7fffffff ? 1 : this.nextId + 1;
      this.queue([{ call, id: this.nextId, script, resolve }]);
    });
  }

  /**
   * Jobs go out at the end of this turn of the event loop, with the others asked in it. Checks and
   * encodes (a request waits for them) go before the uplinks waiting.
   */
  private queue(jobs: Job[]): void {
    if (!this.outbox.length) setImmediate(() => this.flush());
    if (jobs.length === 1 && jobs[0].call.kind !== 'decode') this.outbox.unshift(jobs[0]);
    else this.outbox.push(...jobs);
  }

  private flush(): void {
    const room = MAX_SENT - this.sent.size;
    if (!this.outbox.length || room <= 0) return;
    const jobs = this.outbox.splice(0, room);
    const thread = this.thread ?? this.start();
    const batch: SandboxRequest[] = [];
    const now = Date.now();
    for (const job of jobs) {
      if (job.answered) continue;
      job.call.askedAt = now;
      this.sent.set(job.id, job);
      const request: SandboxRequest = { ...job.call, id: job.id };
      if (job.call.kind !== 'check' && !thread.scripts.has(job.call.key)) {
        rememberScript(thread.scripts, job.call.key, true);
        request.script = job.script;
      }
      batch.push(request);
    }
    this.clock ??= setInterval(() => this.tick(), TICK_MS);
    thread.worker.postMessage(batch);
  }

  private answer(job: Job, reply: SandboxReply & { byRunner?: boolean }): void {
    if (job.answered) return;
    job.answered = true;
    job.resolve(reply);
  }

  private failure(job: Job, error: string, ms = 0): SandboxReply & { byRunner: true } {
    return { id: job.id, outcome: { ok: false, error }, ms, byRunner: true };
  }

  /**
   * The watchdog (a call running past WATCHDOG_MS), and the bounds: CALL_TIMEOUT_MS from being
   * asked, or from the thread being ready for calls that waited for it; START_TIMEOUT_MS for a
   * thread to load QuickJS.
   */
  private tick(): void {
    const thread = this.thread;
    if (!thread || !this.sent.size) {
      clearInterval(this.clock);
      this.clock = undefined;
      return;
    }
    const now = Date.now();
    if (!thread.readyAt) {
      if (now - thread.spawnedAt >= START_TIMEOUT_MS) this.failStart(`it did not load QuickJS within ${START_TIMEOUT_MS / 1000} s`);
      return;
    }
    const running = Atomics.load(thread.running, 0);
    if (running && ((sinceClockBase(thread.clockBase) - Atomics.load(thread.running, 1)) | 0) >= WATCHDOG_MS) return this.kill(running);
    const oldest = this.sent.values().next().value;
    if (oldest && now - Math.max(oldest.call.askedAt, thread.readyAt) >= UNRESPONSIVE_MS) {
      this.logger.warn(`the codec sandbox thread answered nothing for ${UNRESPONSIVE_MS / 1000} s outside any call: it is replaced`);
      return this.replaceThread(undefined, '');
    }
    for (const job of this.sent.values()) {
      if (job.answered) continue;
      if (now - Math.max(job.call.askedAt, thread.readyAt) < CALL_TIMEOUT_MS) break;
      this.answer(job, this.failure(job, `not decoded: the codec sandbox did not answer within ${CALL_TIMEOUT_MS} ms`));
    }
  }

  private settle(replies: SandboxReply[]): void {
    for (const reply of replies) {
      const job = this.sent.get(reply.id);
      if (!job) continue;
      this.sent.delete(reply.id);
      this.answer(job, reply);
    }
    this.flush();
  }

  /** Ends the thread stuck in a call; the calls sent after it go to a new thread. */
  private kill(id: number): void {
    const stuck = this.sent.get(id);
    const key = stuck && stuck.call.kind !== 'check' ? stuck.call.key : 'a script being checked';
    this.logger.warn(`codec ${key} ran ${WATCHDOG_MS} ms without returning: its sandbox thread is ended`);
    if (stuck && stuck.call.kind !== 'check') this.suspended.set(key, Date.now() + SUSPENSION_MS);
    this.replaceThread(stuck, `killed after ${WATCHDOG_MS} ms (time limit)`, WATCHDOG_MS);
  }

  /** The thread is gone: `lost`, the call it was making, fails; the others are sent to a new thread. */
  private replaceThread(lost: Job | undefined, error: string, ms = 0): void {
    this.stop();
    if (lost) this.answer(lost, this.failure(lost, error, ms));
    const others = [...this.sent.values()].filter((job) => job !== lost && !job.answered);
    this.sent.clear();
    if (others.length) {
      const waiting = this.outbox;
      this.outbox = [];
      this.queue([...others, ...waiting]);
    }
  }

  /** The thread could not load QuickJS: its calls, and those of the next RESTART_DELAY_MS, fail with the reason. */
  private failStart(why: string): void {
    const reason = `the codec sandbox could not start (${why}); it is tried again ${RESTART_DELAY_MS / 1000} s after`;
    this.logger.error(reason);
    this.startFailure = { reason, until: Date.now() + RESTART_DELAY_MS };
    this.stop();
    for (const job of [...this.sent.values(), ...this.outbox.splice(0)]) this.answer(job, this.failure(job, reason));
    this.sent.clear();
  }

  private start(): SandboxThread {
    const running = new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT);
    const clockBase = Date.now();
    const worker = this.spawn({ running, clockBase, quickjs: quickjsModule() });
    const thread: SandboxThread = { worker, running: new Int32Array(running), clockBase, spawnedAt: Date.now(), readyAt: 0, scripts: new Map() };
    worker.unref();
    let failure = 'the thread ended';
    worker.on('message', (message: SandboxMessage) => {
      if (this.thread !== thread) return;
      if ('replies' in message) return this.settle(message.replies);
      thread.readyAt = Date.now();
      this.startFailure = undefined;
    });
    worker.on('error', (error) => {
      failure = error.message;
      this.logger.error(`codec sandbox thread failed: ${error.message}`);
    });
    // Ended by itself (QuickJS broken, see CodecSandbox.broken, or the thread failed): the call it
    // was making may be the cause and fails; the others go to a new thread. Ended before it
    // loaded QuickJS, it would fail again: its calls fail, and no thread is started for a while.
    worker.on('exit', () => {
      if (this.thread !== thread) return;
      if (!thread.readyAt) return this.failStart(failure);
      this.replaceThread(this.sent.get(Atomics.load(thread.running, 0)), 'the sandbox stopped');
    });
    this.thread = thread;
    return thread;
  }

  private stop(): void {
    clearInterval(this.clock);
    this.clock = undefined;
    const thread = this.thread;
    this.thread = undefined;
    void thread?.worker.terminate();
  }
}

let compiledQuickjs: WebAssembly.Module | undefined;

/** QuickJS's WebAssembly (the variant quickjs-emscripten loads by default), compiled on first use, for every thread. */
function quickjsModule(): WebAssembly.Module {
  const wasm = require.resolve('@jitl/quickjs-wasmfile-release-sync/wasm', { paths: [dirname(require.resolve('quickjs-emscripten'))] });
  compiledQuickjs ??= compileWithBothTiers(readFileSync(wasm));
  return compiledQuickjs;
}

function spawnSandbox(workerData: SandboxThreadData): Worker {
  if (__filename.endsWith('.js')) return new Worker(join(__dirname, 'sandbox-worker.js'), { workerData });
  // Running from the TypeScript sources (jest): the thread compiles them as it loads them.
  const bootstrap = `
    const { transformFileSync } = require('@swc/core');
    require.extensions['.ts'] = (module, filename) => module._compile(transformFileSync(filename, {
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' }, swcrc: false,
    }).code, filename);
    require(${JSON.stringify(join(__dirname, 'sandbox-worker.ts'))});`;
  return new Worker(bootstrap, { eval: true, workerData });
}

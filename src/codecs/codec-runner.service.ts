import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { CodecFunction } from './sandbox';
import { CALL_TIMEOUT_MS, SandboxCall, SandboxReply, SandboxRequest } from './sandbox-protocol';

/**
 * QuickJS checks its deadline between bytecodes only: a script spending long in one built-in
 * (filling a huge sparse array, a regular expression backtracking) outlives it. Beyond this the
 * thread is ended and a new one started.
 */
const WATCHDOG_MS = 500;
/**
 * Calls waiting beyond this are not made (an error entry instead): under a flood, uplinks are
 * stored undecoded rather than held until the networks give up on them.
 */
const MAX_WAITING = 1000;
/** A thread that has not loaded QuickJS by then is ended; calls wait for it at most this long. */
export const START_TIMEOUT_MS = 5000;
/** After a thread failed to start, calls are answered at once with the reason for this long. */
export const RESTART_DELAY_MS = 5000;
/** How often the calls' bounds are checked while some are unanswered. */
const TICK_MS = 50;
/** A codec whose call had to be killed is not run again for this long (in this process). */
const SUSPENSION_MS = 60_000;

interface Job {
  request: SandboxRequest;
  resolve: (reply: SandboxReply) => void;
  submittedAt: number;
  /** Answered already (timed out) while the thread may still be making it. */
  answered?: boolean;
}

/**
 * Hands codec calls to the sandbox thread and answers each with its outcome: it never rejects, and
 * no script can hold up the event loop of the bridge. Calls are sent as they come (the thread takes
 * them in order), so that waiting for the thread to wake is not paid per call; the oldest call not
 * answered is the one running, so a stuck call is known. The thread starts on first use.
 */
@Injectable()
export class CodecRunner implements OnModuleDestroy {
  private readonly logger = new Logger(CodecRunner.name);
  private worker?: Worker;
  /** Whether the thread has loaded QuickJS: calls sent before wait, not counted by the watchdog. */
  private ready = false;
  /** Sent to the thread, not answered yet, oldest first. */
  private readonly sent: Job[] = [];
  private watchdog?: NodeJS.Timeout;
  private readonly suspended = new Map<string, number>();
  private nextId = 1;
  private spawnedAt = 0;
  private readyAt = 0;
  private clock?: NodeJS.Timeout;
  /** Why the last thread failed to start, and until when calls are answered with it. */
  private startFailure?: { reason: string; until: number };

  /** Compiles a script: whether it can encode, or why it cannot be used. */
  async check(script: string): Promise<{ encodes: boolean } | { error: string } | { unavailable: string }> {
    const unavailable = this.unavailable();
    if (unavailable) return { unavailable };
    const { outcome, byRunner } = await this.submit({ kind: 'check', script });
    if (outcome.ok) return JSON.parse(outcome.json) as { encodes: boolean };
    return byRunner ? { unavailable: outcome.error } : { error: outcome.error };
  }

  /** Calls `fn` of a codec version (`key`, e.g. `acme@3`) with `input`; the result is parsed JSON. */
  async run(key: string, script: string, fn: CodecFunction, input: unknown, recvTime: number): Promise<{ ok: true; value: unknown; ms: number } | { ok: false; error: string; ms: number }> {
    const until = this.suspended.get(key);
    if (until && until > Date.now()) return { ok: false, error: `codec suspended for ${SUSPENSION_MS / 1000} s: a call of it ran past every limit and had to be killed`, ms: 0 };
    if (this.sent.length >= MAX_WAITING) return { ok: false, error: `not run: ${MAX_WAITING} codec calls are already waiting`, ms: 0 };
    const unavailable = this.unavailable();
    if (unavailable) return { ok: false, error: unavailable, ms: 0 };
    const { outcome, ms } = await this.submit({ kind: 'run', key, script, fn, input, recvTime, askedAt: Date.now() });
    if (!outcome.ok) return { ok: false, error: outcome.error, ms };
    try {
      return { ok: true, value: JSON.parse(outcome.json) as unknown, ms };
    } catch {
      return { ok: false, error: `${fn} returned something that is not JSON`, ms };
    }
  }

  onModuleDestroy(): void {
    this.stop();
  }

  /** How a thread is started: tests give one that never loads, or fails to. */
  protected spawn(): Worker {
    return spawnSandbox();
  }

  private unavailable(): string | undefined {
    if (this.startFailure && this.startFailure.until > Date.now()) return this.startFailure.reason;
    return undefined;
  }

  /** `byRunner`: the outcome is the runner's (the call's bound, the thread's failure), not the script's. */
  private submit(call: SandboxCall): Promise<SandboxReply & { byRunner?: boolean }> {
    return new Promise((resolve) => this.send({ request: { ...call, id: this.nextId++ }, resolve, submittedAt: Date.now() }));
  }

  private send(job: Job): void {
    const worker = this.worker ?? this.start();
    this.sent.push(job);
    if (this.sent.length === 1) this.armWatchdog();
    this.clock ??= setInterval(() => this.tick(), TICK_MS);
    worker.postMessage(job.request);
  }

  private answer(job: Job, reply: SandboxReply & { byRunner?: boolean }): void {
    if (job.answered) return;
    job.answered = true;
    job.resolve(reply);
  }

  /**
   * Answers the calls past their bound: CALL_TIMEOUT_MS from being asked (or from the thread
   * being ready, for those that waited for it), START_TIMEOUT_MS for a thread to load QuickJS.
   */
  private tick(): void {
    if (!this.sent.length) {
      clearInterval(this.clock);
      this.clock = undefined;
      return;
    }
    const now = Date.now();
    if (!this.ready) {
      if (now - this.spawnedAt >= START_TIMEOUT_MS) this.failStart(`it did not load QuickJS within ${START_TIMEOUT_MS / 1000} s`);
      return;
    }
    for (const job of this.sent) {
      if (job.answered) continue;
      if (now - Math.max(job.submittedAt, this.readyAt) < CALL_TIMEOUT_MS) break;
      this.answer(job, { id: job.request.id, outcome: { ok: false, error: `not decoded: the codec sandbox did not answer within ${CALL_TIMEOUT_MS} ms` }, ms: 0, byRunner: true });
    }
  }

  /** The thread could not load QuickJS: its calls, and those of the next RESTART_DELAY_MS, fail with the reason. */
  private failStart(why: string): void {
    const reason = `the codec sandbox could not start (${why}); it is tried again ${RESTART_DELAY_MS / 1000} s after`;
    this.logger.error(reason);
    this.startFailure = { reason, until: Date.now() + RESTART_DELAY_MS };
    this.stop();
    for (const job of this.sent.splice(0)) this.answer(job, { id: job.request.id, outcome: { ok: false, error: reason }, ms: 0, byRunner: true });
  }

  /** The oldest call gets WATCHDOG_MS from the answer to the one before it (or from being sent). */
  private armWatchdog(): void {
    clearTimeout(this.watchdog);
    this.watchdog = this.ready && this.sent.length ? setTimeout(() => this.kill(), WATCHDOG_MS) : undefined;
  }

  private settle(reply: SandboxReply): void {
    const job = this.sent[0];
    if (job?.request.id !== reply.id) return;
    this.sent.shift();
    this.armWatchdog();
    this.answer(job, reply);
  }

  /** Ends the thread stuck in the oldest call; the calls sent after it go to a new thread. */
  private kill(): void {
    const [stuck, ...waiting] = this.sent.splice(0);
    if (!stuck) return;
    const key = stuck.request.kind === 'run' ? stuck.request.key : 'a script being checked';
    this.logger.warn(`codec ${key} ran ${WATCHDOG_MS} ms without returning: its sandbox thread is ended`);
    if (stuck.request.kind === 'run') this.suspended.set(stuck.request.key, Date.now() + SUSPENSION_MS);
    this.stop();
    this.answer(stuck, { id: stuck.request.id, outcome: { ok: false, error: `killed after ${WATCHDOG_MS} ms (time limit)` }, ms: WATCHDOG_MS });
    for (const job of waiting) if (!job.answered) this.send(job);
  }

  private start(): Worker {
    const worker = this.spawn();
    worker.unref();
    let failure = 'the thread ended';
    worker.on('message', (message: SandboxReply | { ready: true }) => {
      if (this.worker !== worker) return;
      if ('ready' in message) {
        this.ready = true;
        this.readyAt = Date.now();
        this.startFailure = undefined;
        this.armWatchdog();
      } else this.settle(message);
    });
    worker.on('error', (error) => {
      failure = error.message;
      this.logger.error(`codec sandbox thread failed: ${error.message}`);
    });
    // Ended by itself (QuickJS broken, see CodecSandbox.broken, or the thread failed): the oldest
    // unanswered call may be the cause and fails; the others go to a new thread. Ended before it
    // loaded QuickJS, it would fail again: its calls fail, and no thread is started for a while.
    worker.on('exit', () => {
      if (this.worker !== worker) return;
      if (!this.ready) return this.failStart(failure);
      this.worker = undefined;
      const [lost, ...waiting] = this.sent.splice(0);
      if (lost) this.answer(lost, { id: lost.request.id, outcome: { ok: false, error: 'the sandbox stopped' }, ms: 0 });
      for (const job of waiting) if (!job.answered) this.send(job);
    });
    this.worker = worker;
    this.ready = false;
    this.spawnedAt = Date.now();
    return worker;
  }

  private stop(): void {
    clearTimeout(this.watchdog);
    clearInterval(this.clock);
    this.clock = undefined;
    const worker = this.worker;
    this.worker = undefined;
    void worker?.terminate();
  }
}

function spawnSandbox(): Worker {
  if (__filename.endsWith('.js')) return new Worker(join(__dirname, 'sandbox-worker.js'));
  // Running from the TypeScript sources (jest): the thread compiles them as it loads them.
  const bootstrap = `
    const { transformFileSync } = require('@swc/core');
    require.extensions['.ts'] = (module, filename) => module._compile(transformFileSync(filename, {
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' }, swcrc: false,
    }).code, filename);
    require(${JSON.stringify(join(__dirname, 'sandbox-worker.ts'))});`;
  return new Worker(bootstrap, { eval: true });
}

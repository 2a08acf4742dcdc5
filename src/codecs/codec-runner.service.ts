import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { CodecFunction, SandboxOutcome } from './sandbox';

type SandboxCall =
  | { kind: 'check'; script: string }
  /** `expiresAt`: a call the thread reaches later than this is answered without being made. */
  | { kind: 'run'; key: string; script: string; fn: CodecFunction; input: unknown; recvTime: number; expiresAt: number };
export type SandboxRequest = { id: number } & SandboxCall;
export interface SandboxReply {
  id: number;
  outcome: SandboxOutcome;
  /** Time spent in the sandbox. */
  ms: number;
}

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
/** Nor are calls the thread reaches after this long (a codec looping to its deadline on every uplink). */
const MAX_WAIT_MS = 1000;
/** A codec whose call had to be killed is not run again for this long (in this process). */
const SUSPENSION_MS = 60_000;

interface Job {
  request: SandboxRequest;
  resolve: (reply: SandboxReply) => void;
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

  /** Compiles a script: whether it can encode, or why it cannot be used. */
  async check(script: string): Promise<{ encodes: boolean } | { error: string }> {
    const { outcome } = await this.submit({ kind: 'check', script });
    return outcome.ok ? (JSON.parse(outcome.json) as { encodes: boolean }) : { error: outcome.error };
  }

  /** Calls `fn` of a codec version (`key`, e.g. `acme@3`) with `input`; the result is parsed JSON. */
  async run(key: string, script: string, fn: CodecFunction, input: unknown, recvTime: number): Promise<{ ok: true; value: unknown; ms: number } | { ok: false; error: string; ms: number }> {
    const until = this.suspended.get(key);
    if (until && until > Date.now()) return { ok: false, error: `codec suspended for ${SUSPENSION_MS / 1000} s: a call of it ran past every limit and had to be killed`, ms: 0 };
    if (this.sent.length >= MAX_WAITING) return { ok: false, error: `not run: ${MAX_WAITING} codec calls are already waiting`, ms: 0 };
    const { outcome, ms } = await this.submit({ kind: 'run', key, script, fn, input, recvTime, expiresAt: Date.now() + MAX_WAIT_MS });
    if (!outcome.ok) return { ok: false, error: outcome.error, ms };
    try {
      return { ok: true, value: JSON.parse(outcome.json) as unknown, ms };
    } catch {
      return { ok: false, error: `${fn} returned something that is not JSON`, ms };
    }
  }

  onModuleDestroy(): void {
    clearTimeout(this.watchdog);
    void this.worker?.terminate();
    this.worker = undefined;
  }

  private submit(call: SandboxCall): Promise<SandboxReply> {
    return new Promise((resolve) => this.send({ request: { ...call, id: this.nextId++ }, resolve }));
  }

  private send(job: Job): void {
    const worker = this.worker ?? this.start();
    this.sent.push(job);
    if (this.sent.length === 1) this.armWatchdog();
    worker.postMessage(job.request);
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
    job.resolve(reply);
  }

  /** Ends the thread stuck in the oldest call; the calls sent after it go to a new thread. */
  private kill(): void {
    const [stuck, ...waiting] = this.sent.splice(0);
    if (!stuck) return;
    const key = stuck.request.kind === 'run' ? stuck.request.key : 'a script being checked';
    this.logger.warn(`codec ${key} ran ${WATCHDOG_MS} ms without returning: its sandbox thread is ended`);
    if (stuck.request.kind === 'run') this.suspended.set(stuck.request.key, Date.now() + SUSPENSION_MS);
    this.stop();
    stuck.resolve({ id: stuck.request.id, outcome: { ok: false, error: `killed after ${WATCHDOG_MS} ms (time limit)` }, ms: WATCHDOG_MS });
    for (const job of waiting) this.send(job);
  }

  private start(): Worker {
    const worker = spawnSandbox();
    worker.unref();
    worker.on('message', (message: SandboxReply | { ready: true }) => {
      if (this.worker !== worker) return;
      if ('ready' in message) {
        this.ready = true;
        this.armWatchdog();
      } else this.settle(message);
    });
    worker.on('error', (error) => this.logger.error(`codec sandbox thread failed: ${error.message}`));
    // Ended by itself (QuickJS broken, see CodecSandbox.broken, or the thread failed): the oldest
    // unanswered call may be the cause and fails; the others go to a new thread.
    worker.on('exit', () => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      const [lost, ...waiting] = this.sent.splice(0);
      lost?.resolve({ id: lost.request.id, outcome: { ok: false, error: 'the sandbox stopped' }, ms: 0 });
      for (const job of waiting) this.send(job);
    });
    this.worker = worker;
    this.ready = false;
    return worker;
  }

  private stop(): void {
    clearTimeout(this.watchdog);
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

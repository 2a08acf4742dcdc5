import { Worker } from 'node:worker_threads';
import { CodecRunner, RESTART_DELAY_MS, START_TIMEOUT_MS } from '../../src/codecs/codec-runner.service';
import { CALL_TIMEOUT_MS, SandboxThreadData } from '../../src/codecs/sandbox-protocol';

/** A runner whose sandbox thread is the given code instead of QuickJS's. */
class RunnerOn extends CodecRunner {
  spawned = 0;

  constructor(private readonly code: string) {
    super();
  }

  protected override spawn(workerData: SandboxThreadData): Worker {
    this.spawned += 1;
    return new Worker(this.code, { eval: true, workerData });
  }
}

const SCRIPT = 'function decodeUplink(input) { return { data: input.bytes.length } }';
const decoding = (error: string) => ({ decoding: { decoded: null, decodeErrors: [error], decodeWarnings: [] }, ms: 0 });

describe('codec runner: every call answered, whatever the sandbox thread does', () => {
  const runners: CodecRunner[] = [];
  const runnerOn = (code: string) => {
    const runner = new RunnerOn(code);
    runners.push(runner);
    return runner;
  };
  afterAll(() => runners.forEach((runner) => runner.onModuleDestroy()));

  it('answers with an error when the thread cannot load QuickJS, and at once for a while after', async () => {
    const runner = runnerOn('throw new Error("no WebAssembly here")');
    const reason = `the codec sandbox could not start (no WebAssembly here); it is tried again ${RESTART_DELAY_MS / 1000} s after`;
    expect(await runner.decode('a@1', SCRIPT, '01', 1, 0)).toEqual(decoding(reason));
    expect(await runner.decode('a@1', SCRIPT, '01', 1, 0)).toEqual(decoding(reason));
    expect(await runner.encode('a@1', SCRIPT, { on: true })).toEqual({ encoding: { ok: false, errors: [reason] }, ms: 0 });
    expect(await runner.check(SCRIPT)).toEqual({ unavailable: reason });
  });

  it('ends a thread that never finishes loading, and answers the calls waiting for it', async () => {
    const runner = runnerOn('setInterval(() => {}, 1000)');
    const outcomes = await Promise.all([1, 2, 3].map((n) => runner.decode(`b@${n}`, SCRIPT, '01', 1, 0)));
    const reason = `the codec sandbox could not start (it did not load QuickJS within ${START_TIMEOUT_MS / 1000} s); it is tried again ${RESTART_DELAY_MS / 1000} s after`;
    expect(outcomes).toEqual(Array(3).fill(decoding(reason)));
  });

  it('answers the calls of a thread that loaded but never answers', async () => {
    const runner = runnerOn('require("node:worker_threads").parentPort.postMessage({ ready: true }); setInterval(() => {}, 1000)');
    const outcomes = await Promise.all([1, 2].map((n) => runner.decode(`c@${n}`, SCRIPT, '01', 1, 0)));
    expect(outcomes).toEqual(Array(2).fill(decoding(`not decoded: the codec sandbox did not answer within ${CALL_TIMEOUT_MS} ms`)));
    // Silent for 3 s, the thread is replaced: its calls do not pile up against the limit of waiting calls.
    for (const n of [3, 4]) expect(await runner.decode(`c@${n}`, SCRIPT, '01', 1, 0)).toEqual(decoding(`not decoded: the codec sandbox did not answer within ${CALL_TIMEOUT_MS} ms`));
    expect(runner.spawned).toBe(2);
  });
});

import { parentPort, workerData } from 'node:worker_threads';
import { newQuickJSWASMModuleFromVariant, newVariant, RELEASE_SYNC } from 'quickjs-emscripten';
import { readDecoding, readEncoding, undecoded } from './codec-results';
import { CodecCompileError, CodecSandbox, SandboxResult } from './sandbox';
import { MAX_WAIT_MS, rememberScript, SandboxMessage, SandboxOutcome, SandboxReply, SandboxRequest, sinceClockBase, SandboxThreadData } from './sandbox-protocol';

/**
 * The codec sandbox's thread: codecs run here, never on the thread that answers the networks.
 * It takes calls in batches and answers them in batches (one message each way per batch, not
 * per call), shaping each result as the event keeps it, so that the main thread does no more
 * than hand them over. A failure of QuickJS itself (not of a script) ends the thread; the
 * runner starts another.
 */
const { running: runningBuffer, clockBase, quickjs: wasmModule } = workerData as SandboxThreadData;
const running = new Int32Array(runningBuffer);
/** Replies are sent at least this often during a long batch, so that early calls are not held by later ones. */
const FLUSH_MS = 2;
const HEX = /^(?:[0-9a-f]{2})*$/i;
/** Decodes of one codec made in one call into QuickJS, at most: a call stuck past the watchdog takes those after it in the same call with it (see CodecRunner.kill). */
const MAX_TOGETHER = 32;

const scripts = new Map<string, string>();
let loadedAt = 0;
const sandbox = newQuickJSWASMModuleFromVariant(newVariant(RELEASE_SYNC, { wasmModule })).then((quickjs) => {
  const codecs = new CodecSandbox(quickjs);
  loadedAt = Date.now();
  // Loading WebAssembly is slow on a busy machine: the runner's bounds start from here.
  post({ ready: true });
  return codecs;
});

parentPort?.on('message', (batch: SandboxRequest[]) => {
  void sandbox.then((codecs) => {
    let replies: SandboxReply[] = [];
    let flushedAt = performance.now();
    for (let i = 0; i < batch.length; ) {
      const calls = callsTogether(batch, i);
      replies.push(...answer(codecs, calls));
      i += calls.length;
      if (codecs.broken || performance.now() - flushedAt > FLUSH_MS) {
        post({ replies });
        replies = [];
        flushedAt = performance.now();
        if (codecs.broken) process.exit(1);
      }
    }
    if (replies.length) post({ replies });
  });
});

/** The requests from `start` made in one call into the sandbox: decodes of one codec version, else one request. */
function callsTogether(batch: SandboxRequest[], start: number): SandboxRequest[] {
  const first = batch[start];
  let end = start + 1;
  if (first.kind === 'decode') while (end < batch.length && end - start < MAX_TOGETHER && batch[end].kind === 'decode' && (batch[end] as { key: string }).key === first.key) end++;
  return batch.slice(start, end);
}

function answer(codecs: CodecSandbox, requests: SandboxRequest[]): SandboxReply[] {
  const replies: SandboxReply[] = [];
  const made: SandboxRequest[] = [];
  for (const request of requests) {
    if (request.kind !== 'check' && request.script !== undefined) rememberScript(scripts, request.key, request.script);
    if (request.kind !== 'check' && Date.now() > Math.max(request.askedAt, loadedAt) + MAX_WAIT_MS) replies.push({ id: request.id, outcome: { ok: false, error: 'not run: the codec sandbox was busy for too long' }, ms: 0 });
    else if (request.kind === 'decode' && !HEX.test(request.payloadHex)) replies.push({ id: request.id, outcome: { ok: true, value: undecoded('the payload is not hex') }, ms: 0 });
    else made.push(request);
  }
  if (!made.length) return replies;
  const started = performance.now();
  try {
    const outcomes = make(codecs, made, (i) => {
      Atomics.store(running, 1, sinceClockBase(clockBase));
      Atomics.store(running, 0, made[i].id);
    });
    // Calls made together are timed together: each is given their mean.
    const ms = (performance.now() - started) / made.length;
    return replies.concat(made.map((request, i) => ({ id: request.id, outcome: outcomes[i], ms })));
  } catch (error) {
    post({ replies: made.map((request) => ({ id: request.id, outcome: { ok: false, error: `sandbox failure: ${(error as Error).message}` }, ms: 0 })) });
    process.exit(1);
  } finally {
    Atomics.store(running, 0, 0);
  }
}

/** Check and encode requests come one at a time; decodes, of one codec version, with hex payloads. */
function make(codecs: CodecSandbox, requests: SandboxRequest[], onCall: (first: number) => void): SandboxOutcome[] {
  const request = requests[0];
  onCall(0);
  if (request.kind === 'check') {
    try {
      return [{ ok: true, value: codecs.check(request.script) }];
    } catch (error) {
      if (error instanceof CodecCompileError) return [{ ok: true, value: { error: error.message } }];
      throw error;
    }
  }
  const script = scripts.get(request.key);
  if (script === undefined) return requests.map(() => ({ ok: false, error: `the sandbox thread has no script for ${request.key}` }));
  if (request.kind === 'encode') {
    const result = codecs.encode(request.key, script, request.data);
    return [{ ok: true, value: result.ok ? parsed(result, readEncoding, 'encodeDownlink') : { ok: false, errors: [result.error] } }];
  }
  const results = codecs.decode(request.key, script, requests as Array<SandboxRequest & { kind: 'decode' }>, onCall);
  return results.map((result) => ({ ok: true, value: result.ok ? parsed(result, readDecoding, 'decodeUplink') : undecoded(result.error) }));
}

function parsed<T>(result: SandboxResult & { ok: true }, read: (value: unknown, json?: string) => T, fn: string): T {
  let value: unknown;
  try {
    value = JSON.parse(result.json);
  } catch {
    return read({ errors: [`${fn} returned something that is not JSON`] });
  }
  return read(value, result.json);
}

function post(message: SandboxMessage): void {
  parentPort?.postMessage(message);
}

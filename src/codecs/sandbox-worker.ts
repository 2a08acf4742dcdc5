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
    for (const request of batch) {
      replies.push(answer(codecs, request));
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

function answer(codecs: CodecSandbox, request: SandboxRequest): SandboxReply {
  if (request.kind !== 'check') {
    if (request.script !== undefined) rememberScript(scripts, request.key, request.script);
    if (Date.now() > Math.max(request.askedAt, loadedAt) + MAX_WAIT_MS) return { id: request.id, outcome: { ok: false, error: 'not run: the codec sandbox was busy for too long' }, ms: 0 };
  }
  const started = performance.now();
  Atomics.store(running, 1, sinceClockBase(clockBase));
  Atomics.store(running, 0, request.id);
  try {
    return { id: request.id, outcome: make(codecs, request), ms: performance.now() - started };
  } catch (error) {
    post({ replies: [{ id: request.id, outcome: { ok: false, error: `sandbox failure: ${(error as Error).message}` }, ms: 0 }] });
    process.exit(1);
  } finally {
    Atomics.store(running, 0, 0);
  }
}

function make(codecs: CodecSandbox, request: SandboxRequest): SandboxOutcome {
  if (request.kind === 'check') {
    try {
      return { ok: true, value: codecs.check(request.script) };
    } catch (error) {
      if (error instanceof CodecCompileError) return { ok: true, value: { error: error.message } };
      throw error;
    }
  }
  const script = scripts.get(request.key);
  if (script === undefined) return { ok: false, error: `the sandbox thread has no script for ${request.key}` };
  if (request.kind === 'encode') {
    const result = codecs.run(request.key, script, { fn: 'encodeDownlink', data: request.data });
    return { ok: true, value: result.ok ? parsed(result, readEncoding, 'encodeDownlink') : { ok: false, errors: [result.error] } };
  }
  if (!HEX.test(request.payloadHex)) return { ok: true, value: undecoded('the payload is not hex') };
  const result = codecs.run(request.key, script, { fn: 'decodeUplink', payloadHex: request.payloadHex, fPort: request.fPort, recvTime: request.recvTime });
  return { ok: true, value: result.ok ? parsed(result, readDecoding, 'decodeUplink') : undecoded(result.error) };
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

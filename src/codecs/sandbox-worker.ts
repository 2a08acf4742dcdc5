import { parentPort } from 'node:worker_threads';
import { newQuickJSWASMModule } from 'quickjs-emscripten';
import { CodecCompileError, CodecSandbox } from './sandbox';
import { MAX_WAIT_MS, SandboxReply, SandboxRequest } from './sandbox-protocol';

/**
 * The codec sandbox's thread: codecs run here, never on the thread that answers the networks.
 * A failure of QuickJS itself (not of a script) ends the thread; the runner starts another.
 */
let loadedAt = 0;
const sandbox = newQuickJSWASMModule().then((quickjs) => {
  const codecs = new CodecSandbox(quickjs);
  loadedAt = Date.now();
  // Loading WebAssembly is slow on a busy machine: the runner's watchdog starts from here.
  parentPort?.postMessage({ ready: true });
  return codecs;
});

parentPort?.on('message', (request: SandboxRequest) => {
  void sandbox.then((codecs) => {
    const started = process.hrtime.bigint();
    let reply: SandboxReply['outcome'];
    if (request.kind === 'run' && Date.now() > Math.max(request.askedAt, loadedAt) + MAX_WAIT_MS) {
      parentPort?.postMessage({ id: request.id, outcome: { ok: false, error: 'not run: the codec sandbox was busy for too long' }, ms: 0 } satisfies SandboxReply);
      return;
    }
    try {
      if (request.kind === 'check') reply = { ok: true, json: JSON.stringify(codecs.check(request.script)) };
      else reply = codecs.run(request.key, request.script, request.fn, request.input, request.recvTime);
    } catch (error) {
      if (!(error instanceof CodecCompileError)) {
        parentPort?.postMessage({ id: request.id, outcome: { ok: false, error: `sandbox failure: ${(error as Error).message}` }, ms: 0 } satisfies SandboxReply);
        process.exit(1);
      }
      reply = { ok: false, error: error.message };
    }
    parentPort?.postMessage({ id: request.id, outcome: reply, ms: Number(process.hrtime.bigint() - started) / 1e6 } satisfies SandboxReply);
    if (codecs.broken) process.exit(1);
  });
});

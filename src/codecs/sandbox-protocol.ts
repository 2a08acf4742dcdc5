/**
 * Between the runner and the sandbox thread: batches of calls one way, batches of replies the
 * other, and a shared slot saying which call the thread is making (for the watchdog).
 */

/**
 * Every call is answered within this, whatever the thread does (stuck, dead, or slow to start):
 * the uplink is then stored undecoded with an error entry, never held until the store times out.
 * A call that waited for the thread to load QuickJS counts from when it was loaded.
 */
export const CALL_TIMEOUT_MS = 1000;
/** Calls the thread reaches later than this (from being asked, or from loading) are not made: they could not finish in time. */
export const MAX_WAIT_MS = CALL_TIMEOUT_MS - 50;

/** What the runner asks of the sandbox thread. `askedAt`: see MAX_WAIT_MS. */
export type SandboxCall =
  | { kind: 'check'; script: string; askedAt: number }
  | { kind: 'decode'; key: string; payloadHex: string; fPort: number; recvTime: number; askedAt: number }
  | { kind: 'encode'; key: string; data: unknown; askedAt: number };
/** `script`: given with a codec version's first call to a thread, which keeps it (see rememberScript). */
export type SandboxRequest = SandboxCall & { id: number; script?: string };
/**
 * `value` is the shaped result (a Decoding, an Encoding, or `{ encodes }` for a check), whatever
 * the script did; an error is a call not made (the thread's or the runner's reason).
 */
export type SandboxOutcome = { ok: true; value: unknown } | { ok: false; error: string };
export interface SandboxReply {
  id: number;
  outcome: SandboxOutcome;
  /** Time spent in the sandbox. */
  ms: number;
}
export type SandboxMessage = { ready: true } | { replies: SandboxReply[] };

/**
 * Given to the thread: `running[0]` is the id of the call it is making (0: none), `running[1]`
 * when it began (ms from `clockBase`, int32); `quickjs`, QuickJS's WebAssembly, compiled once per
 * process by the runner (see wasm-tiers.ts).
 */
export interface SandboxThreadData {
  running: SharedArrayBuffer;
  clockBase: number;
  quickjs: WebAssembly.Module;
}

export function sinceClockBase(clockBase: number): number {
  return (Date.now() - clockBase) | 0;
}

/**
 * Scripts a thread was given, by codec version: both sides apply this to the same calls in the
 * same order, so the runner knows which scripts the thread has without asking. A new version of
 * a codec replaces the others.
 */
export function rememberScript<T>(scripts: Map<string, T>, key: string, script: T): void {
  const codecId = key.slice(0, key.lastIndexOf('@') + 1);
  for (const other of scripts.keys()) if (other.startsWith(codecId)) scripts.delete(other);
  scripts.set(key, script);
}

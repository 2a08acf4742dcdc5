import type { CodecFunction, SandboxOutcome } from './sandbox';

/**
 * Every call is answered within this, whatever the thread does (stuck, dead, or slow to start):
 * the uplink is then stored undecoded with an error entry, never held until the store times out.
 * A call that waited for the thread to load QuickJS counts from when it was loaded.
 */
export const CALL_TIMEOUT_MS = 1000;
/** Calls the thread reaches later than this (from being asked, or from loading) are not made: they could not finish in time. */
export const MAX_WAIT_MS = CALL_TIMEOUT_MS - 50;

/** What the runner asks of the sandbox thread. */
export type SandboxCall =
  | { kind: 'check'; script: string }
  | { kind: 'run'; key: string; script: string; fn: CodecFunction; input: unknown; recvTime: number; askedAt: number };
export type SandboxRequest = { id: number } & SandboxCall;
export interface SandboxReply {
  id: number;
  outcome: SandboxOutcome;
  /** Time spent in the sandbox. */
  ms: number;
}

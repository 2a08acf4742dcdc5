/** Small helpers shared by the fake network servers. */
import { randomBytes, randomUUID } from 'node:crypto';

export function uuid(): string {
  return randomUUID();
}

/** `n` random hex characters, upper case (Sigfox object ids are 24 of them). */
export function randomHex(n: number): string {
  return randomBytes(Math.ceil(n / 2)).toString('hex').slice(0, n).toUpperCase();
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A ULID (26 Crockford base32 characters), the shape of a TTS event `unique_id`. */
export function ulid(timeMs = Date.now()): string {
  let time = '';
  let t = timeMs;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const bytes = randomBytes(16);
  let random = '';
  for (let i = 0; i < 16; i++) random += CROCKFORD[bytes[i]! % 32];
  return time + random;
}

const startNs = BigInt(Date.now()) * 1_000_000n;
const startHr = process.hrtime.bigint();

/** Wall-clock time as `2025-11-07T08:52:14.744360741Z` (nanoseconds, strictly increasing within a process). */
let lastNs = 0n;
export function nsTimestamp(date?: Date): string {
  let ns: bigint;
  if (date) {
    ns = BigInt(date.getTime()) * 1_000_000n;
  } else {
    ns = startNs + (process.hrtime.bigint() - startHr);
    if (ns <= lastNs) ns = lastNs + 1n;
    lastNs = ns;
  }
  const ms = Number(ns / 1_000_000n);
  const subMs = (ns % 1_000_000n).toString().padStart(6, '0');
  return new Date(ms).toISOString().replace('Z', `${subMs}Z`);
}

/**
 * Parses an RFC 3339 timestamp with any number of fractional digits into milliseconds since the
 * epoch (truncating below the millisecond), or NaN.
 */
export function parseTimestampMs(value: string): number {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(value);
  if (!m) return NaN;
  const fraction = (m[2] ?? '').padEnd(3, '0').slice(0, 3);
  return Date.parse(`${m[1]}.${fraction}${m[3]}`);
}

export function isHex(value: unknown, length: number): value is string {
  return typeof value === 'string' && value.length === length && /^[0-9a-fA-F]*$/.test(value);
}

export function isBase64(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(value)
  );
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function clone<T>(value: T): T {
  return structuredClone(value);
}

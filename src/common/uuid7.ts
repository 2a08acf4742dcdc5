import { randomFillSync } from 'node:crypto';

/** Random bytes drawn 4 KiB at a time: one getrandom call per 256 ids instead of one per id. */
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

/** The time last asked for. */
let lastNow = -Infinity;
/** The millisecond written in the last id: ahead of `lastNow` once a millisecond ran out of counter. */
let idMs = -1;
/** The counter in the 12 `rand_a` bits of the last id. */
let counter = 0;
const COUNTER_MAX = 0xfff;

/**
 * RFC 9562 UUIDv7: time-ordered, so ids sort by creation time and index well. Ids made in the same
 * millisecond count up in `rand_a` (RFC 9562 method 1), so that they sort in the order they were
 * made; past 4096 ids in a millisecond the next ids borrow the next millisecond (RFC 9562 §6.2),
 * so that ids stay monotonic as long as `now` does not go back.
 */
export function uuid7(now = Date.now()): string {
  if (poolOffset === pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = pool.subarray(poolOffset, (poolOffset += 16));
  // A fresh millisecond starts the counter low enough to leave room for 2048 more ids.
  const freshCounter = ((bytes[6] << 8) | bytes[7]) & 0x7ff;
  if (now < lastNow || now > idMs) {
    idMs = now;
    counter = freshCounter;
  } else if (counter < COUNTER_MAX) {
    counter += 1;
  } else {
    idMs += 1;
    counter = freshCounter;
  }
  lastNow = now;
  bytes.writeUIntBE(idMs, 0, 6);
  bytes[6] = 0x70 | (counter >> 8);
  bytes[7] = counter & 0xff;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

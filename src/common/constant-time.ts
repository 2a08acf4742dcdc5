import { createHash, timingSafeEqual } from 'node:crypto';

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Compares fixed-length digests so neither content nor length leaks through timing. */
export function matchesHash(candidate: string, expectedHashHex: string): boolean {
  const actual = createHash('sha256').update(candidate).digest();
  const expected = Buffer.from(expectedHashHex, 'hex');
  return expected.length === actual.length && timingSafeEqual(actual, expected);
}

/** Text made storable where it must be kept whatever it holds (a refused command, quoted): NUL and lone surrogates become U+FFFD. */
export function storableText(text: string): string {
  return text.toWellFormed().replaceAll('\u0000', '\ufffd');
}

/**
 * Why Postgres could not store this value's text, or null. Postgres keeps neither NUL nor a lone
 * UTF-16 surrogate (which JSON can carry as "\ud800") in text or jsonb: such input is refused
 * where it arrives, rather than failing at the store along with the events stored beside it.
 */
export function unstorableText(value: unknown, depth = 0): string | null {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return 'NUL characters (\\u0000) are not accepted';
    if (!value.isWellFormed()) return 'text must be valid Unicode: a lone surrogate (such as \\ud800) is not accepted';
    return null;
  }
  // Raw bytes (a Protobuf body) are not stored as text.
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value) || depth > 64) return null;
  for (const key in value) {
    const problem = unstorableText(key) ?? unstorableText((value as Record<string, unknown>)[key], depth + 1);
    if (problem) return problem;
  }
  return null;
}

/**
 * Whether JSON text may hold what unstorableText refuses, so that its parsed value needs the walk.
 * In JSON text NUL and lone surrogates can only be \u escapes: a raw NUL is not JSON, text decoded
 * from UTF-8 holds no lone surrogate, and JSON.stringify escapes both.
 */
export function jsonMayHoldUnstorableText(json: string): boolean {
  return /\\u(?:0000|d[89a-f])/i.test(json);
}

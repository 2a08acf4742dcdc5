/** A Sigfox device id: a 32-bit number written in hex, "up to 8 characters". */
export const SIGFOX_ID_PATTERN = /^[0-9a-f]{1,8}$/i;

export const SIGFOX_ID_PROBLEM = 'must be a Sigfox device id: 1 to 8 hex digits';

/**
 * The bridge's one name for a Sigfox device: upper-case hex without leading zeros ("002c" → "2C",
 * "0" stays "0"). Sigfox writes the same device "002C" or "2C" depending on where it shows it, and
 * users type either: both are one number, so they must be one device, one topic, one history.
 * Text that is no Sigfox id is only upper-cased (it then matches no device).
 */
export function canonicalSigfoxId(id: string): string {
  const upper = id.toUpperCase();
  return SIGFOX_ID_PATTERN.test(id) ? upper.replace(/^0+(?=.)/, '') : upper;
}

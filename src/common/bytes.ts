const HEX = /^(?:[0-9a-fA-F]{2})*$/;

export function isEvenHex(value: string): boolean {
  return HEX.test(value);
}

export function hexToBase64(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}

export function base64ToHex(base64: string): string {
  return Buffer.from(base64, 'base64').toString('hex');
}

/** Strict base64 check: Buffer.from silently skips bad characters. */
export function isBase64(value: string): boolean {
  return /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(value);
}

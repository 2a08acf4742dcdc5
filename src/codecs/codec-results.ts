import { z } from 'zod';
import { jsonMayHoldUnstorableText, storableText, unstorableText } from '../common/storable-text';

/** What decodeUplink answers (TS013): data, with optional warnings and errors. */
const decodeResultSchema = z.looseObject({
  data: z.unknown().optional(),
  warnings: z.array(z.unknown()).optional(),
  errors: z.array(z.unknown()).optional(),
});

/** What encodeDownlink answers (TS013): the bytes and optionally the port. */
const encodeResultSchema = z.looseObject({
  bytes: z.array(z.number().int().min(0).max(255)).optional(),
  fPort: z.number().int().min(0).max(255).optional(),
  warnings: z.array(z.unknown()).optional(),
  errors: z.array(z.unknown()).optional(),
});

/** What a codec made of an uplink: `decoded` is null whenever it reported errors. */
export interface Decoding {
  decoded: unknown;
  decodeErrors: string[];
  decodeWarnings: string[];
}

export type Encoding = { ok: true; bytes: number[]; fPort: number | undefined; warnings: string[] } | { ok: false; errors: string[] };

const MAX_MESSAGES = 20;

export function undecoded(reason: string): Decoding {
  return { decoded: null, decodeErrors: [reason], decodeWarnings: [] };
}

/** decodeUplink's result (TS013) as the event keeps it; `json`, the text it was parsed from. */
export function readDecoding(value: unknown, json?: string): Decoding {
  const result = decodeResultSchema.safeParse(value);
  if (!result.success) return undecoded('decodeUplink must return { data, warnings?, errors? }');
  const decodeErrors = messages(result.data.errors);
  const decodeWarnings = messages(result.data.warnings);
  if (!decodeErrors.length && result.data.data === undefined) decodeErrors.push('decodeUplink returned no data');
  const unstorable = decodeErrors.length || (json !== undefined && !jsonMayHoldUnstorableText(json)) ? null : unstorableText(result.data.data);
  if (unstorable) return undecoded(`decodeUplink returned data that cannot be stored: ${unstorable}`);
  return { decoded: decodeErrors.length ? null : result.data.data, decodeErrors, decodeWarnings };
}

/** encodeDownlink's result (TS013): the bytes and port to send, or the codec's reasons to refuse. */
export function readEncoding(value: unknown): Encoding {
  const result = encodeResultSchema.safeParse(value);
  if (!result.success) return { ok: false, errors: ['encodeDownlink must return { bytes: [0-255, …], fPort?, warnings?, errors? }'] };
  const errors = messages(result.data.errors);
  if (errors.length) return { ok: false, errors };
  if (!result.data.bytes?.length) return { ok: false, errors: ['encodeDownlink returned no bytes'] };
  return { ok: true, bytes: result.data.bytes, fPort: result.data.fPort, warnings: messages(result.data.warnings) };
}

/** A codec's warnings or errors as stored in the event: strings, a bounded number of them. */
function messages(list: unknown[] | undefined): string[] {
  return (list ?? []).slice(0, MAX_MESSAGES).map((message) => {
    const text = typeof message === 'string' ? message : JSON.stringify(message);
    return storableText(text.length > 500 ? `${text.slice(0, 500)}…` : text);
  });
}

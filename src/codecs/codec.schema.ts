import { z } from 'zod';
import { isEvenHex } from '../common/bytes';
import { codecIdSchema } from '../common/codec-assignment';
import { pageQuerySchema } from '../common/pagination';
import { isoTimestamp } from '../common/validation';

/** Larger scripts are refused (400): vendors' published decoders are a few to ~60 KiB. */
export const MAX_SCRIPT_BYTES = 128 * 1024;

const scriptSchema = z
  .string()
  .min(1, 'must not be empty')
  .refine((script) => Buffer.byteLength(script) <= MAX_SCRIPT_BYTES, `must be at most ${MAX_SCRIPT_BYTES} bytes (UTF-8)`);

export const createCodecSchema = z.object({ id: codecIdSchema, name: z.string().trim().min(1).max(200), script: scriptSchema }).strict();
export type CreateCodecInput = z.infer<typeof createCodecSchema>;

/** PUT replaces the codec: a new version, compiled again everywhere it runs. */
export const replaceCodecSchema = createCodecSchema.omit({ id: true });
export type ReplaceCodecInput = z.infer<typeof replaceCodecSchema>;

const bytesSchema = z.array(z.number().int().min(0).max(255)).max(1024);

/** `POST /api/codecs/{id}/test`: decodeUplink on given bytes, or encodeDownlink on given data. */
export const testCodecSchema = z
  .object({
    bytes: bytesSchema.optional(),
    payloadHex: z.string().max(2048).refine(isEvenHex, 'must be hex digits, two per byte').optional(),
    fPort: z.number().int().min(0).max(255).optional(),
    recvTime: isoTimestamp.optional(),
    data: z.unknown().optional(),
  })
  .strict()
  .refine((input) => input.data !== undefined || (input.bytes === undefined) !== (input.payloadHex === undefined), {
    path: ['bytes'],
    message: 'give exactly one of bytes and payloadHex (or data, to encode)',
  });
export type TestCodecInput = z.infer<typeof testCodecSchema>;

export const codecPageQuerySchema = pageQuerySchema.extend({ cursor: codecIdSchema.optional() });

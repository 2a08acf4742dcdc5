import { z } from 'zod';
import { isBase64, isEvenHex } from '../common/bytes';
import { pageQuerySchema } from '../common/pagination';

const commandFields = {
  port: z.number().int().optional(),
  payloadHex: z.string().min(1, 'must not be empty').refine(isEvenHex, 'must be hex digits, two per byte').optional(),
  payloadBase64: z.string().min(1, 'must not be empty').refine(isBase64, 'must be base64 (standard alphabet, padded)').optional(),
  confirmed: z.boolean().default(false),
  /** Encoded by the device's codec (its encodeDownlink, SPEC §9) into the payload and port. */
  data: z.unknown().optional(),
};

const hasOnePayload = (c: { payloadHex?: string; payloadBase64?: string; data?: unknown }) =>
  [c.payloadHex, c.payloadBase64, c.data].filter((payload) => payload !== undefined).length === 1;
const onePayloadIssue = { path: ['payloadHex'], message: 'give exactly one of payloadHex, payloadBase64 and data (encoded by the device\'s codec)' };

/**
 * A downlink as users ask for it (SPEC §7). The payload is given once, as hex or as base64; the
 * port and size rules are the network's (DownlinkSender.validate). Unknown keys are refused, so
 * that a misspelt field is not silently ignored.
 */
export const downlinkCommandSchema = z
  .object(commandFields)
  .strict()
  .refine(hasOnePayload, onePayloadIssue);
export type DownlinkCommand = z.infer<typeof downlinkCommandSchema>;

/**
 * The same over MQTT, where the topic names the network and externalId: a device id that
 * several connections of that network share also needs the connection.
 */
export const mqttDownlinkCommandSchema = z
  .object({ ...commandFields, connectionId: z.string().min(1).max(36).optional() })
  .strict()
  .refine(hasOnePayload, onePayloadIssue);

export const downlinkListQuerySchema = pageQuerySchema.extend({
  cursor: z.uuid('must be the nextCursor of a previous page').optional(),
});

import { z } from 'zod';
import { pageQuerySchema } from '../../common/pagination';
import { connectionIdSchema } from '../../connections/connection.schema';
import { EVENT_TYPES, networkNameSchema } from '../../events/normalized-event';

/** `*` subscribes to every event type, including types added later. */
export const ALL_EVENTS = '*';

export const DELIVERY_STATUSES = ['pending', 'succeeded', 'failed'] as const;

const uniqueList = <T extends z.ZodType>(item: T, max: number) =>
  z
    .array(item)
    .max(max)
    .transform((values) => [...new Set(values)]);

const webhookFields = {
  url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).max(2048),
  events: uniqueList(z.enum([...EVENT_TYPES, ALL_EVENTS], `must be one of ${EVENT_TYPES.join(', ')} or "${ALL_EVENTS}"`), EVENT_TYPES.length + 1).refine(
    (events) => events.length > 0,
    'must name at least one event type (or "*")',
  ),
  /** Empty: every network. */
  networks: uniqueList(networkNameSchema, 32),
  /** Empty: every connection. Not checked against existing connections: one may be created later. */
  connectionIds: uniqueList(connectionIdSchema, 1000),
  includeRaw: z.boolean(),
};

export const createWebhookSchema = z
  .object({
    ...webhookFields,
    networks: webhookFields.networks.default([]),
    connectionIds: webhookFields.connectionIds.default([]),
    includeRaw: webhookFields.includeRaw.default(false),
  })
  .strict();
export type CreateWebhookInput = z.infer<typeof createWebhookSchema>;

export const updateWebhookSchema = z
  .object({
    url: webhookFields.url.optional(),
    events: webhookFields.events.optional(),
    networks: webhookFields.networks.optional(),
    connectionIds: webhookFields.connectionIds.optional(),
    includeRaw: webhookFields.includeRaw.optional(),
    /** An inactive webhook gets no new deliveries; its pending ones wait until it is active again. */
    active: z.boolean().optional(),
  })
  .strict();
export type UpdateWebhookInput = z.infer<typeof updateWebhookSchema>;

/** A day by default: time for receivers to take the new secret while both sign. */
export const rotateSecretSchema = z
  .object({ overlapSeconds: z.number().int().min(0).max(7 * 86_400, 'must be at most 604800 (7 days)').default(86_400) })
  .strict()
  .default({ overlapSeconds: 86_400 });
export type RotateSecretInput = z.infer<typeof rotateSecretSchema>;

export const webhookPageQuerySchema = pageQuerySchema.extend({
  cursor: z.uuid('must be the nextCursor of a previous page').optional(),
});

export const deliveriesQuerySchema = webhookPageQuerySchema.extend({
  status: z.enum(DELIVERY_STATUSES).optional(),
});
export type DeliveriesQuery = z.infer<typeof deliveriesQuerySchema>;

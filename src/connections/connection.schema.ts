import { z } from 'zod';
import { codecAssignmentFields } from '../common/codec-assignment';

export const connectionIdSchema = z
  .string()
  .regex(/^[a-z0-9](?:[-]?[a-z0-9]){2,35}$/, 'must be 3-36 lower-case letters, digits and single dashes');

export const createConnectionSchema = z.object({
  id: connectionIdSchema,
  network: z.string().min(1),
  name: z.string().min(1).max(200),
  settings: z.record(z.string(), z.unknown()).default({}),
});
export type CreateConnectionInput = z.infer<typeof createConnectionSchema>;

export const updateConnectionSchema = z
  .object({
    name: z.string().min(1).max(200).optional(),
    /** Merged into the stored settings; a secret left out keeps its stored value. */
    settings: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type UpdateConnectionInput = z.infer<typeof updateConnectionSchema>;

/**
 * The settings every network's connections have, taken off before the network's own schema checks
 * the rest: the payload codec of the connection's devices (SPEC §9). Null removes one.
 */
export const commonSettingsSchema = z.object({ settings: z.object(codecAssignmentFields) });

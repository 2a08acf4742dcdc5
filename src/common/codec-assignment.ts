import { z } from 'zod';

/** A payload codec's id (SPEC §9): what connections and devices name it by. */
export const codecIdSchema = z
  .string()
  .regex(/^[a-z0-9](?:[-_.]?[a-z0-9]){1,63}$/, 'must be 2-64 lower-case letters, digits and single - _ .');

/** `codecId` / `codecOverrides` of a connection's settings or of a device; null removes one. */
export const codecAssignmentFields = {
  codecId: codecIdSchema.nullable().optional(),
  codecOverrides: z.boolean().nullable().optional(),
};

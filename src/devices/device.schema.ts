import { z } from 'zod';
import { codecAssignmentFields } from '../common/codec-assignment';
import { pageQuerySchema } from '../common/pagination';
import { isoTimestamp } from '../common/validation';
import { connectionIdSchema } from '../connections/connection.schema';
import { networkNameSchema } from '../events/normalized-event';

/** The bridge's own labels: plain names to group and filter devices by. */
const labelSchema = z.string().regex(/^[\w.:-]{1,64}$/, 'must be 1-64 letters, digits or . _ : -');

const labelsSchema = z
  .array(labelSchema)
  .max(20)
  .transform((labels) => [...new Set(labels)]);

/** Flat key/value metadata kept in the bridge. */
const attributesSchema = z
  .record(z.string().min(1).max(64), z.union([z.string().max(1000), z.number(), z.boolean(), z.null()]))
  .refine((attributes) => Object.keys(attributes).length <= 50, 'at most 50 attributes');

/** 50 characters: the longest name The Things Stack keeps, so a name means the same on every network. */
const nameSchema = z.string().trim().min(1).max(50);

/**
 * The fields every device has. The network-specific ones (EUIs and keys, Sigfox id and PAC…)
 * are left in the object for the network's provisioner to validate.
 */
export const createDeviceSchema = z.looseObject({
  connectionId: z.string().min(1).max(36),
  name: nameSchema,
  labels: labelsSchema.default([]),
  attributes: attributesSchema.default({}),
  active: z.boolean().default(true),
  /** Decodes this device's uplinks instead of its connection's codec. */
  ...codecAssignmentFields,
});
export type CreateDeviceInput = z.infer<typeof createDeviceSchema>;

export const updateDeviceSchema = z.looseObject({
  name: nameSchema.optional(),
  labels: labelsSchema.optional(),
  /** Replaces the attributes. */
  attributes: attributesSchema.optional(),
  active: z.boolean().optional(),
  ...codecAssignmentFields,
});
export type UpdateDeviceInput = z.infer<typeof updateDeviceSchema>;

export const SYNC_STATES = ['none', 'pending', 'synced', 'failed'] as const;
export type SyncState = (typeof SYNC_STATES)[number];

export const listDevicesQuerySchema = pageQuerySchema.extend({
  cursor: z.uuid('must be the nextCursor of a previous page').optional(),
  connectionId: connectionIdSchema.optional(),
  network: networkNameSchema.optional(),
  externalId: z
    .string()
    .regex(/^[0-9a-fA-F]{1,16}$/, 'must be a DevEUI or Sigfox id (hex)')
    .transform((v) => v.toUpperCase())
    .optional(),
  label: labelSchema.optional(),
  syncState: z.enum(SYNC_STATES).optional(),
  /** Devices silent since this time: last seen before it (never seen ones too with neverSeen=true). */
  seenBefore: isoTimestamp.optional(),
  neverSeen: z
    .enum(['true', 'false'], 'must be true or false')
    .transform((v) => v === 'true')
    .optional(),
});
export type ListDevicesQuery = z.infer<typeof listDevicesQuerySchema>;

export const MAX_BULK = 1000;

export const bulkCreateSchema = z.object({
  devices: z.array(z.unknown()).min(1).max(MAX_BULK, `at most ${MAX_BULK} devices per request`),
});

export const reconcileSchema = z
  .object({ apply: z.boolean().default(false) })
  .strict()
  .default({ apply: false });

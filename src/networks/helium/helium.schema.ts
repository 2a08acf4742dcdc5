import { z } from 'zod';
import { isBase64 } from '../../common/bytes';

const eui = z.string().regex(/^[0-9a-fA-F]{16}$/, 'must be 16 hex characters');
/** Helium sends some numbers as strings (`reported_at` in device events). */
const numeric = z.union([z.number(), z.string().regex(/^-?\d+(\.\d+)?$/, 'must be a number').transform(Number)]);
/** Milliseconds since the epoch, within what a Date can hold. */
const epochMs = numeric.pipe(z.number().min(0).max(8.64e15));

export const heliumHotspotSchema = z.looseObject({
  id: z.string().min(1).max(200),
  name: z.string().max(200).nullish(),
  rssi: z.number().nullish(),
  snr: z.number().nullish(),
  frequency: z.number().nullish(),
  spreading: z
    .string()
    .regex(/^SF\d{1,2}BW\d{2,3}$/, 'must look like SF9BW125')
    .nullish(),
  lat: z.number().min(-90).max(90).nullish(),
  long: z.number().min(-180).max(180).nullish(),
  channel: z.number().nullish(),
  reported_at: epochMs.nullish(),
  status: z.string().nullish(),
});

/** A Helium Console HTTP integration body (reference 000, "Device Integration Events" `req.body`). */
export const heliumIntegrationSchema = z.looseObject({
  /** Absent on uplinks; Console marks joins and downlink acks. */
  type: z.enum(['uplink', 'join', 'ack']).default('uplink'),
  dev_eui: eui,
  app_eui: eui.nullish(),
  devaddr: z.string().max(16).nullish(),
  id: z.string().max(100).nullish(),
  name: z.string().max(200).nullish(),
  fcnt: z.number().int().min(0).max(0xffffffff).nullish(),
  port: z.number().int().min(0).max(255).nullish(),
  payload: z.string().refine(isBase64, 'must be base64').nullish(),
  payload_size: z.number().int().min(0).nullish(),
  reported_at: epochMs,
  confirmed: z.boolean().nullish(),
  hotspots: z.array(heliumHotspotSchema).max(100).default([]),
  decoded: z.looseObject({ payload: z.unknown(), status: z.string().optional() }).nullish(),
  downlink_url: z.url().nullish(),
  metadata: z.record(z.string(), z.unknown()).nullish(),
});

export type HeliumIntegrationBody = z.infer<typeof heliumIntegrationSchema>;
export type HeliumHotspot = z.infer<typeof heliumHotspotSchema>;

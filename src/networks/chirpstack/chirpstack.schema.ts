import { z } from 'zod';
import { isBase64 } from '../../common/bytes';
import { isoTimestamp } from '../../common/validation';

/*
 * ChirpStack v4 integration events as its JSON encoding writes them (pbjson, see the reference):
 * lowerCamelCase names, enums by name, `+00:00` times with 0 to 9 fraction digits. v4.0 left out
 * every default value and later versions write them, so every scalar is optional here and read as
 * its default when absent. Objects are loose, as ChirpStack's own reader is: only the fields the
 * mapper reads are checked, and `raw` keeps the rest.
 */

/** The `event` query parameter of the HTTP integration, the `{{event}}` level of an MQTT topic. */
export const CHIRPSTACK_EVENT_TYPES = ['up', 'join', 'ack', 'txack', 'status', 'location', 'log', 'integration'] as const;
export type ChirpstackEventType = (typeof CHIRPSTACK_EVENT_TYPES)[number];

const base64 = z.string().refine(isBase64, { error: 'Invalid base64' });
const uint8 = z.int().min(0).max(255);
const uint32 = z.int().min(0).max(0xffffffff);
const stringMap = z.record(z.string(), z.string());
/** ChirpStack's ids are UUIDs; they make the event's identity, which must stay a short key. */
const id = z.string().min(1).max(100, { error: 'Too long: an id of at most 100 characters (ChirpStack writes UUIDs)' });

const deviceInfoSchema = z.looseObject({
  devEui: z.string().regex(/^[0-9a-fA-F]{16}$/, { error: 'Invalid DevEUI: expected 16 hex digits' }),
  deviceName: z.string().optional(),
  applicationId: z.string().optional(),
  tags: stringMap.optional(),
});

/** Coordinates one by one: a coordinate of exactly 0 is left out, and a gateway without any is `{}`. */
const locationSchema = z.looseObject({
  latitude: z.number().min(-90).max(90).optional(),
  longitude: z.number().min(-180).max(180).optional(),
  altitude: z.number().optional(),
  source: z.string().optional(),
  accuracy: z.number().min(0).optional(),
});
export type ChirpstackLocation = z.infer<typeof locationSchema>;

const rxInfoSchema = z.looseObject({
  // A gateway id only names a gateway: a strange one must not cost the uplink.
  gatewayId: z.string(),
  rssi: z.number().optional(),
  snr: z.number().optional(),
  location: locationSchema.optional(),
  metadata: stringMap.optional(),
});
export type ChirpstackRxInfo = z.infer<typeof rxInfoSchema>;

const modulationSchema = z.looseObject({
  lora: z.looseObject({ bandwidth: uint32.optional(), spreadingFactor: uint32.optional() }).optional(),
  fsk: z.looseObject({ datarate: uint32.optional() }).optional(),
  lrFhss: z.looseObject({ operatingChannelWidth: uint32.optional() }).optional(),
});

const txInfoSchema = z.looseObject({
  frequency: uint32.optional(),
  modulation: modulationSchema.optional(),
});
export type ChirpstackTxInfo = z.infer<typeof txInfoSchema>;

/** Every event has these. */
const common = {
  time: isoTimestamp.optional(),
  deviceInfo: deviceInfoSchema,
};

const uplinkSchema = z.looseObject({
  ...common,
  deduplicationId: id,
  devAddr: z.string().optional(),
  fCnt: uint32.optional(),
  fPort: uint8.optional(),
  confirmed: z.boolean().optional(),
  data: base64.optional(),
  object: z.record(z.string(), z.unknown()).nullable().optional(),
  // Never empty: an uplink is heard by a gateway at least. Required, it tells an uplink from a join.
  rxInfo: z.array(rxInfoSchema).min(1, { error: 'must list the gateways that heard the uplink' }),
  txInfo: txInfoSchema.optional(),
});

const joinSchema = z.looseObject({ ...common, deduplicationId: id, devAddr: z.string().optional() });

const ackSchema = z.looseObject({
  ...common,
  // Empty for a confirmed downlink that timed out without an uplink to name.
  deduplicationId: z.union([z.literal(''), id]).optional(),
  queueItemId: id,
  acknowledged: z.boolean().optional(),
  fCntDown: uint32.optional(),
});

const txAckSchema = z.looseObject({
  ...common,
  downlinkId: uint32.optional(),
  queueItemId: id,
  fCntDown: uint32.optional(),
  gatewayId: z.string().optional(),
  txInfo: txInfoSchema.optional(),
});

const statusSchema = z.looseObject({
  ...common,
  deduplicationId: id,
  margin: z.int().optional(),
  externalPowerSource: z.boolean().optional(),
  batteryLevelUnavailable: z.boolean().optional(),
  batteryLevel: z.number().min(0).max(100).optional(),
});

const locationEventSchema = z.looseObject({ ...common, deduplicationId: id, location: locationSchema });

const logSchema = z.looseObject({
  ...common,
  level: z.enum(['INFO', 'WARNING', 'ERROR']).optional(),
  code: z.string().optional(),
  description: z.string().optional(),
  context: stringMap.optional(),
});

/** Before v4.15 only (LoRa Cloud). */
const integrationSchema = z.looseObject({ ...common, deduplicationId: id.optional(), integrationName: z.string().optional() });

export const chirpstackEventSchemas = {
  up: uplinkSchema,
  join: joinSchema,
  ack: ackSchema,
  txack: txAckSchema,
  status: statusSchema,
  location: locationEventSchema,
  log: logSchema,
  integration: integrationSchema,
} satisfies Record<ChirpstackEventType, z.ZodType>;

export type ChirpstackUplink = z.infer<typeof uplinkSchema>;
export type ChirpstackJoin = z.infer<typeof joinSchema>;
export type ChirpstackAck = z.infer<typeof ackSchema>;
export type ChirpstackTxAck = z.infer<typeof txAckSchema>;
export type ChirpstackStatus = z.infer<typeof statusSchema>;
export type ChirpstackLocationEvent = z.infer<typeof locationEventSchema>;
export type ChirpstackLog = z.infer<typeof logSchema>;

/**
 * Fields only one kind of event has. Unknown fields are ignored (later versions add some), but a
 * body with another event's own fields was sent with the wrong `event`: it is refused rather than
 * read as empty defaults.
 */
const OWN_FIELDS: Record<ChirpstackEventType, readonly string[]> = {
  up: ['rxInfo', 'fCnt', 'fPort', 'data', 'object', 'adr', 'dr', 'confirmed', 'devAddr', 'txInfo', 'relayRxInfo', 'joinServerContext', 'regionConfigId'],
  join: ['devAddr', 'relayRxInfo', 'joinServerContext', 'regionConfigId'],
  ack: ['queueItemId', 'acknowledged', 'fCntDown'],
  txack: ['queueItemId', 'downlinkId', 'fCntDown', 'gatewayId', 'txInfo'],
  status: ['margin', 'externalPowerSource', 'batteryLevelUnavailable', 'batteryLevel'],
  location: ['location'],
  log: ['level', 'code', 'description', 'context'],
  integration: ['integrationName', 'eventType', 'object'],
};

/** The other event type whose own field the body has, e.g. an `up` body posted with `?event=status`; null if none. */
export function foreignFieldOf(type: ChirpstackEventType, body: Record<string, unknown>): { field: string; belongsTo: ChirpstackEventType } | null {
  const own = new Set(OWN_FIELDS[type]);
  for (const field of Object.keys(body)) {
    if (own.has(field)) continue;
    const belongsTo = CHIRPSTACK_EVENT_TYPES.find((other) => OWN_FIELDS[other].includes(field));
    if (belongsTo) return { field, belongsTo };
  }
  return null;
}

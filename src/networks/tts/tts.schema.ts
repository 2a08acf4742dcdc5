import { z } from 'zod';
import { isBase64 } from '../../common/bytes';
import { isoTimestamp } from '../../common/validation';

/*
 * The Things Stack speaks proto3 JSON: fields whose value is 0, "" or false are left out, 64-bit
 * numbers are strings and timestamps have nanoseconds. Objects are loose: TTS adds fields from
 * release to release and `raw` keeps whatever it sent. Only the fields the mapper reads are
 * checked, so that a field the bridge ignores never costs an event. Nothing is transformed: a
 * parsed body is still the body as received.
 */

const base64 = z.string().refine(isBase64, { error: 'Invalid base64' });
const hexOfLength = (length: number) =>
  z.string().regex(new RegExp(`^[0-9A-Fa-f]{${length}}$`), { error: `Invalid hex: expected ${length} hex digits` });
const uint8 = z.int().min(0).max(255);
const uint32 = z.int().min(0).max(0xffffffff);
/** uint64/int64 arrive as decimal strings (numbers from some encoders). */
const uint64 = z.union([z.int().min(0), z.string().regex(/^\d+$/, { error: 'Invalid uint64: expected decimal digits' })]);

const endDeviceIdsSchema = z.looseObject({
  device_id: z.string().min(1),
  application_ids: z.looseObject({ application_id: z.string().min(1) }),
  dev_eui: hexOfLength(16).optional(),
  join_eui: hexOfLength(16).optional(),
  dev_addr: hexOfLength(8).optional(),
});

/** Coordinates are optional one by one: a coordinate that is exactly 0 is left out. */
const locationSchema = z.looseObject({
  latitude: z.number().min(-90).max(90).optional(),
  longitude: z.number().min(-180).max(180).optional(),
  accuracy: z.number().min(0).optional(),
  source: z.string().optional(),
});

const rxMetadataSchema = z.looseObject({
  // Gateway EUIs only name a gateway: a strange one must not cost the uplink.
  gateway_ids: z.looseObject({ gateway_id: z.string().min(1), eui: z.string().optional() }),
  rssi: z.number().optional(),
  channel_rssi: z.number().optional(),
  snr: z.number().optional(),
  location: locationSchema.optional(),
  /** Set on uplinks that came in through Packet Broker, whose gateway_id is always "packetbroker". */
  packet_broker: z
    .looseObject({
      forwarder_gateway_id: z.string().optional(),
      forwarder_gateway_eui: z.string().optional(),
    })
    .optional(),
});

const txSettingsSchema = z.looseObject({
  data_rate: z
    .looseObject({
      // coding_rate is here on newer servers, in settings on older ones; the bridge uses neither.
      lora: z.looseObject({ bandwidth: uint32.optional(), spreading_factor: uint32.optional() }).optional(),
      fsk: z.looseObject({ bit_rate: uint32.optional() }).optional(),
    })
    .optional(),
  frequency: uint64.optional(),
});

const uplinkMessageSchema = z.looseObject({
  session_key_id: base64.optional(),
  f_port: uint8.optional(),
  f_cnt: uint32.optional(),
  frm_payload: base64.optional(),
  decoded_payload: z.record(z.string(), z.unknown()).optional(),
  rx_metadata: z.array(rxMetadataSchema).optional(),
  settings: txSettingsSchema.optional(),
  received_at: isoTimestamp.optional(),
  confirmed: z.boolean().optional(),
});

const joinAcceptSchema = z.looseObject({
  session_key_id: base64.optional(),
  received_at: isoTimestamp.optional(),
});

/** Reported back for the bridge's correlation id; the rest is hashed as it came. */
const applicationDownlinkSchema = z.looseObject({
  correlation_ids: z.array(z.string()).optional(),
});

const errorDetailsSchema = z.looseObject({
  namespace: z.string().optional(),
  name: z.string().optional(),
  message_format: z.string().optional(),
  attributes: z.record(z.string(), z.unknown()).optional(),
});

const downlinkFailedSchema = z.looseObject({
  downlink: applicationDownlinkSchema.optional(),
  error: errorDetailsSchema.optional(),
});

const invalidatedDownlinksSchema = z.looseObject({
  downlinks: z.array(applicationDownlinkSchema).optional(),
});

const locationSolvedSchema = z.looseObject({
  location: locationSchema.refine((l) => l.latitude !== undefined || l.longitude !== undefined, {
    error: 'Invalid location: no latitude or longitude',
  }),
});

/** Free-form (`service`, `data`); kept in raw. */
const serviceDataSchema = z.looseObject({});

/** The messages an ApplicationUp carries, exactly one per body. */
const applicationUpMessages = {
  uplink_message: uplinkMessageSchema.optional(),
  join_accept: joinAcceptSchema.optional(),
  downlink_ack: applicationDownlinkSchema.optional(),
  downlink_nack: applicationDownlinkSchema.optional(),
  downlink_sent: applicationDownlinkSchema.optional(),
  downlink_failed: downlinkFailedSchema.optional(),
  downlink_queued: applicationDownlinkSchema.optional(),
  downlink_queue_invalidated: invalidatedDownlinksSchema.optional(),
  location_solved: locationSolvedSchema.optional(),
  service_data: serviceDataSchema.optional(),
};

export type ApplicationUpMessageName = keyof typeof applicationUpMessages;
export const APPLICATION_UP_MESSAGE_NAMES = Object.keys(applicationUpMessages) as ApplicationUpMessageName[];

/** The TTS webhook body; also the `data` of the stream's `as.up.*` events (without "@type"). */
export const applicationUpSchema = z
  .looseObject({
    end_device_ids: endDeviceIdsSchema,
    correlation_ids: z.array(z.string()).optional(),
    received_at: isoTimestamp.optional(),
    simulated: z.boolean().optional(),
    ...applicationUpMessages,
  })
  .superRefine((body, ctx) => {
    const present = APPLICATION_UP_MESSAGE_NAMES.filter((name) => body[name] !== undefined);
    if (present.length !== 1) {
      const found = present.length ? `found ${present.join(', ')}` : 'found none';
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: `expected exactly one of ${APPLICATION_UP_MESSAGE_NAMES.join(', ')}; ${found}`,
      });
      return;
    }
    // Uplinks and joins carry their own time; every other message has only the body's.
    const messageTime = body.uplink_message?.received_at ?? body.join_accept?.received_at;
    if (!messageTime && !body.received_at) {
      ctx.addIssue({ code: 'custom', path: ['received_at'], message: 'Invalid input: expected a timestamp, received nothing' });
    }
  });

export type ApplicationUp = z.infer<typeof applicationUpSchema>;
export type ApplicationDownlink = z.infer<typeof applicationDownlinkSchema>;
export type TtsLocation = z.infer<typeof locationSchema>;
export type RxMetadata = z.infer<typeof rxMetadataSchema>;

/** One event of `POST /api/v3/events`, as found in a `{"result": …}` message. */
export const ttsStreamEventSchema = z.looseObject({
  name: z.string().min(1),
  time: isoTimestamp,
  // Checked where used: the events the bridge ignores may name other entities.
  identifiers: z.array(z.record(z.string(), z.unknown())).optional(),
  data: z.unknown().optional(),
  correlation_ids: z.array(z.string()).optional(),
  unique_id: z.string().optional(),
});

export type TtsStreamEvent = z.infer<typeof ttsStreamEventSchema>;

import { z } from 'zod';
import { canonicalSigfoxId, SIGFOX_ID_PATTERN, SIGFOX_ID_PROBLEM } from './sigfox-device-id';

/**
 * Sigfox callback bodies (SPEC §3). They arrive as JSON, as a form or as a GET query string: in the
 * last two every value is text, and Sigfox's JSON templates often quote numbers too, so numbers and
 * booleans are read from text here. Variables the bridge does not know (customData#…, operatorName…)
 * are kept: every schema is loose.
 */

/** Sigfox uplinks carry 0 to 12 bytes. */
const MAX_UPLINK_BYTES = 12;

/** Seconds since the epoch stay below this until 2286; a millisecond time is far above it. */
const MAX_EPOCH_SECONDS = 10_000_000_000;

/** How a missing value reads in a form or template: rssi "null", avgSnr "N/A", an empty field. */
const NO_VALUE_TEXTS = new Set(['', 'null', 'n/a']);

const DECIMAL_TEXT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;

function isNoValue(value: unknown): boolean {
  return value === null || (typeof value === 'string' && NO_VALUE_TEXTS.has(value.trim().toLowerCase()));
}

function numberFromText(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const text = value.trim();
  return DECIMAL_TEXT.test(text) ? Number(text) : value;
}

function booleanFromText(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const text = value.trim().toLowerCase();
  if (text === 'true') return true;
  if (text === 'false') return false;
  return value;
}

function jsonFromText(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/** Error messages name the field, so a 400 tells the user which template variable is wrong. */
function fieldError(field: string, expected: string) {
  return (issue: { input?: unknown }) =>
    issue.input === undefined ? `${field} is required` : `${field} must be ${expected}, got ${JSON.stringify(issue.input)}`;
}

function numberField(field: string) {
  return z.number({ error: fieldError(field, 'a number') });
}

/**
 * A variable Sigfox may not have for this message ("if available", contract options): absent when
 * left out or sent without a value, else read from text by `fromText` and checked by `schema`.
 */
function optional<T extends z.ZodType>(schema: T, fromText: (value: unknown) => unknown = (value) => value) {
  return z.preprocess((value) => (isNoValue(value) ? undefined : fromText(value)), schema.optional()).optional();
}

function optionalNumber(field: string) {
  return optional(numberField(field), numberFromText);
}

function optionalCount(field: string) {
  const count = numberField(field)
    .int({ error: `${field} must be a whole number` })
    .nonnegative({ error: `${field} must not be negative` });
  return optional(count, numberFromText);
}

function optionalBoolean(field: string) {
  return optional(z.boolean({ error: fieldError(field, 'true or false') }), booleanFromText);
}

function optionalText(field: string) {
  return optional(z.string({ error: fieldError(field, 'text') }));
}

/** The canonical id: "002C" and "2C" name one device. The body, kept as `raw`, keeps Sigfox's spelling. */
const deviceId = z
  .string({ error: fieldError('device', 'a Sigfox device id') })
  .trim()
  .regex(SIGFOX_ID_PATTERN, { error: `device ${SIGFOX_ID_PROBLEM}` })
  .transform(canonicalSigfoxId);

const epochSeconds = z.preprocess(
  numberFromText,
  numberField('time')
    .int({ error: 'time must be whole seconds since the epoch' })
    .nonnegative({ error: 'time must not be negative' })
    .max(MAX_EPOCH_SECONDS, { error: 'time must be seconds since the epoch, not milliseconds' }),
);

function uplinkDataProblem(hex: string): string | null {
  if (!/^[0-9a-f]*$/i.test(hex)) return 'data must be hex digits (0-9, a-f)';
  if (hex.length % 2 !== 0) return `data must be whole bytes: an even number of hex digits, got ${hex.length}`;
  if (hex.length > MAX_UPLINK_BYTES * 2) return `data must be at most ${MAX_UPLINK_BYTES} bytes, got ${hex.length / 2}`;
  return null;
}

/** The uplink payload, lower-case hex. */
const uplinkData = z
  .string({ error: fieldError('data', 'hex text') })
  .trim()
  .superRefine((hex, ctx) => {
    const problem = uplinkDataProblem(hex);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .transform((hex) => hex.toLowerCase());

/**
 * The Atlas/GPS position Sigfox computed for the message. A JSON body carries it as an object; a
 * form or query string carries the JSON text Sigfox put in place of `{computedLocation}`.
 */
const computedLocation = optional(
  z.looseObject(
    {
      lat: optionalNumber('computedLocation.lat'),
      lng: optionalNumber('computedLocation.lng'),
      radius: optionalNumber('computedLocation.radius'),
      /** Positioning technology: 1 GPS, 2 Atlas Native (network), 6 Atlas WiFi… */
      source: optionalNumber('computedLocation.source'),
      /** 0 when no position could be computed. */
      status: optionalNumber('computedLocation.status'),
    },
    { error: 'computedLocation must be an object or its JSON text' },
  ),
  jsonFromText,
);

/** DATA callback, subtypes UPLINK and BIDIR. */
export const sigfoxDataCallbackSchema = z.looseObject({
  device: deviceId,
  time: epochSeconds,
  data: uplinkData,
  /** "if available", says Sigfox. 12 bits, it wraps at 4096. */
  seqNumber: optionalCount('seqNumber'),
  /** BIDIR: true when the device waits for a downlink in answer. */
  ack: optionalBoolean('ack'),
  /** True on the copies sent by the other base stations that received the message (sendDuplicate). */
  duplicate: optionalBoolean('duplicate'),
  /** The receiving base station; station, rssi and snr need the NETWORK METADATA contract option. */
  station: optionalText('station'),
  rssi: optionalNumber('rssi'),
  snr: optionalNumber('snr'),
  /** Position of the base station, rounded to whole degrees. */
  lat: optionalNumber('lat'),
  lng: optionalNumber('lng'),
  computedLocation,
});
export type SigfoxDataCallback = z.infer<typeof sigfoxDataCallbackSchema>;

export type SigfoxServiceSubtype = 'STATUS' | 'ACKNOWLEDGE' | 'REPEATER';

/** Counters only a repeater's out-of-band message carries; they stay in the body as sent. */
const REPEATER_VARIABLES = ['repeatedMsg', 'whitelistDevices', 'unwantedDevices', 'unwantedMsg', 'wrongMsg', 'overRegulMsg'];

const serviceVariables = z.looseObject({
  device: deviceId,
  time: epochSeconds,
  /** STATUS: device temperature in °C. */
  temp: optionalNumber('temp'),
  /** STATUS and REPEATER: battery voltage in V. */
  batt: optionalNumber('batt'),
  /** ACKNOWLEDGE: true if the base station emitted the downlink. */
  downlinkAck: optionalBoolean('downlinkAck'),
  /** ACKNOWLEDGE: true if the device went over its daily downlink quota. */
  downlinkOverusage: optionalBoolean('downlinkOverusage'),
  /** ACKNOWLEDGE: 0 ACKED, 1 NO_ANSWER, 2 INVALID_PAYLOAD… */
  infoCode: optionalCount('infoCode'),
  infoMessage: optionalText('infoMessage'),
});

/**
 * Which SERVICE callback this is. Sigfox does not say in the body, so it is told by the variables
 * that only one subtype has.
 */
function serviceSubtypeOf(body: z.infer<typeof serviceVariables>): SigfoxServiceSubtype | null {
  if (body.downlinkAck !== undefined || body.infoCode !== undefined) return 'ACKNOWLEDGE';
  if (REPEATER_VARIABLES.some((name) => body[name] !== undefined)) return 'REPEATER';
  if (body.temp !== undefined || body.batt !== undefined) return 'STATUS';
  return null;
}

/** SERVICE callback, subtypes STATUS, ACKNOWLEDGE and REPEATER; the parsed body says which in `subtype`. */
export const sigfoxServiceCallbackSchema = serviceVariables.transform((body, ctx) => {
  const subtype = serviceSubtypeOf(body);
  if (subtype) return { ...body, subtype };
  ctx.issues.push({
    code: 'custom',
    input: body,
    message:
      'SERVICE callback body must carry temp or batt (STATUS), downlinkAck or infoCode (ACKNOWLEDGE), ' +
      `or one of ${REPEATER_VARIABLES.join(', ')} (REPEATER)`,
  });
  return z.NEVER;
});
export type SigfoxServiceCallback = z.infer<typeof sigfoxServiceCallbackSchema>;

/** ERROR callback: the device missed its keep-alive (severity ERROR) or the network has trouble (WARN). */
export const sigfoxErrorCallbackSchema = z.looseObject({
  device: deviceId,
  time: epochSeconds,
  /** "ERROR" or "WARN". */
  severity: optionalText('severity'),
  /** Sigfox's text, e.g. "No message received since 2013-10-08 15:36:21". */
  info: optionalText('info'),
  infoCode: optionalCount('infoCode'),
  infoMessage: optionalText('infoMessage'),
});
export type SigfoxErrorCallback = z.infer<typeof sigfoxErrorCallbackSchema>;

import { unstorableText } from '../../common/storable-text';
import { describeIssues } from '../../common/validation';
import { mapChirpstackEvent, MappedChirpstackEvent } from './chirpstack.mapper';
import { protobufEventToJson, UndecodableProtobufError } from './chirpstack-protobuf';
import { CHIRPSTACK_EVENT_TYPES, ChirpstackEventType, chirpstackEventSchemas, foreignFieldOf } from './chirpstack.schema';

/** Why an event cannot be read; the message names the problem (a 400 over HTTP, a log line over MQTT). */
export class UnreadableChirpstackEvent extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnreadableChirpstackEvent';
  }
}

export function isChirpstackEventType(value: unknown): value is ChirpstackEventType {
  return typeof value === 'string' && (CHIRPSTACK_EVENT_TYPES as readonly string[]).includes(value);
}

/**
 * One event of ChirpStack's HTTP or MQTT integration: its type (`?event=`, or the topic's
 * `{{event}}` level) and its body, JSON already parsed or Protobuf bytes. The same event in either
 * encoding gives the same normalized event.
 */
export function readChirpstackEvent(type: unknown, body: unknown): MappedChirpstackEvent {
  if (type === undefined || type === '') {
    throw new UnreadableChirpstackEvent(`event: missing; ChirpStack's HTTP integration names it (?event=${CHIRPSTACK_EVENT_TYPES.join('|')})`);
  }
  if (!isChirpstackEventType(type)) {
    throw new UnreadableChirpstackEvent(`event: unknown event type ${JSON.stringify(type)} (one of ${CHIRPSTACK_EVENT_TYPES.join(', ')})`);
  }
  // Before v4.15 only, and never worth a refusal (reference §4): taken and left aside.
  if (type === 'integration') return { ignored: 'integration events (LoRa Cloud, before v4.15) carry nothing the normalized event has' };
  let json: unknown = body;
  if (Buffer.isBuffer(body)) {
    try {
      json = protobufEventToJson(type, body);
    } catch (error) {
      if (error instanceof UndecodableProtobufError) throw new UnreadableChirpstackEvent(error.message);
      throw error;
    }
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UnreadableChirpstackEvent(`body: expected a ChirpStack ${type} event (a JSON object)`);
  // The HTTP edge checks JSON bodies; Protobuf strings and MQTT messages are checked here.
  const unstorable = unstorableText(json);
  if (unstorable) throw new UnreadableChirpstackEvent(`body: ${unstorable}`);
  const foreign = foreignFieldOf(type, json as Record<string, unknown>);
  if (foreign) {
    throw new UnreadableChirpstackEvent(`body: "${foreign.field}" belongs to ${foreign.belongsTo} events: this is not a ${type} event (check ?event=)`);
  }
  const parsed = chirpstackEventSchemas[type].safeParse(json);
  if (!parsed.success) throw new UnreadableChirpstackEvent(`${type} event: ${describeIssues(parsed.error)}`);
  // `raw` is the body as received (a Protobuf body as the JSON ChirpStack would have written).
  return mapChirpstackEvent(type, parsed.data as Record<string, unknown>, json);
}

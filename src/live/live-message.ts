import type { NormalizedEvent } from '../events/normalized-event';

/**
 * A published event as the live bus carries it: what the stream filters look at, and its JSON
 * document (without raw) as fan-out serialized it for MQTT. The document is passed on as text,
 * never parsed and serialized again.
 */
export interface LiveEvent {
  id: string;
  type: string;
  network: string;
  connectionId: string;
  deviceId: string;
  json: string;
}

export function liveEventOf(event: Pick<NormalizedEvent, 'id' | 'type' | 'network' | 'connectionId' | 'device'>, json: string): LiveEvent {
  return { id: event.id, type: event.type, network: event.network, connectionId: event.connectionId, deviceId: event.device.id, json };
}

const FIELDS = 5;

/**
 * Two lines an event: its filter fields, tab-separated (ids, names and connection ids hold neither
 * tabs nor line breaks), then its JSON (JSON.stringify writes no line break).
 */
export function encodeLiveMessage(events: LiveEvent[]): string {
  return events.map((e) => `${e.id}\t${e.type}\t${e.network}\t${e.connectionId}\t${e.deviceId}\n${e.json}`).join('\n');
}

/** Throws on a message it did not write. */
export function decodeLiveMessage(message: string): LiveEvent[] {
  const lines = message.split('\n');
  if (lines.length % 2 !== 0) throw new Error('not a live message (odd line count)');
  const events: LiveEvent[] = [];
  for (let i = 0; i < lines.length; i += 2) {
    const fields = lines[i].split('\t');
    const json = lines[i + 1];
    if (fields.length !== FIELDS || !json.startsWith('{')) throw new Error(`not a live message (line ${i + 1})`);
    const [id, type, network, connectionId, deviceId] = fields;
    events.push({ id, type, network, connectionId, deviceId, json });
  }
  return events;
}

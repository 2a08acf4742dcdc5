import type { NormalizedEvent } from './normalized-event';

/** The event as stored in `events.body`: the normalized event without its own columns. */
export type EventBody = Omit<NormalizedEvent, 'id' | 'type' | 'network' | 'connectionId' | 'time' | 'receivedAt' | 'raw'>;

/** Columns of an event, as plain pg returns them. */
export interface RawEventRow {
  id: string;
  connection_id: string;
  network: string;
  type: string;
  time: Date;
  received_at: Date;
  body: EventBody;
  raw: unknown;
}

export function fromRawRow(row: RawEventRow): NormalizedEvent {
  return normalized(row.id, row.type, row.network, row.connection_id, row.time, row.received_at, row.body, row.raw);
}

export function normalized(id: string, type: string, network: string, connectionId: string, time: Date, receivedAt: Date, body: EventBody, raw: unknown): NormalizedEvent {
  return {
    id,
    type: type as NormalizedEvent['type'],
    network: network as NormalizedEvent['network'],
    connectionId,
    device: body.device,
    time: time.toISOString(),
    receivedAt: receivedAt.toISOString(),
    uplink: body.uplink,
    radio: body.radio,
    status: body.status,
    ack: body.ack,
    location: body.location,
    raw,
  };
}

import type { NormalizedEvent, Radio } from './normalized-event';

/** The event as stored in `events.body`: the normalized event without its own columns. */
export type EventBody = Omit<NormalizedEvent, 'id' | 'type' | 'network' | 'connectionId' | 'time' | 'receivedAt' | 'raw'>;

/** A row of the events table, named as its columns: the batch is sent as JSON records of it. */
export interface EventRow {
  id: string;
  connection_id: string;
  device_id: string;
  network: string;
  type: string;
  external_id: string;
  dedup_key: string;
  time: Date;
  received_at: Date;
  /** The event's body; its `radio` gains the gateways of copies folded into it. */
  body: { radio?: Radio | null };
  raw: unknown;
  /** Not a column: the identity's window (IncomingEvent.identityWindowMs), null for a named message. */
  window_ms: number | null;
}

/**
 * What became of a row: stored as a new event (its radio with the gateways of its copies in the
 * same batch), merged into such a row of its batch, or held by an event stored before it, whose
 * gateways EventCopyMerger then extends.
 */
export type InsertOutcome = { stored: 'new' | 'copy'; id: string; radio: Radio | null } | { stored: 'held' };

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

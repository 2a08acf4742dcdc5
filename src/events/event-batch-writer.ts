import type { Pool } from 'pg';
import { CoalescingBatcher, ItemFailure } from '../common/coalescing-batcher';
import type { Radio } from './normalized-event';
import { mergeRadio } from './radio';

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
export type InsertOutcome = { stored: 'new'; radio: Radio | null } | { stored: 'copy'; id: string; radio: Radio | null } | { stored: 'held' };

/**
 * Inserts the events of concurrent requests together, in one statement (one round trip, one
 * commit) per batch; see CoalescingBatcher. An event is inserted only when it claims its identity
 * in event_identities: the key is free, expired, or (for a windowed key) held by an event whose
 * time is too far from this one's to be the same transmission.
 */
export class EventBatchWriter {
  private readonly batcher = new CoalescingBatcher<EventRow, InsertOutcome>((rows) => this.insertBatch(rows));

  constructor(
    private readonly pool: Pool,
    private readonly identityTtlMs: number,
  ) {}

  /** Resolves once the row is committed (or its event's, when it is a copy of one in its batch). */
  insert(row: EventRow): Promise<InsertOutcome> {
    return this.batcher.push(row);
  }

  private async insertBatch(rows: EventRow[]): Promise<Array<InsertOutcome | ItemFailure>> {
    const folded = foldCopies(rows);
    try {
      const inserted = await this.insertMany(folded.rows);
      return rows.map((_, n) => outcomeOf(folded, n, inserted));
    } catch (error) {
      // One row Postgres refuses (its device just deleted, a value it cannot store) must not fail
      // its neighbours, other requests' events: retry them alone, unfolded.
      if (rows.length === 1 || !isRowError(error)) throw error;
      const results: Array<InsertOutcome | ItemFailure> = [];
      for (const row of rows) {
        results.push(
          await this.insertMany([row]).then(
            (inserted): InsertOutcome => (inserted.has(row.id) ? { stored: 'new', radio: row.body.radio ?? null } : { stored: 'held' }),
            (failure: unknown) => new ItemFailure(failure),
          ),
        );
      }
      return results;
    }
  }

  /**
   * An event whose id is already stored (the journal replay of a store that committed, after its
   * identity expired) is not inserted again: it comes back as a copy, merged into itself.
   * The batch goes as one JSON document: pg would otherwise escape every JSON body into an array
   * literal, and Postgres parse it twice (the array, then each element).
   */
  private async insertMany(rows: EventRow[]): Promise<Set<string>> {
    const result = await this.pool.query<{ id: string }>({
      name: 'insert-events',
      // Within a batch one event of a key claims it (the lowest id: the earliest, to the millisecond); the others come back as copies.
      text: `WITH firsts AS (
               SELECT DISTINCT ON (connection_id, dedup_key) *
               FROM jsonb_to_recordset($1::jsonb) AS batch(id uuid, connection_id text, device_id uuid, network text,
                    type text, external_id text, dedup_key text, time timestamptz, received_at timestamptz, body jsonb, raw jsonb,
                    window_ms integer)
               ORDER BY connection_id, dedup_key, id
             ),
             claimed AS (
               INSERT INTO event_identities AS known (connection_id, identity_key, event_id, event_time, window_ms, expires_at)
               SELECT connection_id, dedup_key, id, time, window_ms, now() + $2 * interval '1 millisecond' FROM firsts
               ON CONFLICT (connection_id, identity_key) DO UPDATE
                 SET event_id = EXCLUDED.event_id, event_time = EXCLUDED.event_time, window_ms = EXCLUDED.window_ms, expires_at = EXCLUDED.expires_at
                 WHERE known.expires_at <= now() OR abs(extract(epoch FROM EXCLUDED.event_time - known.event_time) * 1000) > known.window_ms
               RETURNING event_id
             )
             INSERT INTO events (id, connection_id, device_id, network, type, external_id, dedup_key, time, received_at, body, raw)
             SELECT id, connection_id, device_id, network, type, external_id, dedup_key, time, received_at, body, raw
             FROM firsts WHERE id IN (SELECT event_id FROM claimed)
             ON CONFLICT DO NOTHING
             RETURNING id`,
      values: [JSON.stringify(rows), this.identityTtlMs],
    });
    return new Set(result.rows.map((row) => row.id));
  }
}

/**
 * The rows of a batch with its copies folded into their first: a row whose identity is that of an
 * earlier row of the batch (the lowest id, as the insert picks) is a copy of it when the first's
 * window holds it, and only adds its gateways to the first's row. This is what a multi-buy looks
 * like under load (the copies of an uplink arrive together), and it costs no statement. Rows out of
 * their first's window go to the insert, which finds their identity held, as before.
 */
interface FoldedBatch {
  /** What the insert is given: the firsts, with their copies' gateways, and the unfolded rows. */
  rows: EventRow[];
  /** By position in the batch, the position in `rows` of the row it was sent as or folded into. */
  sentAs: number[];
  folded: boolean[];
}

function foldCopies(batch: EventRow[]): FoldedBatch {
  const order = batch.map((_, n) => n).sort((a, b) => (batch[a].id < batch[b].id ? -1 : batch[a].id > batch[b].id ? 1 : a - b));
  const firstOfKey = new Map<string, number>();
  const rows: EventRow[] = [];
  const sentAs: number[] = new Array<number>(batch.length);
  const folded = batch.map(() => false);
  for (const n of order) {
    const row = batch[n];
    const key = `${row.connection_id}\u0000${row.dedup_key}`;
    const first = firstOfKey.get(key);
    if (first !== undefined && isCopyOf(row, rows[first])) {
      const into = rows[first];
      rows[first] = { ...into, body: { ...into.body, radio: mergeRadio(into.body.radio ?? null, row.body.radio ?? null) } };
      sentAs[n] = first;
      folded[n] = true;
      continue;
    }
    if (first === undefined) firstOfKey.set(key, rows.length);
    sentAs[n] = rows.length;
    rows.push(row);
  }
  return { rows, sentAs, folded };
}

/** The event_identities rule, for a row and the first of its batch: no window, or within it. */
function isCopyOf(row: EventRow, first: EventRow): boolean {
  return first.window_ms === null || Math.abs(row.time.getTime() - first.time.getTime()) <= first.window_ms;
}

function outcomeOf(batch: FoldedBatch, n: number, inserted: Set<string>): InsertOutcome {
  const sent = batch.rows[batch.sentAs[n]];
  if (!inserted.has(sent.id)) return { stored: 'held' };
  const radio = sent.body.radio ?? null;
  return batch.folded[n] ? { stored: 'copy', id: sent.id, radio } : { stored: 'new', radio };
}

/** SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation): the row, not the database. */
export function isRowError(error: unknown): boolean {
  return /^2[23]/.test((error as { code?: string })?.code ?? '');
}

export function isForeignKeyViolation(error: unknown): boolean {
  return (error as { code?: string })?.code === '23503';
}

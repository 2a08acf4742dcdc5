import type { Pool } from 'pg';
import { CoalescingBatcher, ItemFailure } from '../common/coalescing-batcher';
import type { EventRow, InsertOutcome } from './event-rows';
import { foldCopies, outcomeOf } from './batch-copy-fold';

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
            (inserted): InsertOutcome => (inserted.has(row.id) ? { stored: 'new', id: row.id, radio: row.body.radio ?? null } : { stored: 'held' }),
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

/** SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation): the row, not the database. */
export function isRowError(error: unknown): boolean {
  return /^2[23]/.test((error as { code?: string })?.code ?? '');
}

export function isForeignKeyViolation(error: unknown): boolean {
  return (error as { code?: string })?.code === '23503';
}

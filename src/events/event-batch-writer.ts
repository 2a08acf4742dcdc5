import type { Pool } from 'pg';
import { CoalescingBatcher, ItemFailure } from '../common/coalescing-batcher';

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
  body: object;
  raw: unknown;
}

/**
 * Inserts the events of concurrent requests together, in one statement (one round trip, one
 * commit) per batch; see CoalescingBatcher.
 */
export class EventBatchWriter {
  private readonly batcher = new CoalescingBatcher<EventRow, boolean>((rows) => this.insertBatch(rows));

  constructor(private readonly pool: Pool) {}

  /** Resolves once the row is committed: true if it was new, false if its dedup key was taken. */
  insert(row: EventRow): Promise<boolean> {
    return this.batcher.push(row);
  }

  private async insertBatch(rows: EventRow[]): Promise<Array<boolean | ItemFailure>> {
    try {
      const inserted = await this.insertMany(rows);
      return rows.map((row) => inserted.has(row.id));
    } catch (error) {
      // One row Postgres refuses (its device just deleted, a value it cannot store) must not fail
      // its neighbours, other requests' events: retry them alone.
      if (rows.length === 1 || !isRowError(error)) throw error;
      const results: Array<boolean | ItemFailure> = [];
      for (const row of rows) results.push(await this.insertMany([row]).then((inserted) => inserted.has(row.id), (failure: unknown) => new ItemFailure(failure)));
      return results;
    }
  }

  /**
   * The batch goes as one JSON document: pg would otherwise escape every JSON body into an array
   * literal, and Postgres parse it twice (the array, then each element).
   */
  private async insertMany(rows: EventRow[]): Promise<Set<string>> {
    const result = await this.pool.query<{ id: string }>({
      name: 'insert-events',
      text: `INSERT INTO events (id, connection_id, device_id, network, type, external_id, dedup_key, time, received_at, body, raw)
             SELECT id, connection_id, device_id, network, type, external_id, dedup_key, time, received_at, body, raw
             FROM jsonb_to_recordset($1::jsonb) AS batch(id uuid, connection_id text, device_id uuid, network text, type text,
                  external_id text, dedup_key text, time timestamptz, received_at timestamptz, body jsonb, raw jsonb)
             ON CONFLICT (connection_id, dedup_key) DO NOTHING
             RETURNING id`,
      values: [JSON.stringify(rows)],
    });
    return new Set(result.rows.map((row) => row.id));
  }
}

/** SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation): the row, not the database. */
function isRowError(error: unknown): boolean {
  return /^2[23]/.test((error as { code?: string })?.code ?? '');
}

export function isForeignKeyViolation(error: unknown): boolean {
  return (error as { code?: string })?.code === '23503';
}

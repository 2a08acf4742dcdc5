import type { Pool } from 'pg';

export interface EventRow {
  id: string;
  connectionId: string;
  deviceId: string;
  network: string;
  type: string;
  externalId: string;
  dedupKey: string;
  time: Date;
  receivedAt: Date;
  body: object;
  raw: unknown;
}

const MAX_BATCH = 500;

/**
 * Inserts the events of concurrent requests together: while one INSERT is in flight the next
 * rows gather, and go in one statement (one round trip, one commit) as soon as it returns.
 * A lone request is written at once, so batching adds no delay when the bridge is quiet.
 */
export class EventBatchWriter {
  private pending: Array<{ row: EventRow; resolve: (isNew: boolean) => void; reject: (error: unknown) => void }> = [];
  private flushing = false;

  constructor(private readonly pool: Pool) {}

  /** Resolves once the row is committed: true if it was new, false if its dedup key was taken. */
  insert(row: EventRow): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.pending.push({ row, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.pending.length) {
      const batch = this.pending.splice(0, MAX_BATCH);
      try {
        const inserted = await this.insertMany(batch.map((entry) => entry.row));
        for (const entry of batch) entry.resolve(inserted.has(entry.row.id));
      } catch (error) {
        // One row whose device was just deleted must not fail its neighbours: retry them alone.
        if (batch.length > 1 && isForeignKeyViolation(error)) await this.insertOneByOne(batch);
        else for (const entry of batch) entry.reject(error);
      }
    }
    this.flushing = false;
  }

  private async insertOneByOne(batch: typeof this.pending): Promise<void> {
    for (const entry of batch) {
      try {
        entry.resolve((await this.insertMany([entry.row])).has(entry.row.id));
      } catch (error) {
        entry.reject(error);
      }
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
      values: [JSON.stringify(rows.map(toRecord))],
    });
    return new Set(result.rows.map((row) => row.id));
  }
}

function toRecord(row: EventRow) {
  return {
    id: row.id,
    connection_id: row.connectionId,
    device_id: row.deviceId,
    network: row.network,
    type: row.type,
    external_id: row.externalId,
    dedup_key: row.dedupKey,
    time: row.time,
    received_at: row.receivedAt,
    body: row.body,
    raw: row.raw,
  };
}

export function isForeignKeyViolation(error: unknown): boolean {
  return (error as { code?: string })?.code === '23503';
}

import type { Pool, PoolClient } from 'pg';

/**
 * A client that stops reading keeps the transaction open, which holds back vacuum and retention:
 * Postgres ends the session after this long without a FETCH, and the export is cut short.
 */
const STALLED_CLIENT_TIMEOUT_MS = 5 * 60_000;
const ignore = () => undefined;

/**
 * A server-side cursor (DECLARE … FETCH in a read-only transaction, on a connection of its own):
 * Postgres keeps the position and the snapshot, the bridge holds one batch at a time, whatever
 * the number of rows. Each row is handed on as `toItem` makes it (an export's line).
 */
export class EventCursor<T> {
  private closed = false;

  private constructor(
    private readonly client: PoolClient,
    private readonly toItem: (row: never) => T,
  ) {}

  static async open<Row, T>(pool: Pool, query: string, values: unknown[], toItem: (row: Row) => T): Promise<EventCursor<T>> {
    const client = await pool.connect();
    // A session Postgres ends between two FETCHes is reported here; the next FETCH then fails.
    client.on('error', ignore);
    try {
      await client.query('BEGIN READ ONLY');
      await client.query(`SET LOCAL idle_in_transaction_session_timeout = ${STALLED_CLIENT_TIMEOUT_MS}`);
      await client.query({ text: `DECLARE event_export NO SCROLL CURSOR FOR ${query}`, values });
    } catch (error) {
      await client.query('ROLLBACK').catch(ignore);
      client.off('error', ignore);
      client.release();
      throw error;
    }
    return new EventCursor(client, toItem as (row: never) => T);
  }

  /** The next `count` rows; fewer (or none) at the end. */
  async next(count: number): Promise<T[]> {
    const { rows } = await this.client.query(`FETCH ${Math.trunc(count)} FROM event_export`);
    return rows.map((row) => this.toItem(row as never));
  }

  /** Ends the transaction and gives the connection back; safe to call more than once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.off('error', ignore);
    try {
      await this.client.query('ROLLBACK');
      this.client.release();
    } catch (error) {
      // A broken connection is not given back to the pool.
      this.client.release(error as Error);
    }
  }
}

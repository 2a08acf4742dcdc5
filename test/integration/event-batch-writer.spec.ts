import { Pool } from 'pg';
import { EventBatchWriter } from '../../src/events/event-batch-writer';
import { TEST_DATABASE_URL } from '../support/env';
import { heliumDeviceTable } from '../support/events-table';

describe('EventBatchWriter on the real events table', () => {
  const pool = new Pool({ connectionString: TEST_DATABASE_URL });
  const { connectionId, row } = heliumDeviceTable(pool, 'writer');

  it('stores the rows of a batch that one row Postgres refuses would have failed, and fails only that one', async () => {
    const writer = new EventBatchWriter(pool, 3600_000);
    // The first insert runs alone; the next ones gather into one batch behind it.
    const outcomes = await Promise.allSettled([
      writer.insert(row('first')),
      writer.insert(row('good-1')),
      writer.insert(row('year-0', new Date('0000-06-01T00:00:00Z'))), // a valid JavaScript date, not a Postgres one
      writer.insert(row('good-2')),
      writer.insert(row('first')),
    ]);
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as { code: string }).code))).toEqual([true, true, '22008', true, false]);
    const { rows } = await pool.query('SELECT dedup_key FROM events WHERE connection_id = $1 ORDER BY dedup_key', [connectionId]);
    expect(rows.map((r) => r.dedup_key)).toEqual(['first', 'good-1', 'good-2']);
  });

  it('answers new to only one of two rows with the same id in a batch (a store that timed out, and its journal replay)', async () => {
    const writer = new EventBatchWriter(pool, 3600_000);
    const replayed = row('replayed-in-batch');
    // The first insert runs alone; the store and its replay gather into one batch behind it.
    const outcomes = await Promise.all([writer.insert(row('ahead')), writer.insert(replayed), writer.insert({ ...replayed })]);
    expect(outcomes).toEqual([true, true, false]);
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM events WHERE id = $1', [replayed.id]);
    expect(rows[0].n).toBe(1);
  });
});

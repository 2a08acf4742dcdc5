import { Pool } from 'pg';
import { EventBatchWriter } from '../../src/events/event-batch-writer';
import { EventStore } from '../../src/events/event-store.service';
import { Uplink } from '../../src/events/normalized-event';
import { TEST_DATABASE_URL } from '../support/env';
import { heliumDeviceTable } from '../support/events-table';

const uplink = (decoded: unknown): Uplink => ({ port: 1, fcnt: 7, confirmed: false, payloadHex: '01', payloadBase64: 'AQ==', decoded, decodeErrors: [], decodeWarnings: [] });

describe('EventStore: the published mark, with the uplinks decoded in the fan-out', () => {
  const pool = new Pool({ connectionString: TEST_DATABASE_URL });
  const table = heliumDeviceTable(pool, 'marks');
  const stored = async (id: string) => (await pool.query(`SELECT body->'uplink' AS uplink, published_at FROM events WHERE id = $1`, [id])).rows[0];

  it('stores the uplink given with each event, leaves the others as they are, and marks only events not yet published', async () => {
    const writer = new EventBatchWriter(pool, 0);
    const time = new Date();
    const [decoded, plain, published] = ['decoded', 'plain', 'published'].map((key) => table.row(key, time, { uplink: uplink(null) }));
    for (const row of [decoded, plain, published]) expect((await writer.insert(row)).stored).toBe('new');
    const earlier = new Date('2026-01-01T00:00:00.000Z');
    await pool.query('UPDATE events SET published_at = $2 WHERE id = $1', [published.id, earlier]);

    await table.app().get(EventStore).markPublished([
      { id: decoded.id, time: time.toISOString(), uplink: uplink({ temperature: 21.5 }) },
      { id: plain.id, time: time.toISOString() },
      { id: published.id, time: time.toISOString(), uplink: uplink({ temperature: 99 }) },
    ]);

    const [afterDecoded, afterPlain, afterPublished] = await Promise.all([decoded, plain, published].map((row) => stored(row.id)));
    expect(afterDecoded.uplink).toEqual(uplink({ temperature: 21.5 }));
    expect(afterDecoded.published_at).not.toBeNull();
    expect(afterPlain.uplink).toEqual(uplink(null));
    expect(afterPlain.published_at).not.toBeNull();
    // Published before (a job run twice): neither marked again nor rewritten.
    expect(afterPublished).toEqual({ uplink: uplink(null), published_at: earlier });
  });

  it('rewrites uplinks without marking the events published', async () => {
    const writer = new EventBatchWriter(pool, 0);
    const time = new Date();
    const row = table.row('rewritten', time, { uplink: uplink(null) });
    await writer.insert(row);
    await table.app().get(EventStore).rewriteUplinks([{ id: row.id, time: time.toISOString(), uplink: uplink([1, 2]) }]);
    expect(await stored(row.id)).toEqual({ uplink: uplink([1, 2]), published_at: null });
  });

  it('stores body and raw with lz4 compression where Postgres has it, in every events partition and in new ones', async () => {
    const lz4 = (await pool.query(`SELECT 'lz4' = ANY(enumvals) AS has FROM pg_settings WHERE name = 'default_toast_compression'`)).rows[0].has as boolean;
    // A new week, in a transaction rolled back: other specs count the partitions.
    const client = await pool.connect();
    let rows: Array<{ attcompression: string }>;
    try {
      await client.query('BEGIN');
      await client.query(`SELECT create_week_partition('events', 'time', now() + interval '40 weeks')`);
      ({ rows } = await client.query(`SELECT a.attcompression FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        WHERE a.attname IN ('body', 'raw') AND (c.oid = 'events'::regclass OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'events'::regclass))`));
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
    expect(rows.length).toBeGreaterThanOrEqual(2 * 7);
    expect(new Set(rows.map((row) => row.attcompression))).toEqual(new Set([lz4 ? 'l' : '']));
  });
});

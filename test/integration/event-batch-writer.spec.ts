import { Pool } from 'pg';
import { EventBatchWriter } from '../../src/events/event-batch-writer';
import { Gateway, Radio } from '../../src/events/normalized-event';
import { radioWithGateways } from '../../src/events/radio';
import { TEST_DATABASE_URL } from '../support/env';
import { heliumDeviceTable } from '../support/events-table';

const gateway = (id: string): Gateway => ({ id, name: null, rssi: id === 'best' ? -50 : -100, snr: 1, location: null });
const radioOf = (...ids: string[]): Radio => radioWithGateways({ frequencyHz: 868_100_000, dataRate: 'SF7BW125', spreadingFactor: 7, bandwidthHz: 125_000 }, ids.map(gateway));

describe('EventBatchWriter on the real events table', () => {
  const pool = new Pool({ connectionString: TEST_DATABASE_URL });
  const { connectionId, row } = heliumDeviceTable(pool, 'writer');
  const storedRadio = async (id: string): Promise<Radio> => (await pool.query(`SELECT body->'radio' AS radio FROM events WHERE id = $1`, [id])).rows[0].radio;
  const time = new Date('2026-11-30T12:00:00.000Z');
  /** A Helium-like row: a copy only within 10 s of its first. */
  const windowed = (dedupKey: string, at: Date, ...gateways: string[]) => ({ ...row(dedupKey, at, { radio: radioOf(...gateways) }), window_ms: 10_000 });

  it('folds the copies in a batch into their first: one row stored with every gateway, the copies answered with it', async () => {
    const writer = new EventBatchWriter(pool, 3600_000);
    const first = windowed('folded', time, 'a');
    // The first insert runs alone; the rest gather into one batch behind it.
    const [ahead, ...outcomes] = await Promise.all([
      writer.insert(row('ahead-of-fold')),
      writer.insert(first),
      writer.insert(windowed('folded', new Date(time.getTime() + 2000), 'b', 'a')),
      writer.insert(windowed('folded', new Date(time.getTime() - 3000), 'best')),
      writer.insert(windowed('folded', new Date(time.getTime() + 60_000), 'later')), // out of the window: a new transmission
    ]);
    expect(ahead.stored).toBe('new');
    expect(outcomes.map((o) => o.stored)).toEqual(['new', 'copy', 'copy', 'held']);
    expect(outcomes[1]).toMatchObject({ id: first.id });
    const stored = await storedRadio(first.id);
    expect(stored.gateways.map((g) => g.id)).toEqual(['a', 'b', 'best']);
    expect(stored.rssi).toBe(-50);
    // Every answer carries the radio as stored (the device state records it; fan-out publishes it).
    for (const outcome of outcomes.slice(0, 3)) expect(outcome).toMatchObject({ radio: stored });
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM events WHERE connection_id = $1 AND dedup_key = $2', [connectionId, 'folded']);
    expect(rows[0].n).toBe(1);
  });

  it('answers held to the copies in a batch of an event stored before: the merger adds them to it', async () => {
    const writer = new EventBatchWriter(pool, 3600_000);
    const stored = row('stored-before', time, { radio: radioOf('a') });
    expect((await writer.insert(stored)).stored).toBe('new');
    const outcomes = await Promise.all([writer.insert(row('ahead-of-held')), writer.insert(row('stored-before', time, { radio: radioOf('b') })), writer.insert(row('stored-before', time, { radio: radioOf('c') }))]);
    expect(outcomes.map((o) => o.stored)).toEqual(['new', 'held', 'held']);
    expect((await storedRadio(stored.id)).gateways.map((g) => g.id)).toEqual(['a']);
  });

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
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value.stored : (o.reason as { code: string }).code))).toEqual(['new', 'new', '22008', 'new', 'held']);
    const { rows } = await pool.query(`SELECT dedup_key FROM events WHERE connection_id = $1 AND dedup_key IN ('first', 'good-1', 'year-0', 'good-2') ORDER BY dedup_key`, [connectionId]);
    expect(rows.map((r) => r.dedup_key)).toEqual(['first', 'good-1', 'good-2']);
  });

  it('answers new to only one of two rows with the same id in a batch (a store that timed out, and its journal replay)', async () => {
    const writer = new EventBatchWriter(pool, 3600_000);
    const replayed = row('replayed-in-batch');
    // The first insert runs alone; the store and its replay gather into one batch behind it.
    const outcomes = await Promise.all([writer.insert(row('ahead')), writer.insert(replayed), writer.insert({ ...replayed })]);
    expect(outcomes.map((o) => o.stored)).toEqual(['new', 'new', 'copy']);
    expect(outcomes[2]).toMatchObject({ id: replayed.id });
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM events WHERE id = $1', [replayed.id]);
    expect(rows[0].n).toBe(1);
  });
});

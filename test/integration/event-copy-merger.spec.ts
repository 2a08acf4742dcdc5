import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import { EventBatchWriter } from '../../src/events/event-batch-writer';
import { EventCopy, EventCopyMerger } from '../../src/events/event-copy-merger';
import { Gateway, Radio } from '../../src/events/normalized-event';
import { radioWithGateways } from '../../src/events/radio';
import heliumUplink from '../fixtures/helium-uplink.json';
import { TestBridge } from '../support/bridge';
import { TEST_DATABASE_URL } from '../support/env';
import { heliumDeviceTable } from '../support/events-table';
import { MqttCollector, sleep } from '../support/mqtt-collector';

type Json = Record<string, any>;

/** A pool that counts the statements it is given, by name. */
function countingPool(): Pool & { statements: Record<string, number> } {
  const pool = new Pool({ connectionString: TEST_DATABASE_URL }) as Pool & { statements: Record<string, number> };
  pool.statements = {};
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  (pool as { query: unknown }).query = (config: { name?: string }, ...rest: unknown[]) => {
    const name = config.name ?? 'unnamed';
    pool.statements[name] = (pool.statements[name] ?? 0) + 1;
    return query(config, ...rest);
  };
  return pool;
}

const gateway = (id: string): Gateway => ({ id, name: null, rssi: -100, snr: 1, location: null });
const radioOf = (...ids: string[]): Radio => radioWithGateways({ frequencyHz: 868_100_000, dataRate: 'SF7BW125', spreadingFactor: 7, bandwidthHz: 125_000 }, ids.map(gateway));

describe('EventCopyMerger on the real events table', () => {
  const pool = countingPool();
  const { connectionId, row } = heliumDeviceTable(pool, 'merger');

  const time = new Date('2026-11-30T12:00:00.000Z');
  /** Stores the first of an identity, with one gateway. */
  const first = async (dedupKey: string): Promise<string> => {
    const stored = row(dedupKey, time, { radio: radioOf('first') });
    expect((await new EventBatchWriter(pool, 3600_000).insert(stored)).stored).toBe('new');
    return stored.id;
  };
  const copy = (dedupKey: string, gatewayId: string): EventCopy => ({ connectionId, dedupKey, time: time.toISOString(), radio: radioOf(gatewayId) });
  const storedGateways = async (id: string) => {
    const { rows } = await pool.query(`SELECT body->'radio' AS radio FROM events WHERE id = $1`, [id]);
    return (rows[0].radio as Radio).gateways.map((g) => g.id).sort();
  };

  it('merges the concurrent copies of requests together: one read and one write per batch, every gateway kept', async () => {
    const id = await first('many');
    const merger = new EventCopyMerger(pool);
    pool.statements = {};
    const gateways = Array.from({ length: 30 }, (_, i) => `g${String(i).padStart(2, '0')}`);
    // The first copy runs alone; the 29 others gather into one batch behind it.
    const merged = await Promise.all(gateways.map((g) => merger.merge(copy('many', g))));
    expect(pool.statements).toEqual({ 'read-copy-holders': 2, 'merge-copies-radio': 2 });
    expect(merged.every((m) => m?.id === id)).toBe(true);
    expect(await storedGateways(id)).toEqual(['first', ...gateways].sort());
    // Each copy's answer carries the merged radio (the device state records it).
    expect(merged[29]!.radio!.gateways).toHaveLength(31);
  });

  it('counts the copies that two processes merge into one event at the same time', async () => {
    const id = await first('two-processes');
    const [a, b] = [new EventCopyMerger(pool), new EventCopyMerger(pool)];
    const gateways = Array.from({ length: 20 }, (_, i) => `p${String(i).padStart(2, '0')}`);
    await Promise.all(gateways.map((g, i) => (i % 2 ? a : b).merge(copy('two-processes', g))));
    expect(await storedGateways(id)).toEqual(['first', ...gateways].sort());
  });

  it('answers null for a copy whose identity expired or is unknown, and merges the others of its batch', async () => {
    const live = await first('live');
    const expired = await first('expired');
    await pool.query(`UPDATE event_identities SET expires_at = now() - interval '1 second' WHERE event_id = $1`, [expired]);
    const merger = new EventCopyMerger(pool);
    const [alone, ...batch] = await Promise.all([merger.merge(copy('live', 'x')), merger.merge(copy('expired', 'y')), merger.merge(copy('unknown', 'z')), merger.merge(copy('live', 'w'))]);
    expect(alone?.id).toBe(live);
    expect(batch.map((m) => m?.id ?? null)).toEqual([null, null, live]);
    expect(await storedGateways(live)).toEqual(['first', 'w', 'x']);
    expect(await storedGateways(expired)).toEqual(['first']);
  });
});

describe('many concurrent multi-buy copies over HTTP', () => {
  let bridge: TestBridge;
  let mqtt: MqttCollector;
  const db = new Pool({ connectionString: TEST_DATABASE_URL });
  const connectionId = `copies-${randomBytes(3).toString('hex')}`;
  let token: string;

  beforeAll(async () => {
    bridge = await TestBridge.start({ DEDUP_WINDOW_MS: '300' });
    mqtt = await MqttCollector.subscribe(`${bridge.topicPrefix}/#`);
    token = (await bridge.createConnection({ id: connectionId, network: 'helium' })).ingestToken;
  });

  afterAll(async () => {
    await db.end();
    await mqtt.close();
    await bridge.stop();
  });

  it('stores 40 copies of one uplink as one event with every hotspot, answered with its id, published once', async () => {
    const hotspots = Array.from({ length: 40 }, (_, i) => `hotspot-${String(i).padStart(2, '0')}`);
    const answers = await Promise.all(
      hotspots.map(async (id) => {
        const response = await bridge.post(`/ingest/helium/${connectionId}`, { ...heliumUplink, fcnt: 60001, hotspots: [{ ...heliumUplink.hotspots[0], id }] }, { 'x-bridge-token': token });
        expect(response.status).toBe(200);
        return (await response.json()) as { id: string; duplicate: boolean };
      }),
    );
    expect(new Set(answers.map((a) => a.id)).size).toBe(1);
    expect(answers.filter((a) => !a.duplicate)).toHaveLength(1);
    const { rows } = await db.query(`SELECT body->'radio' AS radio FROM events WHERE connection_id = $1`, [connectionId]);
    expect(rows).toHaveLength(1);
    expect((rows[0].radio as Radio).gateways.map((g) => g.id).sort()).toEqual(hotspots);
    const topic = `${bridge.topicPrefix}/helium/008000000401261D/event/up`;
    await mqtt.waitFor(() => mqtt.on(topic).length > 0);
    await sleep(400);
    expect(mqtt.on(topic).filter((m) => (m.payload.uplink as Json).fcnt === 60001)).toHaveLength(1);
  });
});

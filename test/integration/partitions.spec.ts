import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import heliumUplink from '../fixtures/helium-uplink.json';
import { EventPartitions } from '../../src/events/event-partitions.service';
import { TestBridge } from '../support/bridge';
import { TEST_DATABASE_URL } from '../support/env';
import { eventually, MqttCollector } from '../support/mqtt-collector';
import { Json, randomEui } from '../support/networks';

const DAY_MS = 86_400_000;

/** YYYYMMDD of the Monday (UTC) of the week holding `at`. */
function monday(at: number): string {
  const day = new Date(at);
  day.setUTCHours(0, 0, 0, 0);
  day.setUTCDate(day.getUTCDate() - ((day.getUTCDay() + 6) % 7));
  return day.toISOString().slice(0, 10).replace(/-/g, '');
}

describe('events partitioned by week, with retention', () => {
  let bridge: TestBridge;
  let mqtt: MqttCollector;
  const db = new Client({ connectionString: TEST_DATABASE_URL });
  const connectionId = `helium-part-${randomBytes(3).toString('hex')}`;
  let token: string;

  beforeAll(async () => {
    bridge = await TestBridge.start({ EVENTS_RETENTION_DAYS: '30', DEDUP_WINDOW_MS: '0' });
    mqtt = await MqttCollector.subscribe(`${bridge.topicPrefix}/#`);
    token = (await bridge.createConnection({ id: connectionId, network: 'helium' })).ingestToken;
    await db.connect();
  });

  afterAll(async () => {
    await db.end();
    await mqtt.close();
    await bridge.stop();
  });

  const uplink = async (devEui: string, reportedAt: number, hotspot = 'hs-1') => {
    const body = { ...heliumUplink, dev_eui: devEui, reported_at: reportedAt, hotspots: [{ ...heliumUplink.hotspots[0], id: hotspot, reported_at: reportedAt }] };
    const response = await bridge.post(`/ingest/helium/${connectionId}`, body, { 'x-bridge-token': token });
    expect(response.status).toBe(200);
    return ((await response.json()) as { id: string }).id;
  };
  const history = async (devEui: string): Promise<Json[]> =>
    (await (await bridge.api('GET', `/api/events?connectionId=${connectionId}&externalId=${devEui}`)).json()).data;
  const partitionsOf = async (table: string): Promise<string[]> =>
    (await db.query(`SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass`, [table])).rows.map((r) => r.relname);
  const eventuallyPublished = (id: string) =>
    eventually('the event marked published', async () => (await db.query('SELECT published_at FROM events WHERE id = $1', [id])).rows[0]?.published_at, (at) => Boolean(at));
  const rowsOf = async (id: string) => (await db.query('SELECT tableoid::regclass::text AS partition FROM events WHERE id = $1', [id])).rows;

  it('partitions events and webhook deliveries by week, with a default partition and the coming weeks created', async () => {
    const { rows } = await db.query(`SELECT c.relname, p.partstrat FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid ORDER BY 1`);
    expect(rows).toEqual(expect.arrayContaining([{ relname: 'events', partstrat: 'r' }, { relname: 'webhook_deliveries', partstrat: 'r' }]));
    await eventually('a maintenance round', () => bridge.app.get(EventPartitions).maintain(), (report) => report !== null);
    const now = Date.now();
    for (const table of ['events', 'webhook_deliveries']) {
      const partitions = await partitionsOf(table);
      expect(partitions).toContain(`${table}_default`);
      for (let week = 0; week <= 4; week++) expect(partitions).toContain(`${table}_w${monday(now + week * 7 * DAY_MS)}`);
    }
    // Each week partition carries the indexes of history, the outbox and identity lookups.
    const { rows: indexes } = await db.query(`SELECT indexdef FROM pg_indexes WHERE tablename = $1 ORDER BY 1`, [`events_w${monday(now)}`]);
    expect(indexes.map((i) => i.indexdef.replace(/^.* USING /, '')).sort()).toEqual(['btree (device_id, id DESC)', 'btree (id, "time")', 'btree (received_at) WHERE (published_at IS NULL)']);
  });

  it('lets one instance at a time maintain partitions: the others skip the round', async () => {
    const partitions = bridge.app.get(EventPartitions);
    // The round the worker runs at start may still be going.
    await eventually('a maintenance round of its own', () => partitions.maintain(), (report) => report !== null);
    const lastWeek = `events_w${monday(Date.now() + 4 * 7 * DAY_MS)}`;
    await db.query(`DROP TABLE "${lastWeek}"`);
    const other = await TestBridge.start({ BRIDGE_ROLE: 'api' });
    try {
      const reports = await Promise.all([partitions.maintain(), other.app.get(EventPartitions).maintain()]);
      expect(reports.filter((report) => report === null)).toHaveLength(1);
      expect(reports.find((report) => report !== null)?.created).toEqual([lastWeek]);
      expect(await partitionsOf('events')).toContain(lastWeek);
    } finally {
      await other.stop();
    }
  });

  it('merges a copy into its event across a week boundary', async () => {
    const devEui = randomEui();
    // The last millisecond of this week (both weeks' partitions exist).
    const lastMsOfWeek = Date.parse(`${monday(Date.now() + 7 * DAY_MS).replace(/(\d{4})(\d{2})(\d{2})/, '$1-$2-$3')}T00:00:00.000Z`) - 1;
    const id = await uplink(devEui, lastMsOfWeek, 'hs-a');
    // A multi-buy copy reported 2 ms later, in the next week's partition.
    expect(await uplink(devEui, lastMsOfWeek + 2, 'hs-b')).toBe(id);
    expect(await rowsOf(id)).toEqual([{ partition: `events_w${monday(lastMsOfWeek)}` }]);
    const [event] = await history(devEui);
    expect(event.radio.gateways.map((g: Json) => g.id)).toEqual(['hs-a', 'hs-b']);
  });

  it('drops a week older than the retention and keeps a recent one; history never shows what is older', async () => {
    const oldTime = Date.now() - 60 * DAY_MS;
    const oldWeek = `events_w${monday(oldTime)}`;
    // The week the worker created back then.
    await db.query(`SELECT create_week_partition('events', 'time', $1), create_week_partition('webhook_deliveries', 'event_time', $1)`, [new Date(oldTime)]);
    const devEui = randomEui();
    const oldId = await uplink(devEui, oldTime);
    const recentId = await uplink(devEui, Date.now() - DAY_MS);
    expect(await rowsOf(oldId)).toEqual([{ partition: oldWeek }]);
    expect((await history(devEui)).map((e) => e.id)).toEqual([recentId]);
    await eventuallyPublished(oldId);

    const report = await bridge.app.get(EventPartitions).maintain();
    expect(report?.dropped).toEqual(expect.arrayContaining([oldWeek, `webhook_deliveries_w${monday(oldTime)}`]));
    expect(await partitionsOf('events')).not.toContain(oldWeek);
    expect(await partitionsOf('events')).toContain(`events_w${monday(Date.now() - DAY_MS)}`);
    expect(await rowsOf(oldId)).toEqual([]);
    expect(await rowsOf(recentId)).toHaveLength(1);
  });

  it('keeps an old week while fan-out still owes one of its events', async () => {
    // The worker's own round at start must not drop the week while it is still empty.
    await eventually('a maintenance round of our own', () => bridge.app.get(EventPartitions).maintain(), (report) => report !== null);
    const oldTime = Date.now() - 90 * DAY_MS;
    const oldWeek = `events_w${monday(oldTime)}`;
    await db.query(`SELECT create_week_partition('events', 'time', $1), create_week_partition('webhook_deliveries', 'event_time', $1)`, [new Date(oldTime)]);
    const oldId = await uplink(randomEui(), oldTime);
    await eventuallyPublished(oldId);
    // As if the broker had been down since: the sweeper would publish it on its next rounds.
    await db.query('UPDATE events SET published_at = NULL WHERE id = $1', [oldId]);

    const report = await bridge.app.get(EventPartitions).maintain();
    expect(report?.dropped).not.toContain(oldWeek);
    expect(await rowsOf(oldId)).toEqual([{ partition: oldWeek }]);
  });

  it('publishes an event that arrives older than the retention, and does not keep it', async () => {
    const devEui = randomEui();
    const id = await uplink(devEui, Date.now() - 400 * DAY_MS);
    await mqtt.waitFor((messages) => messages.some((m) => m.payload.id === id));
    expect(await history(devEui)).toEqual([]);
    const exported = await (await bridge.api('GET', `/api/events/export?connectionId=${connectionId}&externalId=${devEui}`)).text();
    expect(exported).toBe('');
    // Once published, the next maintenance round removes it from the default partition.
    await bridge.app.get(EventPartitions).maintain();
    expect(await rowsOf(id)).toEqual([]);
  });
});

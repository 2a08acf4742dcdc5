import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { Client } from 'pg';
import heliumUplink from '../fixtures/helium-uplink.json';
import { TestBridge } from '../support/bridge';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../support/env';
import { MqttCollector, sleep } from '../support/mqtt-collector';

const hotspot = (id: string, rssi: number) => ({ ...heliumUplink.hotspots[0], id, name: id, rssi });

/**
 * A process with both roles publishes what it stored itself: no fan-out job in Redis, and no read
 * back when nothing waits for a dedup window.
 */
describe('fan-out in a process with both roles', () => {
  const db = new Client({ connectionString: TEST_DATABASE_URL });
  const redis = new Redis(TEST_REDIS_URL);
  const running: Array<{ bridge: TestBridge; mqtt: MqttCollector }> = [];

  const start = async (overrides: Record<string, string>) => {
    const bridge = await TestBridge.start(overrides);
    const mqtt = await MqttCollector.subscribe(`${bridge.topicPrefix}/#`);
    running.push({ bridge, mqtt });
    const connectionId = `helium-${randomBytes(3).toString('hex')}`;
    const { ingestToken } = await bridge.createConnection({ id: connectionId, network: 'helium' });
    const ingest = (body: unknown) => bridge.post(`/ingest/helium/${connectionId}`, body, { 'x-bridge-token': ingestToken });
    // BullMQ logs every job it adds to the queue's event stream. A job's id is its first event's:
    // jobs the sweeper adds for events other test files left unpublished are not counted.
    const fanoutJobsAdded = async (eventIds: string[]) => {
      const entries = await redis.xrange(`${bridge.settings.REDIS_PREFIX}:fanout:events`, '-', '+');
      return entries.filter(([, fields]) => fields[0] === 'event' && fields[1] === 'added' && fields[2] === 'jobId' && eventIds.includes(fields[3])).length;
    };
    return { bridge, mqtt, connectionId, ingest, fanoutJobsAdded, topic: `${bridge.topicPrefix}/helium/008000000401261D/event/up` };
  };

  beforeAll(() => db.connect());

  afterAll(async () => {
    for (const { bridge, mqtt } of running) {
      await mqtt.close();
      await bridge.stop();
    }
    await db.end();
    redis.disconnect();
  });

  it('publishes an uplink without a dedup window from memory, exactly as stored, and marks it published', async () => {
    const { bridge, mqtt, connectionId, ingest, fanoutJobsAdded, topic } = await start({ DEDUP_WINDOW_MS: '0' });
    const response = await ingest({ ...heliumUplink, fcnt: 7001 });
    expect(response.status).toBe(200);
    const { id } = (await response.json()) as { id: string };
    await mqtt.waitFor(() => mqtt.on(topic).length === 1);

    const published = mqtt.on(topic)[0].payload;
    const page = (await (await bridge.api('GET', `/api/events?connectionId=${connectionId}`)).json()) as { data: Array<Record<string, unknown>> };
    const { raw: _raw, ...storedWithoutRaw } = page.data[0];
    expect(published).toEqual(storedWithoutRaw);
    expect(published.id).toBe(id);
    await waitUntilPublished(db, id);
    expect(await fanoutJobsAdded([id])).toBe(0);
  });

  it('keeps the dedup window: copies within it are merged before the one publication', async () => {
    const { mqtt, ingest, fanoutJobsAdded, topic } = await start({ DEDUP_WINDOW_MS: '400' });
    const first = { ...heliumUplink, fcnt: 7002, hotspots: [hotspot('hotspot-a', -90)] };
    const response = await ingest(first);
    expect(response.status).toBe(200);
    const { id } = (await response.json()) as { id: string };
    expect((await ingest({ ...first, hotspots: [hotspot('hotspot-b', -70)] })).status).toBe(200);
    await mqtt.waitFor(() => mqtt.on(topic).length === 1);
    await sleep(500);

    expect(mqtt.on(topic)).toHaveLength(1);
    const radio = mqtt.on(topic)[0].payload.radio as { rssi: number; gateways: Array<{ id: string }> };
    expect(radio.gateways.map((g) => g.id).sort()).toEqual(['hotspot-a', 'hotspot-b']);
    expect(radio.rssi).toBe(-70);
    expect(await fanoutJobsAdded([id])).toBe(0);
  });

  it('holds at most FANOUT_WAITING_MAX uplinks through the window in memory; the others wait in the queue, merged and published all the same', async () => {
    const { bridge, mqtt, ingest, fanoutJobsAdded, topic } = await start({ DEDUP_WINDOW_MS: '3000', FANOUT_WAITING_MAX: '2' });
    const uplinks = [7101, 7102, 7103, 7104, 7105].map((fcnt) => ({ ...heliumUplink, fcnt, hotspots: [hotspot('hotspot-a', -90)] }));
    const ids: string[] = [];
    for (const uplink of uplinks) {
      const response = await ingest(uplink);
      expect(response.status).toBe(200);
      ids.push(((await response.json()) as { id: string }).id);
    }
    // A copy of one that waits in the queue: merged before it is published.
    expect((await ingest({ ...uplinks[4], hotspots: [hotspot('hotspot-b', -70)] })).status).toBe(200);
    expect(await metric(bridge, 'lpwan_fanout_waiting')).toBe(2);
    expect(await metric(bridge, 'lpwan_fanout_waiting_overflow_total')).toBe(3);
    // The last three: each its own job, delayed by the window.
    expect(await fanoutJobsAdded(ids.slice(2))).toBe(3);

    await mqtt.waitFor(() => mqtt.on(topic).length === 5);
    const published = mqtt.on(topic).map((m) => m.payload as { uplink: { fcnt: number }; radio: { gateways: Array<{ id: string }> } });
    expect(published.map((p) => p.uplink.fcnt).sort()).toEqual([7101, 7102, 7103, 7104, 7105]);
    expect(published.find((p) => p.uplink.fcnt === 7105)!.radio.gateways.map((g) => g.id).sort()).toEqual(['hotspot-a', 'hotspot-b']);
    expect(await metric(bridge, 'lpwan_fanout_waiting')).toBe(0);
  });
});

async function metric(bridge: TestBridge, name: string): Promise<number> {
  const text = await (await fetch(`${bridge.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1] ?? NaN);
}

async function waitUntilPublished(db: Client, id: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { rows } = await db.query<{ published_at: Date | null }>('SELECT published_at FROM events WHERE id = $1', [id]);
    if (rows[0]?.published_at) return;
    if (Date.now() > deadline) throw new Error(`event ${id} was published on MQTT but never marked published`);
    await sleep(50);
  }
}

import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import heliumUplink from '../fixtures/helium-uplink.json';
import { applicationUp, uplinkEvent } from '../fakes/fake-tts';
import { uuid7 } from '../../src/common/uuid7';
import { ConnectionsService, OpenConnection } from '../../src/connections/connections.service';
import { EventStore } from '../../src/events/event-store.service';
import { IncomingEvent } from '../../src/events/normalized-event';
import { TestBridge } from '../support/bridge';
import { TEST_DATABASE_URL } from '../support/env';
import { MqttCollector, sleep } from '../support/mqtt-collector';

type Json = Record<string, any>;

/**
 * SPEC §4 Identity: copies of one transmission are one event (gateways merged, published once); a
 * later transmission that repeats the values is a new event; no identity holds for ever.
 */
describe('event identity', () => {
  let bridge: TestBridge;
  let mqtt: MqttCollector;
  const db = new Pool({ connectionString: TEST_DATABASE_URL });
  const suffix = randomBytes(3).toString('hex');
  const ids = { helium: `id-helium-${suffix}`, tts: `id-tts-${suffix}`, sigfox: `id-sigfox-${suffix}` };
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    bridge = await TestBridge.start({ DEDUP_WINDOW_MS: '100' });
    mqtt = await MqttCollector.subscribe(`${bridge.topicPrefix}/#`);
    tokens.helium = (await bridge.createConnection({ id: ids.helium, network: 'helium' })).ingestToken;
    tokens.tts = (await bridge.createConnection({ id: ids.tts, network: 'tts', settings: { baseUrl: 'http://127.0.0.1:9', applicationId: 'identity' } })).ingestToken;
    tokens.sigfox = (await bridge.createConnection({ id: ids.sigfox, network: 'sigfox' })).ingestToken;
  });

  afterAll(async () => {
    await db.end();
    await mqtt.close();
    await bridge.stop();
  });

  const ingest = async (network: keyof typeof ids, body: Json, path = '') => {
    const response = await bridge.post(`/ingest/${network}/${ids[network]}${path}`, body, { 'x-bridge-token': tokens[network] });
    expect(response.status).toBe(200);
    return (await response.json()) as { id: string; duplicate: boolean };
  };
  const uplinks = async (network: keyof typeof ids, fcnt: number): Promise<Json[]> => {
    const { data } = await (await bridge.api('GET', `/api/events?connectionId=${ids[network]}&type=uplink&limit=1000`)).json();
    return data.filter((event: Json) => event.uplink.fcnt === fcnt);
  };
  const published = (network: string, externalId: string, fcnt: number) =>
    mqtt.on(`${bridge.topicPrefix}/${network}/${externalId}/event/up`).filter((m) => (m.payload.uplink as { fcnt: number }).fcnt === fcnt);

  describe('Helium: DevEUI, address, counter and payload within minutes of reported_at', () => {
    const at = (iso: string, fcnt: number, hotspot = 'hotspot-a') => ({
      ...heliumUplink,
      fcnt,
      reported_at: Date.parse(iso),
      hotspots: [{ ...heliumUplink.hotspots[0], id: hotspot }],
    });

    it('merges multi-buy copies seconds apart into one event with both hotspots, published once', async () => {
      const first = await ingest('helium', at('2026-11-30T12:00:00.000Z', 50001, 'hotspot-a'));
      const copy = await ingest('helium', at('2026-11-30T12:00:03.000Z', 50001, 'hotspot-b'));
      expect(copy).toEqual({ id: first.id, duplicate: true });
      const stored = await uplinks('helium', 50001);
      expect(stored).toHaveLength(1);
      expect(stored[0].radio.gateways.map((g: Json) => g.id).sort()).toEqual(['hotspot-a', 'hotspot-b']);
      await mqtt.waitFor(() => published('helium', '008000000401261D', 50001).length > 0);
      await sleep(400);
      expect(published('helium', '008000000401261D', 50001)).toHaveLength(1);
    });

    it('merges copies on either side of a round five minutes (no bucket edge splits them)', async () => {
      const first = await ingest('helium', at('2026-11-30T12:04:59.900Z', 50002, 'hotspot-a'));
      const copy = await ingest('helium', at('2026-11-30T12:05:00.100Z', 50002, 'hotspot-b'));
      expect(copy).toEqual({ id: first.id, duplicate: true });
      // A copy whose reported_at is a little earlier than the first's merges too.
      expect(await ingest('helium', at('2026-11-30T12:04:58.000Z', 50002, 'hotspot-c'))).toEqual({ id: first.id, duplicate: true });
      expect(await uplinks('helium', 50002)).toHaveLength(1);
    });

    it('stores the same values a day later (a rejoin, reset counters) as a new event, published too', async () => {
      const first = await ingest('helium', at('2026-11-29T08:00:00.000Z', 50003));
      const later = await ingest('helium', at('2026-11-30T08:00:00.000Z', 50003));
      expect(later.duplicate).toBe(false);
      expect(later.id).not.toBe(first.id);
      expect((await uplinks('helium', 50003)).map((e) => e.id).sort()).toEqual([first.id, later.id].sort());
      await mqtt.waitFor(() => published('helium', '008000000401261D', 50003).length === 2);
      // And a multi-buy copy of the later one merges into the later one.
      expect(await ingest('helium', at('2026-11-30T08:00:01.000Z', 50003, 'hotspot-b'))).toEqual({ id: later.id, duplicate: true });
    });
  });

  describe('TTS: the as:up correlation id', () => {
    const devEui = `70B3D57ED1${randomBytes(3).toString('hex').toUpperCase()}`;
    const uplink = (fCnt: number, correlationIds?: string[]) =>
      uplinkEvent({ applicationId: 'identity', deviceId: `dev-${devEui.toLowerCase()}`, devEui, fCnt, payloadBase64: 'AQI=', correlationIds });

    it('stores an uplink repeated with another as:up id (counters reset) as two events', async () => {
      const first = uplink(7);
      const repeated = { ...first, data: { ...(first.data as Json), correlation_ids: ['as:up:01KA0000000000000000000000'] } };
      const a = await ingest('tts', applicationUp(first));
      const b = await ingest('tts', applicationUp(repeated));
      expect(b.duplicate).toBe(false);
      expect((await uplinks('tts', 7)).map((e) => e.id).sort()).toEqual([a.id, b.id].sort());
    });

    it('merges the same uplink (same as:up id) whatever the rest of the body says', async () => {
      const id = 'as:up:01KA1111111111111111111111';
      const a = await ingest('tts', applicationUp(uplink(8, [id])));
      const b = await ingest('tts', applicationUp(uplink(8, [id, 'gs:uplink:01KA2222222222222222222222'])));
      expect(b).toEqual({ id: a.id, duplicate: true });
    });
  });

  describe('Sigfox: device, seqNumber and time', () => {
    const callback = (time: string, station: string) => ({ device: 'ABC123', time, data: '0102', seqNumber: '4095', station, rssi: '-110' });

    it('stores a sequence number that wrapped (same seqNumber, later time) as a second event, copies merged', async () => {
      const first = await ingest('sigfox', callback('1764500000', 'S1'), '/data');
      const copy = await ingest('sigfox', { ...callback('1764500000', 'S2'), duplicate: 'true' }, '/data');
      const wrapped = await ingest('sigfox', callback('1764510000', 'S1'), '/data');
      expect(copy).toEqual({ id: first.id, duplicate: true });
      expect(wrapped.duplicate).toBe(false);
      expect((await uplinks('sigfox', 4095)).map((e) => e.id).sort()).toEqual([first.id, wrapped.id].sort());
    });
  });

  describe('identities expire', () => {
    it('stores a copy that arrives after its identity expired as a new event, and the sweep removes only expired ones', async () => {
      const first = await ingest('helium', { ...heliumUplink, fcnt: 50010 });
      await db.query(`UPDATE event_identities SET expires_at = now() - interval '1 second' WHERE event_id = $1`, [first.id]);
      const late = await ingest('helium', { ...heliumUplink, fcnt: 50010 });
      expect(late.duplicate).toBe(false);
      expect((await uplinks('helium', 50010)).map((e) => e.id).sort()).toEqual([first.id, late.id].sort());

      const expired = await ingest('helium', { ...heliumUplink, fcnt: 50011 });
      await db.query(`UPDATE event_identities SET expires_at = now() - interval '1 second' WHERE event_id = $1`, [expired.id]);
      const { EventStore } = await import('../../src/events/event-store.service');
      expect(await bridge.app.get(EventStore).sweepIdentities(1000)).toBeGreaterThanOrEqual(1);
      const left = await db.query('SELECT event_id FROM event_identities WHERE event_id = ANY($1::uuid[])', [[late.id, expired.id]]);
      expect(left.rows.map((r) => r.event_id)).toEqual([late.id]);
    });

    it('merges concurrent copies once, all gateways kept', async () => {
      const copies = ['g1', 'g2', 'g3', 'g4', 'g5', 'g6'].map((id) => ({ ...heliumUplink, fcnt: 50020, hotspots: [{ ...heliumUplink.hotspots[0], id }] }));
      const answers = await Promise.all(copies.map((copy) => ingest('helium', copy)));
      expect(new Set(answers.map((a) => a.id)).size).toBe(1);
      expect(answers.filter((a) => !a.duplicate)).toHaveLength(1);
      const [event] = await uplinks('helium', 50020);
      expect(event.radio.gateways).toHaveLength(6);
    });
  });

  /** A store that timed out (JOURNAL_STORE_TIMEOUT_MS) may still commit: its journal replay then finds it stored. */
  describe('the journal replay of a store that committed after all', () => {
    let store: EventStore;
    let connection: OpenConnection;
    const event = (key: string): IncomingEvent => ({
      type: 'uplink',
      dedupKey: `replay-${suffix}-${key}`,
      device: { externalId: 'REPLAY01' },
      time: new Date().toISOString(),
      uplink: null,
      radio: null,
      status: null,
      ack: null,
      location: null,
      raw: {},
    });

    beforeAll(async () => {
      store = bridge.app.get(EventStore);
      connection = (await bridge.app.get(ConnectionsService).open(ids.helium))!;
      // The device is then known: the stores below reach the insert batch in the same tick.
      await store.store(connection, [event('device')]);
    });

    it('is new for only one of them when both land in one insert batch', async () => {
      const id = uuid7();
      const replayed = event('same-batch');
      const receivedAt = new Date();
      const [, [original], [replay]] = await Promise.all([
        store.store(connection, [event('ahead')]),
        store.store(connection, [replayed], {}, receivedAt, [id]),
        store.store(connection, [replayed], {}, receivedAt, [id]),
      ]);
      expect([original.id, replay.id]).toEqual([id, id]);
      expect([original.isNew, replay.isNew].sort()).toEqual([false, true]);
    });

    it('is stored, not new, when the identity expired before the replay (the event id already exists)', async () => {
      const id = uuid7();
      const replayed = event('expired');
      const receivedAt = new Date();
      const [original] = await store.store(connection, [replayed], {}, receivedAt, [id]);
      expect(original.isNew).toBe(true);
      await db.query(`UPDATE event_identities SET expires_at = now() - interval '1 second' WHERE event_id = $1`, [id]);
      const [replay] = await store.store(connection, [replayed], {}, receivedAt, [id]);
      expect(replay).toMatchObject({ id, isNew: false });
      const { rows } = await db.query('SELECT count(*)::int AS n FROM events WHERE id = $1', [id]);
      expect(rows[0].n).toBe(1);
    });
  });
});

import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { uuid7 } from '../../src/common/uuid7';
import { migrate } from '../../src/database/migrate';
import { TestBridge } from '../support/bridge';
import { TEST_DATABASE_URL } from '../support/env';

const migrationsDir = join(__dirname, '..', '..', 'prisma', 'migrations');
const migration = (name: string) => readFileSync(join(migrationsDir, name, 'migration.sql'), 'utf8');

/** A database of its own as an earlier version left it: every migration named before `until`. */
async function earlierDatabase(suffix: string, until: string): Promise<{ url: string; db: Client; drop: () => Promise<void> }> {
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `${url.pathname}_${suffix}`;
  const before = mkdtempSync(join(tmpdir(), 'migrations-'));
  for (const name of readdirSync(migrationsDir).filter((n) => n < until)) cpSync(join(migrationsDir, name), join(before, name), { recursive: true });
  await migrate(url.toString(), before);
  rmSync(before, { recursive: true, force: true });
  const db = new Client({ connectionString: url.toString() });
  await db.connect();
  const drop = async () => {
    await db.end();
    const admin = new Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${url.pathname.slice(1)}" WITH (FORCE)`);
    await admin.end();
  };
  return { url: url.toString(), db, drop };
}

describe('migration sigfox_canonical_ids (data stored before Sigfox ids lost their leading zeros)', () => {
  let bridge: TestBridge;
  const db = new Client({ connectionString: TEST_DATABASE_URL });
  const connectionId = `sigfox-mig-${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    bridge = await TestBridge.start();
    await bridge.createConnection({ id: connectionId, network: 'sigfox' });
    await db.connect();
  });

  afterAll(async () => {
    await db.end();
    await bridge.stop();
  });

  const addDevice = async (externalId: string) => {
    const id = uuid7();
    await db.query(`INSERT INTO devices (id, connection_id, external_id, origin, updated_at) VALUES ($1, $2, $3, 'discovered', now())`, [id, connectionId, externalId]);
    return id;
  };
  // Published already: a later test's bridge would otherwise publish this partial event from the outbox.
  const addEvent = (deviceId: string, externalId: string) =>
    db.query(
      `INSERT INTO events (id, connection_id, device_id, network, type, external_id, dedup_key, time, received_at, body, raw, published_at)
       VALUES ($1, $2, $3, 'sigfox', 'uplink', $4, $5, now(), now(), $6, '{}', now())`,
      [uuid7(), connectionId, deviceId, externalId, randomBytes(4).toString('hex'), { device: { id: deviceId, externalId } }],
    );
  const externalIdOf = async (id: string) => (await db.query('SELECT external_id FROM devices WHERE id = $1', [id])).rows[0].external_id;

  it('renames padded devices and their events, leaving alone a padded device whose canonical name is taken', async () => {
    const padded = await addDevice('002C');
    const samePadded = await addDevice('0002C');
    const canonical = await addDevice('AB');
    const clashing = await addDevice('00AB');
    const zero = await addDevice('0');
    await addEvent(padded, '002C');

    await db.query(migration('20261129000000_sigfox_canonical_ids'));

    expect(await externalIdOf(padded)).toBe('2C');
    expect(await externalIdOf(samePadded)).toBe('0002C');
    expect(await externalIdOf(canonical)).toBe('AB');
    expect(await externalIdOf(clashing)).toBe('00AB');
    expect(await externalIdOf(zero)).toBe('0');
    const { rows } = await db.query(`SELECT external_id, body->'device'->>'externalId' AS body_id FROM events WHERE device_id = $1`, [padded]);
    expect(rows).toEqual([{ external_id: '2C', body_id: '2C' }]);

    // The history shows the renamed device as the bridge names it now.
    const history = await (await bridge.api('GET', `/api/devices/${padded}/events`)).json();
    expect(history.data[0].device.externalId).toBe('2C');
  });
});

describe('migration event_identity (events stored under a unique dedup key)', () => {
  let url: string;
  let db: Client;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    ({ url, db, drop } = await earlierDatabase('identity', '20261201100000'));
  });

  afterAll(() => drop());

  it('keeps the identities of recent events (TTS uplinks under their as:up id), drops the unique key, and lets a later transmission in', async () => {
    await db.query(`INSERT INTO connections (id, network, name, ingest_token_hash, updated_at) VALUES ('h', 'helium', 'h', 'x', now()), ('t', 'tts', 't', 'x', now())`);
    await db.query(`INSERT INTO devices (id, connection_id, external_id, origin, updated_at) VALUES ($1, 'h', 'AA', 'discovered', now()), ($2, 't', 'BB', 'discovered', now())`, [uuid7(), uuid7()]);
    const devices = (await db.query<{ id: string; connection_id: string }>('SELECT id, connection_id FROM devices')).rows;
    const deviceOf = (connectionId: string) => devices.find((d) => d.connection_id === connectionId)!.id;
    const add = (connectionId: string, network: string, dedupKey: string, raw: unknown, receivedAt = new Date()) =>
      db.query(
        `INSERT INTO events (id, connection_id, device_id, network, type, external_id, dedup_key, time, received_at, body, raw)
         VALUES ($1, $2, $3, $4, 'uplink', 'X', $5, $6, $6, '{}', $7)`,
        [uuid7(), connectionId, deviceOf(connectionId), network, dedupKey, receivedAt, JSON.stringify(raw)],
      );
    await add('h', 'helium', 'helium:uplink:AA:01:1:abc', {});
    await add('h', 'helium', 'helium:uplink:AA:01:2:abc', {}, new Date(Date.now() - 5 * 86400_000));
    await add('t', 'tts', 'tts:up:BB:s:1', { correlation_ids: ['gs:uplink:1', 'as:up:01WEBHOOK'] });
    await add('t', 'tts', 'tts:up:BB:s:2', { name: 'as.up.data.forward', data: { correlation_ids: ['as:up:01STREAM'] } });

    await migrate(url, migrationsDir);

    const { rows } = await db.query('SELECT connection_id, identity_key, window_ms FROM event_identities ORDER BY identity_key');
    expect(rows).toEqual([
      { connection_id: 'h', identity_key: 'helium:uplink:AA:01:1:abc', window_ms: 300000 },
      { connection_id: 't', identity_key: 'tts:up:as:up:01STREAM', window_ms: null },
      { connection_id: 't', identity_key: 'tts:up:as:up:01WEBHOOK', window_ms: null },
    ]);
    // The same dedup key may now be stored again (a later transmission).
    await expect(add('h', 'helium', 'helium:uplink:AA:01:1:abc', {})).resolves.toBeDefined();
  });
});

describe('migrations events_partitioned and webhook_deliveries_partitioned (a database holding events)', () => {
  let url: string;
  let db: Client;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    ({ url, db, drop } = await earlierDatabase('partitioning', '20261201110100'));
  });

  afterAll(() => drop());

  it('moves every event and delivery into its week, keeping ids, bodies and the outbox state', async () => {
    await db.query(`INSERT INTO connections (id, network, name, ingest_token_hash, updated_at) VALUES ('c1', 'helium', 'c1', 'x', now())`);
    const device = uuid7();
    await db.query(`INSERT INTO devices (id, connection_id, external_id, origin, updated_at) VALUES ($1, 'c1', 'AA', 'discovered', now())`, [device]);
    await db.query(`INSERT INTO webhooks (id, url, secret, events, updated_at) VALUES ($1, 'https://example.com', 's', '{uplink}', now())`, [uuid7()]);
    // 3,000 events over ten weeks, a published half, and one from a network clock at 1970.
    await db.query(
      `INSERT INTO events (id, connection_id, device_id, network, type, external_id, dedup_key, time, received_at, body, raw, published_at)
       SELECT gen_random_uuid(), 'c1', $1::uuid, 'helium', 'uplink', 'AA', 'k' || n, now() - n * interval '30 minutes', now(),
              jsonb_build_object('n', n), '{}'::jsonb, CASE WHEN n % 2 = 0 THEN now() END
       FROM generate_series(1, 3000) n
       UNION ALL SELECT gen_random_uuid(), 'c1', $1::uuid, 'helium', 'uplink', 'AA', 'epoch', 'epoch'::timestamptz, now(), '{}'::jsonb, '{}'::jsonb, now()`,
      [device],
    );
    await db.query(
      `INSERT INTO webhook_deliveries (id, webhook_id, event_id, status, updated_at)
       SELECT gen_random_uuid(), (SELECT id FROM webhooks), e.id, 'succeeded', now() FROM events e WHERE e.dedup_key IN ('k1', 'k2000', 'epoch')`,
    );
    const before = (await db.query(`SELECT id, time, body, published_at FROM events ORDER BY id`)).rows;

    expect((await migrate(url, migrationsDir)).slice(0, 2)).toEqual(['20261201110100_events_partitioned', '20261201110200_webhook_deliveries_partitioned']);

    expect((await db.query(`SELECT id, time, body, published_at FROM events ORDER BY id`)).rows).toEqual(before);
    const { rows: weeks } = await db.query(`SELECT tableoid::regclass::text AS partition, count(*)::int AS n FROM events GROUP BY 1 ORDER BY 1`);
    expect(weeks.length).toBeGreaterThanOrEqual(10);
    expect(weeks.every((w) => /^events_w\d{8}$/.test(w.partition))).toBe(true);
    expect(weeks.reduce((sum, w) => sum + w.n, 0)).toBe(3001);
    const { rows: deliveries } = await db.query(
      `SELECT d.tableoid::regclass::text AS partition, d.event_time = e.time AS same_time FROM webhook_deliveries d JOIN events e ON e.id = d.event_id ORDER BY 1`,
    );
    expect(deliveries).toHaveLength(3);
    expect(deliveries.every((d) => d.same_time && /^webhook_deliveries_w\d{8}$/.test(d.partition))).toBe(true);
  });
});

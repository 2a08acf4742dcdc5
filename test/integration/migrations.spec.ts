import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { uuid7 } from '../../src/common/uuid7';
import { TestBridge } from '../support/bridge';
import { TEST_DATABASE_URL } from '../support/env';

const migration = (name: string) => readFileSync(join(__dirname, '..', '..', 'prisma', 'migrations', name, 'migration.sql'), 'utf8');

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
  const addEvent = (deviceId: string, externalId: string) =>
    db.query(
      `INSERT INTO events (id, connection_id, device_id, network, type, external_id, dedup_key, time, received_at, body, raw)
       VALUES ($1, $2, $3, 'sigfox', 'uplink', $4, $5, now(), now(), $6, '{}')`,
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

import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import type { PrismaService } from '../../src/database/prisma.service';
import { DeviceDirectory } from '../../src/devices/device-directory.service';
import { TestBridge } from '../support/bridge';
import { TEST_DATABASE_URL } from '../support/env';

describe('DeviceDirectory on the real devices table', () => {
  let bridge: TestBridge;
  const pool = new Pool({ connectionString: TEST_DATABASE_URL });
  const statements: Record<string, number> = {};
  const connectionId = `directory-${randomBytes(3).toString('hex')}`;
  // The directory's statements, counted by name.
  const counting = {
    query: (config: { name?: string }) => {
      statements[config.name ?? 'unnamed'] = (statements[config.name ?? 'unnamed'] ?? 0) + 1;
      return pool.query(config as never);
    },
  };
  const directory = new DeviceDirectory({ pool: counting } as unknown as PrismaService);

  beforeAll(async () => {
    bridge = await TestBridge.start();
    await bridge.createConnection({ id: connectionId, network: 'helium' });
  });

  afterAll(async () => {
    await pool.end();
    await bridge.stop();
  });

  it('registers the new devices of concurrent requests together, each once however many of its events arrive', async () => {
    const externalIds = Array.from({ length: 20 }, (_, i) => `D${String(i).padStart(2, '0')}`);
    // Three events per device, as multi-buy copies and a start's first sightings bring them.
    const refs = await Promise.all([...externalIds, ...externalIds, ...externalIds].map((externalId) => directory.resolve(connectionId, { externalId, name: `dev ${externalId}` })));
    // The first sighting goes alone; the others gather behind it.
    expect(statements).toEqual({ 'resolve-device': 1, 'resolve-devices': 1 });
    expect(new Set(refs.map((ref) => ref.id)).size).toBe(20);
    refs.forEach((ref, i) => expect(ref).toMatchObject({ externalId: externalIds[i % 20], name: `dev ${externalIds[i % 20]}` }));
    const { rows } = await pool.query('SELECT id, external_id FROM devices WHERE connection_id = $1 ORDER BY external_id', [connectionId]);
    expect(rows.map((row) => row.external_id)).toEqual(externalIds);
    expect(rows.map((row) => row.id)).toEqual(refs.slice(0, 20).map((ref) => ref.id));
    // Cached since.
    await directory.resolve(connectionId, { externalId: 'D00' });
    expect(statements).toEqual({ 'resolve-device': 1, 'resolve-devices': 1 });
  });

  it('registers the good devices of a batch that one device Postgres refuses would have failed, and fails only that one', async () => {
    const outcomes = await Promise.allSettled([
      directory.resolve(connectionId, { externalId: 'E0' }),
      directory.resolve(connectionId, { externalId: 'E1' }),
      directory.resolve(connectionId, { externalId: 'E2', name: 'nul \u0000 in a name' }),
      directory.resolve(connectionId, { externalId: 'E3' }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
  });
});

import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import type { PrismaService } from '../../src/database/prisma.service';
import { DeviceDirectory } from '../../src/devices/device-directory.service';
import { DeviceStateRecorder } from '../../src/devices/device-state-recorder.service';
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
    expect(statements).toEqual({ 'resolve-devices': 2 });
    expect(new Set(refs.map((ref) => ref.id)).size).toBe(20);
    refs.forEach((ref, i) => expect(ref).toMatchObject({ externalId: externalIds[i % 20], name: `dev ${externalIds[i % 20]}` }));
    const { rows } = await pool.query('SELECT id, external_id FROM devices WHERE connection_id = $1 ORDER BY external_id', [connectionId]);
    expect(rows.map((row) => row.external_id)).toEqual(externalIds);
    expect(rows.map((row) => row.id)).toEqual(refs.slice(0, 20).map((ref) => ref.id));
    // Cached since.
    await directory.resolve(connectionId, { externalId: 'D00' });
    expect(statements).toEqual({ 'resolve-devices': 2 });
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

  it('resolves known devices with a cold cache while other processes write their state, without a deadlock', async () => {
    // As after a restart, or each minute when the cache expires: a batch of known devices resolved
    // while other api processes write the same devices' last-seen state, each in its own order.
    const externalIds = Array.from({ length: 80 }, (_, i) => `S${String(i).padStart(2, '0')}`);
    const ids = (await Promise.all(externalIds.map((externalId) => directory.resolve(connectionId, { externalId })))).map((ref) => ref.id);
    const prisma = { pool } as unknown as PrismaService;
    const shuffled = <T>(items: T[]) => items.map((item) => ({ item, at: Math.random() })).sort((a, b) => a.at - b.at).map(({ item }) => item);
    const writeState = async () => {
      const recorder = new DeviceStateRecorder(prisma);
      for (const id of shuffled(ids)) recorder.record(id, { seenAt: new Date().toISOString(), lastUplink: null, battery: null });
      await recorder.flush();
    };
    const failures: string[] = [];
    let resolving = true;
    const keepWritingState = async () => {
      while (resolving) await writeState().catch((error: Error) => failures.push(`state: ${error.message}`));
    };
    const writers = [keepWritingState(), keepWritingState()];
    for (let round = 0; round < 20; round++) {
      const cold = new DeviceDirectory(prisma);
      const outcomes = await Promise.allSettled(shuffled(externalIds).map((externalId) => cold.resolve(connectionId, { externalId })));
      for (const outcome of outcomes) if (outcome.status === 'rejected') failures.push(`resolve: ${(outcome.reason as Error).message}`);
    }
    resolving = false;
    await Promise.all(writers);
    expect(failures).toEqual([]);
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM devices WHERE connection_id = $1 AND external_id LIKE $2', [connectionId, 'S%']);
    expect(rows[0].n).toBe(80);
  });
});

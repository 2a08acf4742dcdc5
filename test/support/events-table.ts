import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { uuid7 } from '../../src/common/uuid7';
import type { EventRow } from '../../src/events/event-rows';
import { TestBridge } from './bridge';

/**
 * For specs of the store's own pieces on the real events table: a bridge (it migrated the
 * database), a Helium connection and one device row, set up before the spec's tests and ended
 * with `pool` after them; `row` makes an event row of that device; `app` is the bridge's.
 */
export function heliumDeviceTable(pool: Pool, prefix: string) {
  const table = {
    connectionId: `${prefix}-${randomBytes(3).toString('hex')}`,
    deviceId: uuid7(),
    row: (dedupKey: string, time = new Date(), body: object = {}): EventRow => ({
      id: uuid7(),
      connection_id: table.connectionId,
      device_id: table.deviceId,
      network: 'helium',
      type: 'uplink',
      external_id: 'AB',
      dedup_key: dedupKey,
      time,
      received_at: new Date(),
      body,
      raw: {},
      window_ms: null,
    }),
    /** The bridge's services, once it started. */
    app: () => bridge.app,
  };
  let bridge: TestBridge;
  beforeAll(async () => {
    bridge = await TestBridge.start();
    await bridge.createConnection({ id: table.connectionId, network: 'helium' });
    await pool.query(`INSERT INTO devices (id, connection_id, external_id, origin, updated_at) VALUES ($1, $2, 'AB', 'discovered', now())`, [table.deviceId, table.connectionId]);
  });
  afterAll(async () => {
    await pool.end();
    await bridge.stop();
  });
  return table;
}

import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { PeriodicTask } from '../common/job-queues';
import { PrismaService } from '../database/prisma.service';
import { DeviceState, mergeDeviceState } from './device-state';

/** How often the gathered device states are written: the most a crash can take of last-seen freshness. */
const FLUSH_INTERVAL_MS = 1000;
const FLUSH_BATCH = 1000;

/**
 * Keeps devices' last-seen, last-uplink and battery state without a write per event: the hot path
 * only merges into a map (one entry per device), and every second one statement per 1,000
 * devices writes the newest of each. Events themselves are committed before this sees them, so a
 * crash loses at most a second of this state, never an event. Several instances may write the
 * same device: the statement keeps whichever state is newer, so their order does not matter.
 */
@Injectable()
export class DeviceStateRecorder implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(DeviceStateRecorder.name);
  private pending = new Map<string, DeviceState>();
  private flusher?: PeriodicTask;

  constructor(private readonly prisma: PrismaService) {}

  onApplicationBootstrap(): void {
    this.flusher = new PeriodicTask('device state flush', FLUSH_INTERVAL_MS, () => this.flush(), this.logger).start();
  }

  record(deviceId: string, state: DeviceState): void {
    if (state.seenAt === null && state.lastUplink === null && state.battery === null) return;
    const earlier = this.pending.get(deviceId);
    this.pending.set(deviceId, earlier ? mergeDeviceState(earlier, state) : state);
  }

  /** Writes what was gathered; what could not be written (Postgres down) is kept for the next round. */
  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const states = [...this.pending].sort(([a], [b]) => (a < b ? -1 : 1));
    this.pending = new Map();
    for (let i = 0; i < states.length; i += FLUSH_BATCH) {
      const batch = states.slice(i, i + FLUSH_BATCH);
      try {
        await this.write(batch);
      } catch (error) {
        for (const [deviceId, state] of states.slice(i)) this.record(deviceId, state);
        throw error;
      }
    }
  }

  private async write(states: Array<[string, DeviceState]>): Promise<void> {
    const rows = states.map(([id, state]) => ({ id, seen_at: state.seenAt, last_uplink: state.lastUplink, battery: state.battery }));
    await this.prisma.pool.query({
      name: 'write-device-state',
      // The rows are locked in id order first: the update's own plan would lock them in whatever
      // order it joins them, and two instances flushing the same devices could deadlock.
      text: `WITH s AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS s(id uuid, seen_at timestamptz, last_uplink jsonb, battery jsonb)),
                  locked AS (SELECT d.id FROM devices d JOIN s USING (id) ORDER BY d.id FOR NO KEY UPDATE OF d)
             UPDATE devices d SET
               last_seen_at = GREATEST(d.last_seen_at, s.seen_at),
               last_uplink = CASE WHEN d.last_uplink IS NULL OR (d.last_uplink->>'time')::timestamptz <= (s.last_uplink->>'time')::timestamptz
                                  THEN COALESCE(s.last_uplink, d.last_uplink) ELSE d.last_uplink END,
               battery = CASE WHEN d.battery IS NULL OR (d.battery->>'time')::timestamptz <= (s.battery->>'time')::timestamptz
                              THEN COALESCE(s.battery, d.battery) ELSE d.battery END
             FROM s WHERE d.id = s.id AND d.id IN (SELECT id FROM locked)`,
      values: [JSON.stringify(rows)],
    });
  }

  async onModuleDestroy(): Promise<void> {
    this.flusher?.stop();
    await this.flush().catch((error: Error) => this.logger.warn(`device state not written at shutdown: ${error.message}`));
  }
}

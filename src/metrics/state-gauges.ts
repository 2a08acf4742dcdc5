import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Gauge } from 'prom-client';
import { Settings } from '../config/settings';
import { PrismaService } from '../database/prisma.service';
import { MetricsService } from './metrics.service';
import { MonitoredQueues } from './monitored-queues';

/** Gauges read at scrape time from Redis and Postgres, so every instance reports the same truth. */
@Injectable()
export class StateGauges {
  constructor(metrics: MetricsService, prisma: PrismaService, monitored: MonitoredQueues, config: ConfigService<Settings, true>) {
    const queues = monitored.all;
    const silentAfterMs = config.get('DEVICE_SILENT_AFTER_MS', { infer: true });

    new Gauge({
      name: 'lpwan_queue_jobs',
      help: 'Jobs in each queue by state (failed = given up after all attempts and kept)',
      labelNames: ['queue', 'state'] as const,
      registers: [metrics.registry],
      async collect() {
        this.reset();
        for (const queue of queues) {
          const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed').catch(() => null);
          for (const [state, count] of Object.entries(counts ?? {})) this.set({ queue: queue.name, state }, count);
        }
      },
    });

    new Gauge({
      name: 'lpwan_events_unpublished',
      help: 'Stored events not yet published to MQTT (the fan-out backlog)',
      registers: [metrics.registry],
      async collect() {
        this.set(await prisma.event.count({ where: { publishedAt: null } }).catch(() => -1));
      },
    });

    new Gauge({
      name: 'lpwan_tts_stream_state',
      help: 'State of each TTS connection stream (1 for its current state)',
      labelNames: ['connection', 'state'] as const,
      registers: [metrics.registry],
      async collect() {
        this.reset();
        const rows = await prisma.connection.findMany({ where: { network: 'tts' }, select: { id: true, streamState: true } }).catch(() => []);
        for (const row of rows) this.set({ connection: row.id, state: row.streamState ?? 'stopped' }, 1);
      },
    });

    new Gauge({
      name: 'lpwan_device_sync_backlog',
      help: 'Devices waiting to be provisioned into their network, by connection',
      labelNames: ['connection'] as const,
      registers: [metrics.registry],
      async collect() {
        this.reset();
        const rows = await prisma.device
          .groupBy({ by: ['connectionId'], where: { syncState: 'pending' }, _count: { _all: true } })
          .catch(() => []);
        for (const row of rows) this.set({ connection: row.connectionId }, row._count._all);
      },
    });

    new Gauge({
      name: 'lpwan_devices_silent',
      help: `Active devices not seen for more than DEVICE_SILENT_AFTER_MS (${silentAfterMs} ms), never-seen ones counted from their creation, by connection`,
      labelNames: ['connection'] as const,
      registers: [metrics.registry],
      async collect() {
        this.reset();
        const { rows } = await prisma.pool
          .query<{ connection_id: string; silent: number }>({
            name: 'count-silent-devices',
            text: `SELECT connection_id, count(*)::int AS silent FROM devices
                   WHERE active AND COALESCE(last_seen_at, created_at) < now() - make_interval(secs => $1 / 1000.0)
                   GROUP BY connection_id`,
            values: [silentAfterMs],
          })
          .catch(() => ({ rows: [] }));
        for (const row of rows) this.set({ connection: row.connection_id }, row.silent);
      },
    });
  }
}

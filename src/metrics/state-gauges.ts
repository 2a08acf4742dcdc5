import { Injectable } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { PrismaService } from '../database/prisma.service';
import { MetricsService } from './metrics.service';
import { MonitoredQueues } from './monitored-queues';

/** Gauges read at scrape time from Redis and Postgres, so every instance reports the same truth. */
@Injectable()
export class StateGauges {
  constructor(metrics: MetricsService, prisma: PrismaService, monitored: MonitoredQueues) {
    const queues = monitored.all;

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
  }
}

import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Queue } from 'bullmq';
import { Gauge } from 'prom-client';
import { Settings } from '../config/settings';
import { PrismaService } from '../database/prisma.service';
import { MetricsService } from './metrics.service';

/** The bridge's BullMQ queues, whose depth is reported. */
const QUEUE_NAMES = ['fanout', 'webhooks', 'device-sync', 'downlinks'];

/** Gauges read at scrape time from Redis and Postgres, so every instance reports the same truth. */
@Injectable()
export class StateGauges implements OnModuleDestroy {
  private readonly queues: Queue[];

  constructor(metrics: MetricsService, prisma: PrismaService, config: ConfigService<Settings, true>) {
    const connection = { url: config.get('REDIS_URL', { infer: true }), enableOfflineQueue: false, maxRetriesPerRequest: 1 };
    this.queues = QUEUE_NAMES.map((name) => new Queue(name, { connection, prefix: config.get('REDIS_PREFIX', { infer: true }) }));
    for (const queue of this.queues) queue.on('error', () => undefined);
    const queues = this.queues;

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

  async onModuleDestroy(): Promise<void> {
    await Promise.all(this.queues.map((queue) => queue.close().catch(() => undefined)));
  }
}

import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Queue } from 'bullmq';
import { producerOptions } from '../common/job-queues';
import { Settings } from '../config/settings';

/** The bridge's BullMQ queues, by name, for those who watch them (metrics, the dashboard). */
const QUEUE_NAMES = ['fanout', 'webhooks', 'device-sync', 'downlinks'];

@Injectable()
export class MonitoredQueues implements OnModuleDestroy {
  readonly all: Queue[];

  constructor(config: ConfigService<Settings, true>) {
    this.all = QUEUE_NAMES.map((name) => new Queue(name, producerOptions(config)));
    for (const queue of this.all) queue.on('error', () => undefined);
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.all(this.all.map((queue) => queue.close().catch(() => undefined)));
  }
}

import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import Redis from 'ioredis';
import { Settings } from '../config/settings';

/** The bridge's own Redis connection (leases, rate limits, health), apart from BullMQ's. */
@Injectable()
export class RedisService implements OnModuleDestroy {
  readonly client: Redis;

  constructor(config: ConfigService<Settings, true>) {
    this.client = new Redis(config.get('REDIS_URL', { infer: true }), {
      // Commands fail at once while Redis is down instead of piling up in memory.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      lazyConnect: false,
    });
    this.client.on('error', () => undefined);
  }

  async onModuleDestroy(): Promise<void> {
    this.client.disconnect();
  }
}

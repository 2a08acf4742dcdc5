import type { Logger } from '@nestjs/common';
import type { ConfigService } from '@nestjs/config';
import type { QueueOptions, WorkerOptions } from 'bullmq';
import type { Settings } from '../config/settings';

/**
 * A queue producer's Redis options: fail fast while Redis is down instead of buffering in
 * memory. Every queued thing is also in Postgres, and a sweeper re-queues what was not queued.
 */
export function producerOptions(config: ConfigService<Settings, true>): Pick<QueueOptions, 'connection' | 'prefix'> {
  return {
    connection: { url: config.get('REDIS_URL', { infer: true }), enableOfflineQueue: false, maxRetriesPerRequest: 1 },
    prefix: config.get('REDIS_PREFIX', { infer: true }),
  };
}

/** A worker's Redis options: BullMQ's blocking connections wait for Redis indefinitely. */
export function workerOptions(config: ConfigService<Settings, true>): Pick<WorkerOptions, 'connection' | 'prefix'> {
  return {
    connection: { url: config.get('REDIS_URL', { infer: true }), maxRetriesPerRequest: null },
    prefix: config.get('REDIS_PREFIX', { infer: true }),
  };
}

/**
 * Runs `task` every `intervalMs`, never two rounds at once. A failed round (Postgres or Redis
 * down) is logged at debug level: the next round tries again.
 */
export class PeriodicTask {
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(
    private readonly name: string,
    private readonly intervalMs: number,
    private readonly task: () => Promise<void>,
    private readonly logger: Logger,
  ) {}

  start(): this {
    this.timer = setInterval(() => void this.run(), this.intervalMs);
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.task();
    } catch (error) {
      this.logger.debug(`${this.name} skipped: ${(error as Error).message}`);
    } finally {
      this.running = false;
    }
  }
}

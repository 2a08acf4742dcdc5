import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Queue } from 'bullmq';
import { producerOptions } from '../common/job-queues';
import Redis from 'ioredis';
import { Settings } from '../config/settings';
import type { ProvisionedDevice } from '../networks/device-provisioner';

export const DEVICE_SYNC_QUEUE = 'device-sync';

/** Tries of one operation; with the backoff below they span about a quarter of an hour. */
export const SYNC_ATTEMPTS = 10;
/** How long the order of a device's operations is remembered in Redis. */
const ORDER_TTL_SECONDS = 30 * 24 * 3600;

export type SyncOperation = 'create' | 'update' | 'delete';

export interface SyncJob {
  op: SyncOperation;
  deviceId: string;
  connectionId: string;
  externalId: string;
  /** Position of this operation among the device's operations (1, 2, …): they run in this order. */
  seq: number;
  /** Delete only: the device as it was, since its row is gone by the time the job runs. */
  device?: Omit<ProvisionedDevice, 'secrets'>;
}

export type SyncRequest = Omit<SyncJob, 'seq'>;

/**
 * Puts device operations on the `device-sync` queue. Each device (connection + external id) has a
 * counter in Redis that numbers its operations; the worker runs number n only after n-1 is done.
 */
@Injectable()
export class DeviceSyncQueue implements OnModuleDestroy {
  private readonly logger = new Logger(DeviceSyncQueue.name);
  readonly queue: Queue<SyncJob>;
  /** For the order counters and connection slots, apart from BullMQ's own connections. */
  readonly redis: Redis;
  private readonly prefix: string;

  constructor(config: ConfigService<Settings, true>) {
    this.prefix = config.get('REDIS_PREFIX', { infer: true });
    this.queue = new Queue<SyncJob>(DEVICE_SYNC_QUEUE, {
      ...producerOptions(config),
      defaultJobOptions: {
        attempts: SYNC_ATTEMPTS,
        backoff: { type: 'network' },
        removeOnComplete: true,
        // Only a crash of the worker's own code ends here; kept a while for inspection.
        removeOnFail: { age: 7 * 24 * 3600 },
      },
    });
    this.queue.on('error', (error) => this.logger.debug(`queue: ${error.message}`));
    // Commands wait for a connection being made, and fail after one retry while Redis is down.
    this.redis = new Redis(config.get('REDIS_URL', { infer: true }), { maxRetriesPerRequest: 1 });
    this.redis.on('error', () => undefined);
  }

  /** The Redis hash holding a device's operation counter (`seq`) and last finished one (`done`). */
  orderKey(connectionId: string, externalId: string): string {
    return `${this.prefix}:${DEVICE_SYNC_QUEUE}:order:${connectionId}:${externalId}`;
  }

  /** The sorted set of the operations running against one connection (see the worker). */
  slotsKey(connectionId: string): string {
    return `${this.prefix}:${DEVICE_SYNC_QUEUE}:slots:${connectionId}`;
  }

  /** Set, with the wait as its expiry, while a connection's network asks the bridge to slow down. */
  pauseKey(connectionId: string): string {
    return `${this.prefix}:${DEVICE_SYNC_QUEUE}:rest:${connectionId}`;
  }

  jobId(connectionId: string, externalId: string, seq: number): string {
    return `${connectionId}.${externalId}.${seq}`;
  }

  async enqueue(requests: SyncRequest[]): Promise<void> {
    if (requests.length === 0) return;
    const pipeline = this.redis.multi();
    for (const r of requests) {
      const key = this.orderKey(r.connectionId, r.externalId);
      pipeline.hincrby(key, 'seq', 1).expire(key, ORDER_TTL_SECONDS);
    }
    const results = (await pipeline.exec()) ?? [];
    const jobs = requests.map((request, i) => {
      const [error, seq] = results[i * 2] ?? [new Error('no answer from Redis'), null];
      if (error) throw error;
      const job: SyncJob = { ...request, seq: Number(seq) };
      return { name: request.op, data: job, opts: { jobId: this.jobId(request.connectionId, request.externalId, job.seq) } };
    });
    await this.queue.addBulk(jobs);
  }

  /** Enqueues without failing the caller: a device left pending is picked up by the worker's sweeper. */
  async enqueueOrDefer(requests: SyncRequest[]): Promise<void> {
    await this.enqueue(requests).catch((error: Error) => this.logger.warn(`sync enqueue deferred to the sweeper: ${error.message}`));
  }

  async onModuleDestroy(): Promise<void> {
    await this.queue.close().catch(() => undefined);
    this.redis.disconnect();
  }
}

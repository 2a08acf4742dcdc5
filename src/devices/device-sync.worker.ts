import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DelayedError, Job, Worker } from 'bullmq';
import { PeriodicTask, workerOptions } from '../common/job-queues';
import { Settings } from '../config/settings';
import { ConnectionsService } from '../connections/connections.service';
import { PrismaService } from '../database/prisma.service';
import { NetworkError } from '../networks/http-client';
import { NetworkRegistry } from '../networks/network-registry';
import { DEVICE_SYNC_QUEUE, DeviceSyncQueue, SYNC_ATTEMPTS, SyncJob } from './device-sync.queue';
import { DeviceSyncService } from './device-sync.service';

/** Jobs handled at once by one worker process, all connections together. */
const WORKER_CONCURRENCY = 32;
/** Operations running at once against one connection's account, across all worker processes. */
export const PER_CONNECTION_CONCURRENCY = 4;
/** A slot not given back by then belonged to a worker that died. */
const SLOT_TTL_MS = 5 * 60_000;
/** How long a job waits before looking again for its turn or a free slot; longer the longer it waited. */
const RECHECK_MS = 400;
const MAX_RECHECK_MS = 5000;
/** An operation numbered before this one may still be on its way into the queue for this long. */
const ENQUEUE_GRACE_MS = 10_000;
const BACKOFF_BASE_MS = 1000;
const BACKOFF_MAX_MS = 5 * 60_000;
const SWEEP_INTERVAL_MS = 60_000;
/** A device pending this long with no attempt has lost its job (Redis was down when it was queued). */
const SWEEP_STALE_MS = 10 * 60_000;
/** States of a job that is not finished yet. */
const UNFINISHED = new Set(['waiting', 'delayed', 'active', 'prioritized', 'waiting-children']);

/** Takes one of a connection's slots (a sorted set of job ids scored by time), dropping expired ones. */
const ACQUIRE_SLOT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZSCORE', KEYS[1], ARGV[4]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`;

/**
 * Worker role: runs the `device-sync` queue. A device's operations run one after the other in the
 * order they were asked for; different devices run in parallel, at most PER_CONNECTION_CONCURRENCY
 * per connection. Failures worth retrying come back with backoff, honouring the network's
 * Retry-After / X-Rate-Limit-* when it gave one.
 */
@Injectable()
export class DeviceSyncWorker implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(DeviceSyncWorker.name);
  private worker?: Worker<SyncJob>;
  private sweeper?: PeriodicTask;

  constructor(
    private readonly config: ConfigService<Settings, true>,
    private readonly queue: DeviceSyncQueue,
    private readonly sync: DeviceSyncService,
    private readonly connections: ConnectionsService,
    private readonly networks: NetworkRegistry,
    private readonly prisma: PrismaService,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.get('BRIDGE_ROLE', { infer: true }) === 'api') return;
    this.worker = new Worker<SyncJob>(DEVICE_SYNC_QUEUE, (job, token) => this.process(job, token), {
      ...workerOptions(this.config),
      concurrency: WORKER_CONCURRENCY,
      settings: { backoffStrategy: (attemptsMade, _type, error) => backoffMs(attemptsMade, error) },
    });
    this.worker.on('error', (error) => this.logger.warn(`worker: ${error.message}`));
    this.sweeper = new PeriodicTask('device-sync sweep', SWEEP_INTERVAL_MS, () => this.sweep(), this.logger).start();
  }

  private async process(job: Job<SyncJob>, token?: string): Promise<void> {
    const { connectionId, externalId, seq } = job.data;
    const turn = await this.turn(job);
    if (turn === 'done') return;
    if (turn === 'wait') return this.postpone(job, token);

    const connection = await this.connections.open(connectionId);
    const provisioner = connection && this.networks.has(connection.network) ? this.networks.get(connection.network).provisioner : undefined;
    // The connection is gone, and its devices with it: nothing is left to do.
    if (!connection || !provisioner) return this.finish(job);

    const redis = this.queue.redis;
    // A connection the network rate-limited rests until the time it was told, for all its devices.
    const resting = await redis.pttl(this.queue.pauseKey(connectionId));
    if (resting > 0) return this.postpone(job, token, resting);
    const slots = this.queue.slotsKey(connectionId);
    const acquired = await redis.eval(ACQUIRE_SLOT, 1, slots, Date.now(), SLOT_TTL_MS, PER_CONNECTION_CONCURRENCY, job.id as string);
    if (acquired !== 1) return this.postpone(job, token);
    try {
      await this.sync.run(job.data, connection.settings, provisioner, { last: job.attemptsMade + 1 >= SYNC_ATTEMPTS });
      await this.finish(job);
    } catch (error) {
      if (error instanceof NetworkError && error.status === 429 && error.retryAfterMs) {
        await redis.set(this.queue.pauseKey(connectionId), '1', 'PX', error.retryAfterMs).catch(() => undefined);
      }
      throw error;
    } finally {
      await redis.zrem(slots, job.id as string).catch(() => undefined);
    }
    this.logger.debug(`${job.data.op} #${seq} of ${connectionId}/${externalId} done`);
  }

  /** Whether the device's earlier operations are all finished ('run'), not yet ('wait'), or this one already ran ('done'). */
  private async turn(job: Job<SyncJob>): Promise<'run' | 'wait' | 'done'> {
    const { connectionId, externalId, seq } = job.data;
    const redis = this.queue.redis;
    const done = Number((await redis.hget(this.queue.orderKey(connectionId, externalId), 'done')) ?? 0);
    if (seq <= done) return 'done';
    if (seq === done + 1) return 'run';
    for (let earlier = done + 1; earlier < seq; earlier++) {
      const state = await this.queue.queue.getJobState(this.queue.jobId(connectionId, externalId, earlier));
      if (UNFINISHED.has(state)) return 'wait';
    }
    // The earlier ones are not in the queue: finished without a record, or lost on their way in.
    return Date.now() - job.timestamp > ENQUEUE_GRACE_MS ? 'run' : 'wait';
  }

  private async finish(job: Job<SyncJob>): Promise<void> {
    const redis = this.queue.redis;
    await redis.hset(this.queue.orderKey(job.data.connectionId, job.data.externalId), 'done', job.data.seq);
  }

  /** Back to the delayed set without using up an attempt. */
  private async postpone(job: Job<SyncJob>, token: string | undefined, delayMs?: number): Promise<never> {
    const backoff = Math.min(MAX_RECHECK_MS, RECHECK_MS + (Date.now() - job.timestamp) / 10);
    await job.moveToDelayed(Date.now() + (delayMs ?? backoff) + Math.floor(Math.random() * RECHECK_MS), token);
    throw new DelayedError();
  }

  /** Re-queues devices left pending with no attempt for a long time: their job was lost. */
  private async sweep(): Promise<void> {
    const stale = await this.prisma.device.findMany({
      where: { syncState: 'pending', updatedAt: { lt: new Date(Date.now() - SWEEP_STALE_MS) } },
      select: { id: true, connectionId: true, externalId: true, networkDeviceId: true },
      take: 500,
    });
    if (stale.length === 0) return;
    await this.prisma.device.updateMany({ where: { id: { in: stale.map((d) => d.id) } }, data: { syncAttempts: 0 } });
    await this.queue.enqueue(
      stale.map((d) => ({ op: d.networkDeviceId ? 'update' : 'create', deviceId: d.id, connectionId: d.connectionId, externalId: d.externalId })),
    );
    this.logger.log(`re-queued the sync of ${stale.length} device(s)`);
  }


  async onModuleDestroy(): Promise<void> {
    this.sweeper?.stop();
    await this.worker?.close().catch(() => undefined);
  }
}

/** The network's own wait when it gave one (429), else exponential from 1 s up to 5 min, with jitter. */
export function backoffMs(attemptsMade: number, error: Error | undefined): number {
  if (error instanceof NetworkError && error.retryAfterMs !== null) return Math.max(error.retryAfterMs, 100);
  const exponential = Math.min(BACKOFF_BASE_MS * 2 ** Math.max(0, attemptsMade - 1), BACKOFF_MAX_MS);
  return Math.round(exponential * (0.8 + Math.random() * 0.4));
}

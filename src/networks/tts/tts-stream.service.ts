import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { OpenConnection } from '../../connections/connections.service';
import { ConnectionsService } from '../../connections/connections.service';
import { RedisLease } from '../../common/redis-lease';
import { SerialRunner } from '../../common/serial-runner';
import { Settings } from '../../config/settings';
import { PrismaService } from '../../database/prisma.service';
import { RedisService } from '../../database/redis.service';
import type { Connection } from '../../generated/prisma/client';
import { IngestService } from '../../ingest/ingest.service';
import { GAVE_UP_STATES, TtsStreamConsumer, writeStreamState } from './tts-stream.consumer';

interface HeldStream {
  consumer: TtsStreamConsumer;
  lease: RedisLease;
  /** The settings the consumer was started with; another value means the connection was updated. */
  fingerprint: string;
}

type StopReason = 'disabled' | 'updated' | 'gave-up' | 'lease-lost' | 'shutdown';

/**
 * Runs the TTS event streams of this instance (BRIDGE_ROLE worker or all): one consumer for each TTS
 * connection with `stream: true` whose Redis lease this instance holds. It follows the connections
 * as they change here (ConnectionsService.onChange) and, every half lease, on every instance
 * (a periodic reconcile), which also takes over the streams of instances that died.
 */
@Injectable()
export class TtsStreamService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(TtsStreamService.name);
  private readonly held = new Map<string, HeldStream>();
  /** Identifies this instance's leases in Redis. */
  private readonly leaseToken = `${hostname()}:${process.pid}:${randomBytes(6).toString('hex')}`;
  private readonly userAgent = bridgeUserAgent();
  /** Connections whose secrets this instance cannot open, by fingerprint: warned about once. */
  private readonly unreadable = new Set<string>();
  private reconcileTimer?: NodeJS.Timeout;
  private readonly reconciler = new SerialRunner(
    () => this.reconcile(),
    (error) => this.logger.warn(`TTS streams: reconcile failed: ${error.message}`),
  );

  constructor(
    private readonly config: ConfigService<Settings, true>,
    private readonly connections: ConnectionsService,
    private readonly prisma: PrismaService,
    private readonly redis: RedisService,
    private readonly ingest: IngestService,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.get('BRIDGE_ROLE', { infer: true }) === 'api') return;
    this.connections.onChange(() => this.reconciler.soon());
    this.reconcileTimer = setInterval(() => this.reconciler.soon(), this.config.get('TTS_STREAM_LEASE_MS', { infer: true }) / 2);
    this.reconciler.soon();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.reconcileTimer);
    await this.reconciler.close();
    await Promise.all([...this.held.keys()].map((id) => this.stop(id, 'shutdown')));
  }

  /** Stops the streams no longer wanted or changed, and starts those wanted whose lease is free. */
  private async reconcile(): Promise<void> {
    // Leases live in Redis: without it (at start-up, or while it is down) nothing can be taken over.
    if (this.redis.client.status !== 'ready') return;
    const rows = await this.prisma.connection.findMany({ where: { network: 'tts' } });
    const wanted = new Map(rows.filter(wantsStream).map((row) => [row.id, row]));
    for (const [id, stream] of this.held) {
      const row = wanted.get(id);
      if (!row) await this.stop(id, stream.consumer.running ? 'disabled' : 'gave-up');
      else if (fingerprint(row) !== stream.fingerprint) await this.stop(id, 'updated');
      else if (!stream.consumer.running) await this.stop(id, 'gave-up');
    }
    for (const row of wanted.values()) {
      if (this.reconciler.closed) return;
      if (!this.held.has(row.id)) await this.tryStart(row);
    }
  }

  private async tryStart(row: Connection): Promise<void> {
    const connection = this.open(row);
    if (!connection) return;
    const lease = new RedisLease(
      this.redis.client,
      `${this.config.get('REDIS_PREFIX', { infer: true })}:tts-stream:${row.id}`,
      this.leaseToken,
      this.config.get('TTS_STREAM_LEASE_MS', { infer: true }),
      (reason) => {
        this.logger.warn(`TTS stream of connection ${row.id}: lease lost (${reason}); another instance takes over`);
        void this.stop(row.id, 'lease-lost');
      },
    );
    try {
      if (!(await lease.acquire())) return;
    } catch (error) {
      this.logger.warn(`TTS stream of connection ${row.id}: cannot take the lease: ${(error as Error).message}`);
      return;
    }
    const consumer = new TtsStreamConsumer(
      connection,
      row.streamPosition,
      { ingest: this.ingest, prisma: this.prisma, logger: this.logger },
      { idleTimeoutMs: this.config.get('TTS_STREAM_IDLE_TIMEOUT_MS', { infer: true }), userAgent: this.userAgent },
    );
    this.held.set(row.id, { consumer, lease, fingerprint: fingerprint(row) });
    consumer.start(() => this.reconciler.soon());
  }

  private async stop(id: string, reason: StopReason): Promise<void> {
    const stream = this.held.get(id);
    if (!stream) return;
    this.held.delete(id);
    await stream.consumer.stop();
    if (reason === 'lease-lost') return;
    // Shown until another consumer starts; a consumer that gave up already wrote why.
    if (reason === 'disabled' || reason === 'shutdown') {
      await writeStreamState(this.prisma, id, 'stopped', null).catch(() => undefined);
    }
    await stream.lease.release().catch((error: Error) => this.logger.warn(`TTS stream of connection ${id}: lease not released: ${error.message}`));
    this.logger.log(`TTS stream of connection ${id} closed (${reason})`);
  }

  /** The connection with its API key; null when its secrets were sealed with another SECRETS_KEY. */
  private open(row: Connection): OpenConnection | null {
    try {
      // From the row just read rather than ConnectionsService.open: its cache may lag another instance's update.
      const connection = this.connections.openRow(row);
      this.unreadable.delete(fingerprint(row));
      return connection;
    } catch (error) {
      if (!this.unreadable.has(fingerprint(row))) {
        this.unreadable.add(fingerprint(row));
        this.logger.error(`TTS stream of connection ${row.id} not started: its secrets cannot be opened (${(error as Error).message}); is SECRETS_KEY the one it was saved with?`);
      }
      return null;
    }
  }
}

/** stream: true, and not stopped for bad credentials or a refused request since it was last updated. */
function wantsStream(row: Connection): boolean {
  const settings = row.settings as Record<string, unknown>;
  return settings.stream === true && !(row.streamError !== null && GAVE_UP_STATES.has(row.streamState));
}

/** Every update seals the secrets anew, so any update of the connection changes this. */
function fingerprint(row: Connection): string {
  return `${JSON.stringify(row.settings)}|${row.secrets ?? ''}`;
}

/** `lpwan-bridge/0.1.0`: TTS asks integrations to name themselves and their version. */
function bridgeUserAgent(): string {
  // package.json is three levels up from both src/networks/tts and dist/networks/tts.
  const { name, version } = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { name: string; version: string };
  return `${name}/${version}`;
}

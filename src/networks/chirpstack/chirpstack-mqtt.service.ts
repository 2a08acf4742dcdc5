import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, Gauge } from 'prom-client';
import { RedisLease } from '../../common/redis-lease';
import { SerialRunner } from '../../common/serial-runner';
import { Settings } from '../../config/settings';
import type { OpenConnection } from '../../connections/connections.service';
import { ConnectionsService } from '../../connections/connections.service';
import { PrismaService } from '../../database/prisma.service';
import { RedisService } from '../../database/redis.service';
import type { Connection } from '../../generated/prisma/client';
import { IngestService } from '../../ingest/ingest.service';
import { MetricsService } from '../../metrics/metrics.service';
import { ChirpstackMqttConsumer, MqttIdentity } from './chirpstack-mqtt.consumer';

/** At most this many instances consume one connection's MQTT integration at a time. */
const MAX_SLOTS = 16;
/** A drained session has given what it held once no message came for this long. */
const DRAIN_QUIET_MS = 1000;
const DRAIN_MAX_MS = 60_000;

interface HeldSlot {
  consumer: ChirpstackMqttConsumer;
  lease: RedisLease;
  slot: number;
  fingerprint: string;
}

/**
 * Worker role: the ChirpStack MQTT integrations of the connections that have `mqtt`.
 *
 * Client ids. A persistent session (clean=false) lives on the broker under its client id, and two
 * clients with one id throw each other off. So each instance consuming a connection holds one of
 * its numbered slots, `<REDIS_PREFIX>-<connectionId>-<slot>`, through a Redis lease: an id is used
 * by one instance at a time, and is the same across restarts (an instance takes the lowest free
 * slot, so a single instance is always slot 0 and gets back what arrived while it was away). The
 * instances share the subscription (`$share/<REDIS_PREFIX>-<connectionId>/…`), so the broker hands
 * each message to one of them.
 *
 * A slot given up for good (fewer instances than before) would keep its session in the share
 * group, and the broker would go on queueing its share of messages there. Slots ever used are
 * remembered in Redis; an instance that finds one without a holder drains it: takes its lease,
 * resumes its session, stores what it held, and unsubscribes it so that it is sent nothing more.
 */
@Injectable()
export class ChirpstackMqttService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(ChirpstackMqttService.name);
  private readonly held = new Map<string, HeldSlot>();
  private readonly draining = new Set<string>();
  private readonly drains = new Set<Promise<void>>();
  private readonly leaseToken = `${hostname()}:${process.pid}:${randomBytes(6).toString('hex')}`;
  private readonly unreadable = new Set<string>();
  private readonly prefix: string;
  private readonly leaseMs: number;
  private readonly skipped: Counter<'connection'>;
  private reconcileTimer?: NodeJS.Timeout;
  private readonly reconciler = new SerialRunner(
    () => this.reconcile(),
    (error) => this.logger.warn(`ChirpStack MQTT: reconcile failed: ${error.message}`),
  );

  constructor(
    private readonly config: ConfigService<Settings, true>,
    private readonly connections: ConnectionsService,
    private readonly prisma: PrismaService,
    private readonly redis: RedisService,
    private readonly ingest: IngestService,
    metrics: MetricsService,
  ) {
    this.prefix = config.get('REDIS_PREFIX', { infer: true });
    this.leaseMs = config.get('CHIRPSTACK_MQTT_LEASE_MS', { infer: true });
    this.skipped = new Counter({
      name: 'lpwan_chirpstack_mqtt_skipped_total',
      help: 'ChirpStack MQTT messages that could not be read (logged and skipped), by connection',
      labelNames: ['connection'] as const,
      registers: [metrics.registry],
    });
    new Gauge({
      name: 'lpwan_chirpstack_mqtt_state',
      help: 'State of each ChirpStack MQTT subscription (1 for its current state)',
      labelNames: ['connection', 'state'] as const,
      registers: [metrics.registry],
      async collect() {
        this.reset();
        const rows = await prisma.connection.findMany({ where: { network: 'chirpstack' }, select: { id: true, settings: true, streamState: true } }).catch(() => []);
        for (const row of rows) if ((row.settings as { mqtt?: unknown }).mqtt !== undefined) this.set({ connection: row.id, state: row.streamState ?? 'stopped' }, 1);
      },
    });
  }

  onApplicationBootstrap(): void {
    if (this.config.get('BRIDGE_ROLE', { infer: true }) === 'api') return;
    this.connections.onChange(() => this.reconciler.soon());
    this.reconcileTimer = setInterval(() => this.reconciler.soon(), this.leaseMs / 2);
    this.reconciler.soon();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.reconcileTimer);
    await this.reconciler.close();
    await Promise.all([...this.drains]);
    await Promise.all([...this.held.keys()].map((id) => this.stop(id, 'shutdown')));
  }

  private async reconcile(): Promise<void> {
    if (this.redis.client.status !== 'ready') return;
    const rows = await this.prisma.connection.findMany({ where: { network: 'chirpstack' } });
    const wanted = new Map(rows.filter((row) => (row.settings as { mqtt?: unknown }).mqtt !== undefined).map((row) => [row.id, row]));
    for (const [id, held] of this.held) {
      const row = wanted.get(id);
      if (!row) await this.stop(id, 'disabled');
      else if (fingerprint(row) !== held.fingerprint) await this.stop(id, 'updated', row);
      else await held.consumer.refreshState().catch(() => undefined);
    }
    for (const row of wanted.values()) {
      if (this.reconciler.closed) return;
      if (!this.held.has(row.id)) await this.tryStart(row);
      const held = this.held.get(row.id);
      if (!held) continue;
      const drain = this.drainAbandoned(row, held.slot)
        .catch((error: Error) => this.logger.warn(`ChirpStack MQTT of connection ${row.id}: drain failed: ${error.message}`))
        .finally(() => this.drains.delete(drain));
      this.drains.add(drain);
    }
  }

  private deps(connectionId: string) {
    return { ingest: this.ingest, prisma: this.prisma, logger: this.logger, onSkipped: () => this.skipped.inc({ connection: connectionId }) };
  }

  private identity(connectionId: string, slot: number): MqttIdentity {
    return { clientId: `${this.prefix}-${connectionId}-${slot}`, shareGroup: `${this.prefix}-${connectionId}` };
  }

  private leaseKey(connectionId: string, slot: number): string {
    return `${this.prefix}:chirpstack-mqtt:${connectionId}:slot:${slot}`;
  }

  private slotsKey(connectionId: string): string {
    return `${this.prefix}:chirpstack-mqtt:${connectionId}:slots`;
  }

  private lease(connectionId: string, slot: number, onLost: (reason: string) => void): RedisLease {
    return new RedisLease(this.redis.client, this.leaseKey(connectionId, slot), this.leaseToken, this.leaseMs, onLost);
  }

  /** Takes the lowest free slot of the connection and consumes under its client id. */
  private async tryStart(row: Connection): Promise<void> {
    const connection = this.open(row);
    if (!connection) return;
    for (let slot = 0; slot < MAX_SLOTS; slot++) {
      if (this.draining.has(`${row.id}:${slot}`)) continue;
      const lease = this.lease(row.id, slot, (reason) => {
        this.logger.warn(`ChirpStack MQTT of connection ${row.id}: slot ${slot} lost (${reason})`);
        void this.stop(row.id, 'lease-lost');
      });
      if (!(await lease.acquire())) continue;
      await this.redis.client.sadd(this.slotsKey(row.id), String(slot));
      const consumer = new ChirpstackMqttConsumer(connection, this.identity(row.id, slot), this.deps(row.id));
      this.held.set(row.id, { consumer, lease, slot, fingerprint: fingerprint(row) });
      consumer.start();
      this.logger.log(`ChirpStack MQTT of connection ${row.id}: consuming as ${this.identity(row.id, slot).clientId}`);
      return;
    }
    this.logger.warn(`ChirpStack MQTT of connection ${row.id}: all ${MAX_SLOTS} slots are taken; this instance does not consume it`);
  }

  /** `updated`: `row` is the connection as it is now. */
  private async stop(id: string, reason: 'disabled' | 'updated' | 'lease-lost' | 'shutdown', row?: Connection): Promise<void> {
    const held = this.held.get(id);
    if (!held) return;
    this.held.delete(id);
    // A session keeps its subscriptions: one no longer wanted (MQTT off, another topic) is taken off it.
    const connection = row && this.open(row);
    const filterChanged = connection && (connection.settings as { mqtt?: unknown }).mqtt !== undefined && held.consumer.filterFor(connection) !== held.consumer.filter;
    if (reason === 'disabled' || filterChanged) await held.consumer.unsubscribe();
    await held.consumer.stop();
    if (reason === 'lease-lost') return;
    if (reason === 'disabled') {
      // MQTT is off for this connection: its session should queue nothing more.
      await this.redis.client.srem(this.slotsKey(id), String(held.slot)).catch(() => undefined);
    }
    await held.lease.release().catch((error: Error) => this.logger.warn(`ChirpStack MQTT of connection ${id}: lease not released: ${error.message}`));
  }

  /** Slots used before and held by nobody now: their sessions still get messages. */
  private async drainAbandoned(row: Connection, ownSlot: number): Promise<void> {
    const slots = (await this.redis.client.smembers(this.slotsKey(row.id)).catch(() => [] as string[])).map(Number);
    for (const slot of slots) {
      const key = `${row.id}:${slot}`;
      if (slot === ownSlot || this.draining.has(key) || this.reconciler.closed) continue;
      if ((await this.redis.client.exists(this.leaseKey(row.id, slot))) === 1) continue;
      const connection = this.open(row);
      if (!connection) return;
      const lease = this.lease(row.id, slot, () => undefined);
      if (!(await lease.acquire())) continue;
      this.draining.add(key);
      const consumer = new ChirpstackMqttConsumer(connection, this.identity(row.id, slot), this.deps(row.id), false);
      try {
        consumer.start();
        const started = Date.now();
        consumer.lastMessageAt = started;
        while (!this.reconciler.closed && Date.now() - started < DRAIN_MAX_MS && (!consumer.subscribed || Date.now() - consumer.lastMessageAt < DRAIN_QUIET_MS)) await sleep(100);
        if (consumer.subscribed) {
          await consumer.unsubscribe();
          await this.redis.client.srem(this.slotsKey(row.id), String(slot));
          this.logger.log(`ChirpStack MQTT of connection ${row.id}: drained the abandoned session of slot ${slot}`);
        }
      } finally {
        await consumer.stop();
        await lease.release().catch(() => undefined);
        this.draining.delete(key);
      }
    }
  }

  private open(row: Connection): OpenConnection | null {
    try {
      // From the row just read rather than ConnectionsService.open: its cache may lag another instance's update.
      const connection = this.connections.openRow(row);
      this.unreadable.delete(row.id);
      return connection;
    } catch (error) {
      if (!this.unreadable.has(row.id)) {
        this.unreadable.add(row.id);
        this.logger.error(`ChirpStack MQTT of connection ${row.id} not started: its secrets cannot be opened (${(error as Error).message}); is SECRETS_KEY the one it was saved with?`);
      }
      return null;
    }
  }
}

function fingerprint(row: Connection): string {
  return `${JSON.stringify(row.settings)}|${row.secrets ?? ''}`;
}

import { BadRequestException, ConflictException, Injectable, Logger, NotFoundException, OnApplicationBootstrap, OnModuleDestroy, UnauthorizedException } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { matchesHash, sha256Hex } from '../common/constant-time';
import { PeriodicTask } from '../common/job-queues';
import { SecretBox } from '../common/secret-box';
import { settleWithin } from '../common/settle-within';
import { isPostgresUnavailable } from '../common/unavailable';
import { parseOrBadRequest } from '../common/validation';
import { Settings } from '../config/settings';
import { PrismaService } from '../database/prisma.service';
import type { Network } from '../events/normalized-event';
import { Connection, Prisma } from '../generated/prisma/client';
import { NetworkRegistry } from '../networks/network-registry';
import { ConnectionRecord, ConnectionSnapshot } from './connection-snapshot';
import { openConnection, OpenConnection, openConnectionLeniently } from './open-connection';
import { commonSettingsSchema, CreateConnectionInput, UpdateConnectionInput } from './connection.schema';
import { IngestRateLimiter } from './ingest-rate-limiter';
import { joinSecrets, patchSettings, splitSecrets } from './secret-settings';

export type { OpenConnection } from './open-connection';
export { SecretsUnreadableError } from './open-connection';

export type ConnectionChange = { kind: 'upserted' | 'deleted'; id: string };

/** How long an instance trusts its cached copy of a connection that another instance may change. */
const CACHE_TTL_MS = 5000;
const SNAPSHOT_INTERVAL_MS = 60_000;

@Injectable()
export class ConnectionsService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly cache = new Map<string, { connection: OpenConnection | null; expires: number }>();
  /** Reads in flight: when the cached copy expires under load, the requests waiting share one read. */
  private readonly reading = new Map<string, Promise<OpenConnection | null>>();
  private readonly listeners: Array<(change: ConnectionChange) => void> = [];
  /** Only where ingest is served: a worker keeps no journal. */
  private readonly snapshot?: ConnectionSnapshot;
  private readonly readTimeoutMs: number;
  private snapshotTask?: PeriodicTask;
  private readonly logger = new Logger(ConnectionsService.name);
  /** Sealed values already reported unreadable: logged once each, not on every cache refresh. */
  private readonly reportedUnreadable = new Set<string>();

  constructor(
    private readonly prisma: PrismaService,
    private readonly secrets: SecretBox,
    private readonly networks: NetworkRegistry,
    private readonly config: ConfigService<Settings, true>,
    private readonly rateLimiter: IngestRateLimiter,
  ) {
    if (config.get('BRIDGE_ROLE', { infer: true }) !== 'worker') this.snapshot = ConnectionSnapshot.in(resolve(config.get('JOURNAL_DIR', { infer: true })));
    this.readTimeoutMs = config.get('JOURNAL_STORE_TIMEOUT_MS', { infer: true });
  }

  /** Where ingest is served, every connection is copied to disk at start and every minute after. */
  onApplicationBootstrap(): void {
    if (!this.snapshot) return;
    const snapshot = this.snapshot;
    const refresh = () => snapshot.replaceAll(async () => (await this.prisma.connection.findMany({ orderBy: { id: 'asc' } })).map(recordOf));
    this.snapshotTask = new PeriodicTask('connection snapshot', SNAPSHOT_INTERVAL_MS, refresh, this.logger).start();
    void refresh().catch(() => undefined);
  }

  onModuleDestroy(): void {
    this.snapshotTask?.stop();
  }

  /** Lets the stream consumers (TTS events, ChirpStack MQTT) follow connections without a restart. */
  onChange(listener: (change: ConnectionChange) => void): void {
    this.listeners.push(listener);
  }

  async create(input: CreateConnectionInput) {
    const adapter = this.networks.get(input.network);
    const { common, networkSettings } = await this.takeCommonSettings(input.settings);
    const settings = parseOrBadRequest(adapter.settingsSchema, networkSettings);
    const { plain, secret } = splitSecrets(adapter.secretSettings, { ...settings, ...common });
    const ingestToken = newIngestToken();
    try {
      const row = await this.prisma.connection.create({
        data: {
          id: input.id,
          network: input.network,
          name: input.name,
          settings: plain as Prisma.InputJsonObject,
          secrets: this.secrets.seal(secret),
          ingestTokenHash: sha256Hex(ingestToken),
        },
      });
      this.changed({ kind: 'upserted', id: row.id }, row);
      return { ...this.present(row), ingestToken };
    } catch (error) {
      if ((error as { code?: string }).code === 'P2002') throw new ConflictException(`connection "${input.id}" already exists`);
      throw error;
    }
  }

  async list(cursor: string | undefined, limit: number) {
    const rows = await this.prisma.connection.findMany({
      where: cursor ? { id: { gt: cursor } } : undefined,
      orderBy: { id: 'asc' },
      take: limit + 1,
    });
    const page = rows.slice(0, limit);
    return { data: page.map((row) => this.present(row)), nextCursor: rows.length > limit ? page[page.length - 1].id : null };
  }

  async get(id: string) {
    return this.present(await this.findRow(id));
  }

  async update(id: string, input: UpdateConnectionInput) {
    const row = await this.findRow(id);
    const adapter = this.networks.get(row.network);
    // Secrets sealed with another SECRETS_KEY are lost: this update sets the ones it is given.
    const current = joinSecrets(row.settings as Record<string, unknown>, this.openSecretsOrNone(row));
    const { common, networkSettings } = await this.takeCommonSettings(patchSettings(adapter.secretSettings, current, input.settings ?? {}));
    const settings = parseOrBadRequest(adapter.settingsSchema, networkSettings);
    const { plain, secret } = splitSecrets(adapter.secretSettings, { ...settings, ...common });
    const updated = await this.prisma.connection.update({
      where: { id },
      // A changed connection gets a fresh chance: a stream stopped for bad credentials restarts.
      data: { name: input.name, settings: plain as Prisma.InputJsonObject, secrets: this.secrets.seal(secret), streamError: null },
    });
    this.changed({ kind: 'upserted', id }, updated);
    return this.present(updated);
  }

  async remove(id: string): Promise<void> {
    await this.findRow(id);
    await this.prisma.connection.delete({ where: { id } });
    this.changed({ kind: 'deleted', id }, null);
  }

  /** Replaces the ingest token; install passes the one it has just given the network. */
  async rotateToken(id: string, ingestToken = newIngestToken()) {
    await this.findRow(id);
    const row = await this.prisma.connection.update({ where: { id }, data: { ingestTokenHash: sha256Hex(ingestToken) } });
    this.changed({ kind: 'upserted', id }, row);
    return { ingestToken };
  }

  async status(id: string) {
    const row = await this.findRow(id);
    const backlog = await this.prisma.device.count({ where: { connectionId: id, syncState: 'pending' } });
    return {
      id,
      network: row.network,
      stream: this.networks.get(row.network).hasStream?.(row.settings as Record<string, unknown>)
        ? { state: row.streamState ?? 'stopped', error: row.streamError, position: row.streamPosition }
        : null,
      lastEventAt: row.lastEventAt,
      syncBacklog: backlog,
    };
  }

  /** The connection an ingest request is for, once its token is checked: 404 unknown, 401 bad token. */
  async authenticateIngest(network: Network, id: string, token: string | undefined): Promise<OpenConnection> {
    const connection = await this.open(id);
    if (!connection || connection.network !== network) throw new NotFoundException(`no ${network} connection "${id}"`);
    if (!token || !matchesHash(token, connection.ingestTokenHash)) {
      throw new UnauthorizedException('missing or invalid ingest token (x-bridge-token header, Bearer, or ?token=)');
    }
    this.rateLimiter.take(id);
    return connection;
  }

  /**
   * The connection with its secrets, cached briefly: ingest looks it up on every request. When
   * Postgres is unavailable or slow, the last copy this process saw (in memory, else on disk)
   * serves, so that ingest goes on into the journal. Secrets sealed with another SECRETS_KEY fail
   * only what reads them (SecretsUnreadableError), never the lookup.
   */
  async open(id: string): Promise<OpenConnection | null> {
    const hit = this.cache.get(id);
    if (hit && hit.expires > Date.now()) return hit.connection;
    // The copy on disk is opened only if Postgres does not answer in time.
    const record = hit ? undefined : await this.snapshot?.get(id);
    if (!hit && record === undefined) return this.read(id);
    const read = await settleWithin(this.read(id), this.readTimeoutMs);
    if (read.kind === 'done') return read.value;
    if (read.kind === 'failed' && !isPostgresUnavailable(read.error)) throw read.error;
    const known = hit ? hit.connection : this.openLeniently(record!);
    // Trusted a while longer, so that the next requests do not wait for Postgres again.
    this.cache.set(id, { connection: known, expires: Date.now() + CACHE_TTL_MS });
    return known;
  }

  private read(id: string): Promise<OpenConnection | null> {
    let reading = this.reading.get(id);
    if (!reading) {
      const read: Promise<OpenConnection | null> = this.readRow(id).finally(() => {
        if (this.reading.get(id) === read) this.reading.delete(id);
      });
      this.reading.set(id, (reading = read));
    }
    return reading;
  }

  private async readRow(id: string): Promise<OpenConnection | null> {
    const row = await this.prisma.connection.findUnique({ where: { id } });
    const connection = row && this.openLeniently(row);
    this.cache.set(id, { connection, expires: Date.now() + CACHE_TTL_MS });
    void this.snapshot?.remember(id, row && recordOf(row));
    return connection;
  }

  /** A connection row with its secrets opened; throws SecretsUnreadableError when they were sealed with another SECRETS_KEY. */
  openRow(row: ConnectionRecord): OpenConnection {
    return openConnection(row, this.secrets);
  }

  /**
   * As openRow, but secrets sealed with another SECRETS_KEY fail only what reads them, so that
   * ingest, which needs none, goes on. Logged once per sealed value. What `open` serves.
   */
  private openLeniently(row: ConnectionRecord): OpenConnection {
    const secretKeys = this.networks.has(row.network) ? this.networks.get(row.network).secretSettings : [];
    return openConnectionLeniently(row, this.secrets, secretKeys, (error) => {
      if (this.reportedUnreadable.has(row.secrets ?? '')) return;
      this.reportedUnreadable.add(row.secrets ?? '');
      this.logger.error(`${error.message}; ingest goes on, what needs the secrets answers 503`);
    });
  }

  private openSecretsOrNone(row: Connection): Record<string, unknown> {
    try {
      return this.secrets.open(row.secrets);
    } catch (error) {
      this.logger.warn(`connection "${row.id}": its secrets, sealed with another SECRETS_KEY, are replaced by the update (${(error as Error).message})`);
      return {};
    }
  }

  private async findRow(id: string): Promise<Connection> {
    const row = await this.prisma.connection.findUnique({ where: { id } });
    if (!row) throw new NotFoundException(`connection "${id}" not found`);
    return row;
  }

  private changed(change: ConnectionChange, row: Connection | null): void {
    this.cache.delete(change.id);
    // A read begun before the change is not shared with the requests after it.
    this.reading.delete(change.id);
    void this.snapshot?.remember(change.id, row && recordOf(row));
    for (const listener of this.listeners) listener(change);
  }

  /** Checks the settings common to every network (a codec that exists); null or absent ones are dropped. */
  private async takeCommonSettings(settings: Record<string, unknown>) {
    const { codecId, codecOverrides, ...networkSettings } = settings;
    const common = parseOrBadRequest(commonSettingsSchema, { settings: { codecId, codecOverrides } }).settings;
    if (common.codecId && !(await this.prisma.codec.findUnique({ where: { id: common.codecId }, select: { id: true } }))) {
      throw new BadRequestException(`settings.codecId: no codec "${common.codecId}"`);
    }
    return { common: Object.fromEntries(Object.entries(common).filter(([, value]) => value !== null && value !== undefined)), networkSettings };
  }

  private present(row: Connection) {
    const adapter = this.networks.get(row.network);
    // Listing must work even for a row sealed with another SECRETS_KEY: say so instead of failing.
    let masked: Record<string, string>;
    try {
      const stored = this.secrets.open(row.secrets);
      masked = Object.fromEntries(adapter.secretSettings.filter((key) => key in stored).map((key) => [key, '***']));
    } catch {
      masked = Object.fromEntries(adapter.secretSettings.map((key) => [key, '*** (unreadable with this SECRETS_KEY)']));
    }
    const settings = joinSecrets(row.settings as Record<string, unknown>, masked);
    const publicUrl = this.config.get('PUBLIC_URL', { infer: true }).replace(/\/$/, '');
    const ingestUrls = Object.fromEntries(Object.entries(adapter.ingestPaths(row.id)).map(([purpose, path]) => [purpose, publicUrl + path]));
    return {
      id: row.id,
      network: row.network,
      name: row.name,
      settings,
      ingestUrls,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
    };
  }
}

function recordOf(row: Connection): ConnectionRecord {
  return { id: row.id, network: row.network, name: row.name, settings: row.settings, secrets: row.secrets, ingestTokenHash: row.ingestTokenHash };
}

export function newIngestToken(): string {
  return `ing_${randomBytes(24).toString('base64url')}`;
}

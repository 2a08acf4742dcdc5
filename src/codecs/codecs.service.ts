import { BadRequestException, ConflictException, Injectable, NotFoundException, ServiceUnavailableException } from '@nestjs/common';
import { Page } from '../common/pagination';
import { PrismaService } from '../database/prisma.service';
import { Codec } from '../generated/prisma/client';
import { MetricsService } from '../metrics/metrics.service';
import { CodecRunner } from './codec-runner.service';
import type { CodecFunction } from './sandbox';
import { Decoding, Encoding } from './codec-results';
import { CreateCodecInput, ReplaceCodecInput, TestCodecInput } from './codec.schema';

/** A codec as ingest and downlinks use it: one version of its script. */
export type CodecVersion = Pick<Codec, 'id' | 'version' | 'script' | 'encodes'>;
export type { Decoding, Encoding } from './codec-results';

interface CallMetrics {
  seconds: { observe(value: number): void };
  ok: { inc(): void };
  errors: { inc(): void };
}

/** Another process's replace of a codec applies here within this time. */
const CACHE_TTL_MS = 2000;

/** The codecs (SPEC §9): stored scripts, checked when saved, and the calls into them. */
@Injectable()
export class CodecsService {
  private readonly cache = new Map<string, { codec: CodecVersion | null; expires: number }>();
  private readonly callMetrics = new Map<string, CallMetrics>();

  constructor(
    private readonly prisma: PrismaService,
    private readonly runner: CodecRunner,
    private readonly metrics: MetricsService,
  ) {}

  async create(input: CreateCodecInput) {
    const encodes = await this.compile(input.script);
    try {
      const row = await this.prisma.codec.create({ data: { ...input, encodes } });
      this.cache.delete(row.id);
      return present(row);
    } catch (error) {
      if ((error as { code?: string }).code === 'P2002') throw new ConflictException(`codec "${input.id}" already exists`);
      throw error;
    }
  }

  /** Without the scripts: a page of them could weigh megabytes. */
  async list(cursor: string | undefined, limit: number): Promise<Page<CodecSummary>> {
    const rows = await this.prisma.codec.findMany({
      where: cursor ? { id: { gt: cursor } } : undefined,
      omit: { script: true },
      orderBy: { id: 'asc' },
      take: limit + 1,
    });
    const page = rows.slice(0, limit);
    return { data: page.map(summary), nextCursor: rows.length > limit ? page[page.length - 1].id : null };
  }

  async get(id: string) {
    return present(await this.findRow(id));
  }

  async replace(id: string, input: ReplaceCodecInput) {
    await this.findRow(id);
    const encodes = await this.compile(input.script);
    const row = await this.prisma.codec.update({ where: { id }, data: { ...input, encodes, version: { increment: 1 } } });
    this.cache.delete(id);
    return present(row);
  }

  /** A codec still named by a connection or a device is kept (409): their uplinks would lose it. */
  async remove(id: string): Promise<void> {
    await this.findRow(id);
    const [connections, devices] = await Promise.all([
      this.prisma.connection.findMany({ where: { settings: { path: ['codecId'], equals: id } }, select: { id: true }, take: 5 }),
      this.prisma.device.count({ where: { codecId: id } }),
    ]);
    if (connections.length || devices) {
      const users = [connections.length ? `connection(s) ${connections.map((c) => c.id).join(', ')}` : '', devices ? `${devices} device(s)` : ''].filter(Boolean);
      throw new ConflictException(`codec "${id}" is in use by ${users.join(' and ')}: remove it from them first`);
    }
    await this.prisma.codec.delete({ where: { id } }).catch((error: unknown) => {
      // A device given this codec since the check above.
      if ((error as { code?: string }).code === 'P2003') throw new ConflictException(`codec "${id}" is in use by a device: remove it from it first`);
      throw error;
    });
    this.cache.delete(id);
  }

  /** Runs the stored codec on the given bytes, or encodes the given data, and answers what it made. */
  async test(id: string, input: TestCodecInput): Promise<Decoding | Encoding> {
    const codec = await this.findRow(id);
    if (input.data !== undefined) return this.encode(codec, input.data);
    const payloadHex = input.payloadHex ?? Buffer.from(input.bytes ?? []).toString('hex');
    return this.decode(codec, payloadHex, input.fPort ?? 1, input.recvTime ? Date.parse(input.recvTime) : Date.now());
  }

  /** The codec's current version, cached briefly: ingest asks on every uplink. The database unreachable, the last one read. */
  async current(id: string): Promise<CodecVersion | null> {
    const hit = this.cache.get(id);
    if (hit && hit.expires > Date.now()) return hit.codec;
    const codec = await this.prisma.codec.findUnique({ where: { id }, select: { id: true, version: true, script: true, encodes: true } }).catch((error: unknown) => {
      if (hit) return hit.codec;
      throw error;
    });
    this.cache.set(id, { codec, expires: Date.now() + CACHE_TTL_MS });
    return codec;
  }

  /** decodeUplink (TS013) on a payload given as hex. Never throws: whatever goes wrong is a decodeErrors entry. */
  async decode(codec: CodecVersion, payloadHex: string, fPort: number, recvTime: number): Promise<Decoding> {
    const { decoding, ms } = await this.runner.decode(keyOf(codec), codec.script, payloadHex, fPort, recvTime);
    const metrics = this.metricsOf(codec.id, 'decodeUplink');
    metrics.seconds.observe(ms / 1000);
    (decoding.decodeErrors.length ? metrics.errors : metrics.ok).inc();
    return decoding;
  }

  /** encodeDownlink (TS013): the bytes and port to send, or the codec's reasons to refuse. */
  async encode(codec: CodecVersion, data: unknown): Promise<Encoding> {
    if (!codec.encodes) return { ok: false, errors: [`codec "${codec.id}" defines no encodeDownlink`] };
    const { encoding, ms } = await this.runner.encode(keyOf(codec), codec.script, data);
    const metrics = this.metricsOf(codec.id, 'encodeDownlink');
    metrics.seconds.observe(ms / 1000);
    (encoding.ok ? metrics.ok : metrics.errors).inc();
    return encoding;
  }

  /** The metrics of a codec's calls, looked up once per codec: ingest counts every uplink's. */
  private metricsOf(codecId: string, fn: CodecFunction): CallMetrics {
    const name = `${codecId}\u0000${fn}`;
    let metrics = this.callMetrics.get(name);
    if (!metrics) {
      metrics = {
        seconds: this.metrics.codecCallSeconds.labels({ codec: codecId, function: fn }),
        ok: this.metrics.codecCalls.labels({ codec: codecId, function: fn, outcome: 'ok' }),
        errors: this.metrics.codecCalls.labels({ codec: codecId, function: fn, outcome: 'error' }),
      };
      this.callMetrics.set(name, metrics);
    }
    return metrics;
  }

  private async compile(script: string): Promise<boolean> {
    const checked = await this.runner.check(script);
    if ('unavailable' in checked) throw new ServiceUnavailableException(`the script cannot be checked now: ${checked.unavailable}`);
    if ('error' in checked) throw new BadRequestException(`script: ${checked.error}`);
    return checked.encodes;
  }

  private async findRow(id: string): Promise<Codec> {
    const row = await this.prisma.codec.findUnique({ where: { id } });
    if (!row) throw new NotFoundException(`codec "${id}" not found`);
    return row;
  }
}

function keyOf(codec: CodecVersion): string {
  return `${codec.id}@${codec.version}`;
}

type CodecSummary = Omit<Codec, 'script'>;

function summary(row: CodecSummary): CodecSummary {
  return { id: row.id, name: row.name, version: row.version, encodes: row.encodes, createdAt: row.createdAt, updatedAt: row.updatedAt };
}

function present(row: Codec) {
  return { ...summary(row), script: row.script };
}

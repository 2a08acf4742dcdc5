import { BadRequestException, ConflictException, Injectable, NotFoundException, ServiceUnavailableException } from '@nestjs/common';
import { Page } from '../common/pagination';
import { PrismaService } from '../database/prisma.service';
import { Codec } from '../generated/prisma/client';
import { MetricsService } from '../metrics/metrics.service';
import { CodecRunner } from './codec-runner.service';
import { CreateCodecInput, decodeResultSchema, encodeResultSchema, ReplaceCodecInput, TestCodecInput } from './codec.schema';

/** A codec as ingest and downlinks use it: one version of its script. */
export type CodecVersion = Pick<Codec, 'id' | 'version' | 'script' | 'encodes'>;

/** What a codec made of an uplink: `decoded` is null whenever it reported errors. */
export interface Decoding {
  decoded: unknown;
  decodeErrors: string[];
  decodeWarnings: string[];
}

export type Encoding = { ok: true; bytes: number[]; fPort: number | undefined; warnings: string[] } | { ok: false; errors: string[] };

/** Another process's replace of a codec applies here within this time. */
const CACHE_TTL_MS = 2000;
const MAX_MESSAGES = 20;

/** The codecs (SPEC §9): stored scripts, checked when saved, and the calls into them. */
@Injectable()
export class CodecsService {
  private readonly cache = new Map<string, { codec: CodecVersion | null; expires: number }>();

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
    const bytes = input.bytes ?? [...Buffer.from(input.payloadHex ?? '', 'hex')];
    return this.decode(codec, bytes, input.fPort ?? 1, input.recvTime ? Date.parse(input.recvTime) : Date.now());
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

  /** decodeUplink (TS013). Never throws: whatever goes wrong is a decodeErrors entry. */
  async decode(codec: CodecVersion, bytes: number[], fPort: number, recvTime: number): Promise<Decoding> {
    const outcome = await this.runner.run(keyOf(codec), codec.script, 'decodeUplink', { bytes, fPort }, recvTime);
    this.metrics.codecCallSeconds.observe({ codec: codec.id, function: 'decodeUplink' }, outcome.ms / 1000);
    const decoding = outcome.ok ? readDecoding(outcome.value) : { decoded: null, decodeErrors: [outcome.error], decodeWarnings: [] };
    this.metrics.codecCalls.inc({ codec: codec.id, function: 'decodeUplink', outcome: decoding.decodeErrors.length ? 'error' : 'ok' });
    return decoding;
  }

  /** encodeDownlink (TS013): the bytes and port to send, or the codec's reasons to refuse. */
  async encode(codec: CodecVersion, data: unknown): Promise<Encoding> {
    if (!codec.encodes) return { ok: false, errors: [`codec "${codec.id}" defines no encodeDownlink`] };
    const outcome = await this.runner.run(keyOf(codec), codec.script, 'encodeDownlink', { data }, Date.now());
    this.metrics.codecCallSeconds.observe({ codec: codec.id, function: 'encodeDownlink' }, outcome.ms / 1000);
    const encoding: Encoding = outcome.ok ? readEncoding(outcome.value) : { ok: false, errors: [outcome.error] };
    this.metrics.codecCalls.inc({ codec: codec.id, function: 'encodeDownlink', outcome: encoding.ok ? 'ok' : 'error' });
    return encoding;
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

function readDecoding(value: unknown): Decoding {
  const result = decodeResultSchema.safeParse(value);
  if (!result.success) return { decoded: null, decodeErrors: ['decodeUplink must return { data, warnings?, errors? }'], decodeWarnings: [] };
  const decodeErrors = messages(result.data.errors);
  const decodeWarnings = messages(result.data.warnings);
  if (!decodeErrors.length && result.data.data === undefined) decodeErrors.push('decodeUplink returned no data');
  return { decoded: decodeErrors.length ? null : result.data.data, decodeErrors, decodeWarnings };
}

function readEncoding(value: unknown): Encoding {
  const result = encodeResultSchema.safeParse(value);
  if (!result.success) return { ok: false, errors: ['encodeDownlink must return { bytes: [0-255, …], fPort?, warnings?, errors? }'] };
  const errors = messages(result.data.errors);
  if (errors.length) return { ok: false, errors };
  if (!result.data.bytes?.length) return { ok: false, errors: ['encodeDownlink returned no bytes'] };
  return { ok: true, bytes: result.data.bytes, fPort: result.data.fPort, warnings: messages(result.data.warnings) };
}

/** A codec's warnings or errors as stored in the event: strings, a bounded number of them. */
function messages(list: unknown[] | undefined): string[] {
  return (list ?? []).slice(0, MAX_MESSAGES).map((message) => {
    const text = typeof message === 'string' ? message : JSON.stringify(message);
    return text.length > 500 ? `${text.slice(0, 500)}…` : text;
  });
}

type CodecSummary = Omit<Codec, 'script'>;

function summary(row: CodecSummary): CodecSummary {
  return { id: row.id, name: row.name, version: row.version, encodes: row.encodes, createdAt: row.createdAt, updatedAt: row.updatedAt };
}

function present(row: Codec) {
  return { ...summary(row), script: row.script };
}

import { HttpException, HttpStatus, Injectable, NotFoundException } from '@nestjs/common';
import { z } from 'zod';
import { pageQuerySchema } from '../common/pagination';
import { isoTimestamp } from '../common/validation';
import { PrismaService } from '../database/prisma.service';
import { NetworkRegistry } from '../networks/network-registry';
import type { Readable } from 'node:stream';
import { EventFilter, EventHistory, EventJson } from './event-history.service';
import { exportStream } from './event-export';
import { EVENT_TYPES, networkNameSchema } from './normalized-event';

/** The filters of history and export. */
const eventFilterShape = {
  type: z.enum(EVENT_TYPES).optional(),
  network: networkNameSchema.optional(),
  connectionId: z.string().max(36).optional(),
  externalId: z
    .string()
    .max(64)
    .transform((v) => v.toUpperCase())
    .optional(),
  deviceId: z.uuid().optional(),
  /** Only events the network received at or after / before this time. */
  from: isoTimestamp.optional(),
  to: isoTimestamp.optional(),
};

export const historyQuerySchema = pageQuerySchema.extend({
  cursor: z.uuid('must be the nextCursor of a previous page').optional(),
  ...eventFilterShape,
});
export type HistoryQuery = z.infer<typeof historyQuerySchema>;

const MAX_CONCURRENT_EXPORTS = 4;

export const EXPORT_FORMATS = ['ndjson', 'csv'] as const;

export const exportQuerySchema = z.object({
  format: z.enum(EXPORT_FORMATS, 'must be ndjson or csv').default('ndjson'),
  ...eventFilterShape,
});
export type ExportQuery = z.infer<typeof exportQuerySchema>;

@Injectable()
export class HistoryService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly events: EventHistory,
    private readonly networks: NetworkRegistry,
  ) {}

  private exportsRunning = 0;

  /**
   * A page (`{ data, nextCursor }`, SPEC §8) as JSON text, newest first; ids are UUIDv7, so id
   * order is arrival order and a stable cursor.
   */
  async list(query: HistoryQuery): Promise<string> {
    return pageJson(await this.events.findPage({ ...this.filterOf(query), before: query.cursor }, query.limit + 1), query.limit);
  }

  /**
   * Every matching event, oldest first, streamed from a cursor with one batch in memory at a time.
   * Each export holds a database connection while it runs: a few at once per process leave the
   * pool to ingest.
   */
  async export(query: ExportQuery): Promise<Readable> {
    if (this.exportsRunning >= MAX_CONCURRENT_EXPORTS) {
      throw new HttpException(`${MAX_CONCURRENT_EXPORTS} exports are already running on this process: retry when one ends`, HttpStatus.TOO_MANY_REQUESTS);
    }
    this.exportsRunning++;
    try {
      const stream = exportStream(await this.events.openCursor(this.filterOf(query), query.format), query.format);
      stream.once('close', () => this.exportsRunning--);
      return stream;
    } catch (error) {
      this.exportsRunning--;
      throw error;
    }
  }

  private filterOf(query: Omit<ExportQuery, 'format'>): EventFilter {
    this.networks.requireKnown(query.network);
    return {
      type: query.type,
      network: query.network,
      connectionId: query.connectionId,
      // With the network named, its own spelling rules apply (a Sigfox id may come zero-padded).
      externalId: query.externalId && this.networks.canonicalExternalId(query.network, query.externalId),
      deviceId: query.deviceId,
      from: query.from ? new Date(query.from) : undefined,
      to: query.to ? new Date(query.to) : undefined,
    };
  }

  /** A device with events exists: only an empty page needs asking whether the device does. */
  async listForDevice(deviceId: string, query: HistoryQuery): Promise<string> {
    const events = await this.events.findPage({ ...this.filterOf(query), deviceId, before: query.cursor }, query.limit + 1);
    if (events.length === 0 && !(await this.prisma.device.findUnique({ where: { id: deviceId }, select: { id: true } }))) {
      throw new NotFoundException(`device "${deviceId}" not found`);
    }
    return pageJson(events, query.limit);
  }
}

/** `events` holds one more than a page when there is a next one. */
function pageJson(events: EventJson[], limit: number): string {
  const page = events.slice(0, limit);
  const nextCursor = events.length > limit ? page[page.length - 1].id : null;
  return `{"data":[${page.map((event) => event.json).join(',')}],"nextCursor":${JSON.stringify(nextCursor)}}`;
}

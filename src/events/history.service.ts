import { Injectable, NotFoundException } from '@nestjs/common';
import { z } from 'zod';
import { Page, pageQuerySchema } from '../common/pagination';
import { isoTimestamp } from '../common/validation';
import { PrismaService } from '../database/prisma.service';
import { NetworkRegistry } from '../networks/network-registry';
import { EventStore } from './event-store.service';
import { EVENT_TYPES, networkNameSchema, NormalizedEvent } from './normalized-event';

export const historyQuerySchema = pageQuerySchema.extend({
  cursor: z.uuid('must be the nextCursor of a previous page').optional(),
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
});
export type HistoryQuery = z.infer<typeof historyQuerySchema>;

@Injectable()
export class HistoryService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly store: EventStore,
    private readonly networks: NetworkRegistry,
  ) {}

  /** Newest first; ids are UUIDv7, so id order is arrival order and a stable cursor. */
  async list(query: HistoryQuery): Promise<Page<NormalizedEvent>> {
    this.networks.requireKnown(query.network);
    const rows = await this.store.findPage(
      {
        type: query.type,
        network: query.network,
        connectionId: query.connectionId,
        // With the network named, its own spelling rules apply (a Sigfox id may come zero-padded).
        externalId: query.externalId && this.networks.canonicalExternalId(query.network, query.externalId),
        deviceId: query.deviceId,
        before: query.cursor,
        from: query.from ? new Date(query.from) : undefined,
        to: query.to ? new Date(query.to) : undefined,
      },
      query.limit + 1,
    );
    const page = rows.slice(0, query.limit);
    return { data: page, nextCursor: rows.length > query.limit ? page[page.length - 1].id : null };
  }

  /** A device with events exists: only an empty page needs asking whether the device does. */
  async listForDevice(deviceId: string, query: HistoryQuery): Promise<Page<NormalizedEvent>> {
    const page = await this.list({ ...query, deviceId });
    if (page.data.length === 0 && !(await this.prisma.device.findUnique({ where: { id: deviceId }, select: { id: true } }))) {
      throw new NotFoundException(`device "${deviceId}" not found`);
    }
    return page;
  }
}

import { Injectable, NotFoundException } from '@nestjs/common';
import { z } from 'zod';
import { Page, pageQuerySchema } from '../common/pagination';
import { PrismaService } from '../database/prisma.service';
import { Prisma } from '../generated/prisma/client';
import { toNormalizedEvent } from './event-store.service';
import { EVENT_TYPES, NETWORKS, NormalizedEvent } from './normalized-event';

export const historyQuerySchema = pageQuerySchema.extend({
  cursor: z.uuid('must be the nextCursor of a previous page').optional(),
  type: z.enum(EVENT_TYPES).optional(),
  network: z.enum(NETWORKS).optional(),
  connectionId: z.string().max(36).optional(),
  externalId: z
    .string()
    .max(64)
    .transform((v) => v.toUpperCase())
    .optional(),
  deviceId: z.uuid().optional(),
  /** Only events the network received at or after / before this time. */
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
});
export type HistoryQuery = z.infer<typeof historyQuerySchema>;

@Injectable()
export class HistoryService {
  constructor(private readonly prisma: PrismaService) {}

  /** Newest first; ids are UUIDv7, so id order is arrival order and a stable cursor. */
  async list(query: HistoryQuery): Promise<Page<NormalizedEvent>> {
    const where: Prisma.EventWhereInput = {
      type: query.type,
      network: query.network,
      connectionId: query.connectionId,
      externalId: query.externalId,
      deviceId: query.deviceId,
      id: query.cursor ? { lt: query.cursor } : undefined,
      time: query.from || query.to ? { gte: query.from ? new Date(query.from) : undefined, lt: query.to ? new Date(query.to) : undefined } : undefined,
    };
    const rows = await this.prisma.event.findMany({ where, orderBy: { id: 'desc' }, take: query.limit + 1 });
    const page = rows.slice(0, query.limit);
    return { data: page.map(toNormalizedEvent), nextCursor: rows.length > query.limit ? page[page.length - 1].id : null };
  }

  async listForDevice(deviceId: string, query: HistoryQuery): Promise<Page<NormalizedEvent>> {
    const device = await this.prisma.device.findUnique({ where: { id: deviceId }, select: { id: true } });
    if (!device) throw new NotFoundException(`device "${deviceId}" not found`);
    return this.list({ ...query, deviceId });
  }
}

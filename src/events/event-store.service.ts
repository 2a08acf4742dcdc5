import { Injectable } from '@nestjs/common';
import { uuid7 } from '../common/uuid7';
import { PrismaService } from '../database/prisma.service';
import { DeviceDirectory, DeviceRef } from '../devices/device-directory.service';
import { Event, Prisma } from '../generated/prisma/client';
import type { OpenConnection } from '../connections/connections.service';
import { IncomingEvent, NormalizedEvent } from './normalized-event';
import { mergeRadio } from './radio';

type EventBody = Omit<NormalizedEvent, 'id' | 'type' | 'network' | 'connectionId' | 'time' | 'receivedAt' | 'raw'>;

export interface StoredEvent {
  id: string;
  deviceId: string;
  /** False when it was a copy of an event already stored (merged into it). */
  isNew: boolean;
  type: NormalizedEvent['type'];
}

/** Device-specific side data an ingest brings along (Helium's downlink URL). */
export interface IngestContext {
  downlinkUrl?: string | null;
}

@Injectable()
export class EventStore {
  constructor(
    private readonly prisma: PrismaService,
    private readonly devices: DeviceDirectory,
  ) {}

  /** Stores each event once per dedup key; a later copy only adds its gateways to the first. */
  async store(connection: OpenConnection, incoming: IncomingEvent[], context: IngestContext = {}): Promise<StoredEvent[]> {
    const receivedAt = new Date();
    const stored: StoredEvent[] = [];
    for (const event of incoming) {
      const device = await this.devices.resolve(connection.id, event.device, { at: receivedAt, downlinkUrl: context.downlinkUrl });
      const row = this.toRow(connection, event, device, receivedAt);
      const created = await this.prisma.event.createManyAndReturn({ data: [row], skipDuplicates: true, select: { id: true } });
      const isNew = created.length === 1;
      stored.push({ id: isNew ? row.id : await this.mergeCopy(connection.id, event), deviceId: device.id, isNew, type: event.type });
    }
    return stored;
  }

  /** The events among `ids` not yet published to MQTT (a job may run again after a crash). */
  async findUnpublishedByIds(ids: string[]): Promise<NormalizedEvent[]> {
    const rows = await this.prisma.event.findMany({ where: { id: { in: ids }, publishedAt: null } });
    return rows.map(toNormalizedEvent);
  }

  async markPublished(ids: string[]): Promise<void> {
    await this.prisma.event.updateMany({ where: { id: { in: ids }, publishedAt: null }, data: { publishedAt: new Date() } });
  }

  /** Events still waiting for MQTT after `olderThanMs`: their job was lost (Redis down, worker killed). */
  async findUnpublished(olderThanMs: number, limit: number): Promise<Array<{ id: string }>> {
    return this.prisma.event.findMany({
      where: { publishedAt: null, receivedAt: { lt: new Date(Date.now() - olderThanMs) } },
      select: { id: true },
      orderBy: { receivedAt: 'asc' },
      take: limit,
    });
  }

  private async mergeCopy(connectionId: string, event: IncomingEvent): Promise<string> {
    return this.prisma.$transaction(async (tx) => {
      const [first] = await tx.$queryRaw<Array<{ id: string; body: EventBody }>>`
        SELECT id, body FROM events WHERE connection_id = ${connectionId} AND dedup_key = ${event.dedupKey} FOR UPDATE`;
      const radio = mergeRadio(first.body.radio, event.radio);
      if (JSON.stringify(radio) !== JSON.stringify(first.body.radio)) {
        await tx.event.update({ where: { id: first.id }, data: { body: { ...first.body, radio } as unknown as Prisma.InputJsonObject } });
      }
      return first.id;
    });
  }

  private toRow(connection: OpenConnection, event: IncomingEvent, device: DeviceRef, receivedAt: Date): Prisma.EventCreateManyInput {
    const body: EventBody = {
      device,
      uplink: event.uplink,
      radio: event.radio,
      status: event.status,
      ack: event.ack,
      location: event.location,
    };
    return {
      id: uuid7(receivedAt.getTime()),
      connectionId: connection.id,
      deviceId: device.id,
      network: connection.network,
      type: event.type,
      externalId: device.externalId,
      dedupKey: event.dedupKey,
      time: new Date(event.time),
      receivedAt,
      body: body as unknown as Prisma.InputJsonObject,
      raw: (event.raw ?? {}) as Prisma.InputJsonValue,
    };
  }
}

export function toNormalizedEvent(row: Event): NormalizedEvent {
  const body = row.body as unknown as EventBody;
  return {
    id: row.id,
    type: row.type as NormalizedEvent['type'],
    network: row.network as NormalizedEvent['network'],
    connectionId: row.connectionId,
    device: body.device,
    time: row.time.toISOString(),
    receivedAt: row.receivedAt.toISOString(),
    uplink: body.uplink,
    radio: body.radio,
    status: body.status,
    ack: body.ack,
    location: body.location,
    raw: row.raw,
  };
}

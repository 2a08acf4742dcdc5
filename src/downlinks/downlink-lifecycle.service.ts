import { Injectable, OnModuleInit } from '@nestjs/common';
import { z } from 'zod';
import type { OpenConnection } from '../connections/connections.service';
import { PrismaService } from '../database/prisma.service';
import type { DeviceRef } from '../devices/device-directory.service';
import type { EventType, IncomingEvent } from '../events/normalized-event';
import { Device, Downlink } from '../generated/prisma/client';
import { IngestService } from '../ingest/ingest.service';
import { NetworkRegistry } from '../networks/network-registry';
import { DownlinkSender } from './downlink-sender';

export type DownlinkState = 'queued' | 'sent' | 'acked' | 'failed';

/** What a lifecycle event tells of its downlink. */
export type DownlinkFacts = Pick<Downlink, 'id' | 'port' | 'payloadHex' | 'confirmed' | 'state'>;

/**
 * What a network's own downlink event does to the bridge downlink it names: the states it may move
 * it from, and to. `failed → acked`: TTS queues a nacked downlink again and the retry may be acked.
 */
export const NETWORK_OUTCOMES: Partial<Record<EventType, { from: DownlinkState[]; to: DownlinkState | null }>> = {
  'downlink.queued': { from: [], to: null },
  'downlink.sent': { from: ['queued'], to: 'sent' },
  'downlink.acked': { from: ['queued', 'sent', 'failed'], to: 'acked' },
  'downlink.failed': { from: ['queued', 'sent'], to: 'failed' },
};

const isUuid = (value: string) => z.uuid().safeParse(value).success;

/**
 * A downlink's state changes, each also a `downlink.*` event (SPEC §7), whichever path makes them:
 * the bridge's own delivery, a Sigfox callback collecting it, or the network's events about it.
 */
@Injectable()
export class DownlinkLifecycle implements OnModuleInit {
  constructor(
    private readonly prisma: PrismaService,
    private readonly ingest: IngestService,
    private readonly networks: NetworkRegistry,
  ) {}

  onModuleInit(): void {
    this.ingest.intercept((connection, events) => this.adoptNetworkEvents(connection, events));
  }

  /** Publishes a lifecycle event like any other event: stored, deduplicated, fanned out. */
  async emit(connection: OpenConnection, device: DeviceRef, downlink: DownlinkFacts, type: EventType, info: string | null): Promise<void> {
    await this.ingest.accept(connection, [
      {
        type,
        dedupKey: lifecycleDedupKey(downlink.id, type),
        device: { externalId: device.externalId },
        time: new Date().toISOString(),
        uplink: null,
        radio: null,
        status: null,
        ack: { downlinkId: downlink.id, info },
        location: null,
        raw: { downlinkId: downlink.id, port: downlink.port, payloadHex: downlink.payloadHex, confirmed: downlink.confirmed, state: downlink.state },
      },
    ]);
  }

  /** Moves a downlink on only from one of `from`: whichever path gets there first wins, the others do nothing. */
  async transition(id: string, from: DownlinkState[], to: DownlinkState, data: { error?: string | null; sentAt?: Date }): Promise<Downlink | null> {
    const [moved] = await this.prisma.downlink.updateManyAndReturn({ where: { id, state: { in: from } }, data: { state: to, ...data } });
    return moved ?? null;
  }

  /**
   * Runs before every ingest is stored. A network's own `downlink.*` event about one of the bridge's
   * downlinks (TTS hands back the correlation id the bridge gave it; ChirpStack names the queue item
   * its Enqueue answered) moves that downlink's state, and
   * becomes that downlink's lifecycle event: `ack.downlinkId` is the bridge's id and it shares the
   * dedup key of the bridge's own event of that type, so consumers see each lifecycle step once.
   */
  private async adoptNetworkEvents(connection: OpenConnection, events: IncomingEvent[]): Promise<IncomingEvent[]> {
    const sender = this.networks.has(connection.network) ? this.networks.get(connection.network).downlinks : undefined;
    if (!sender || !(sender.downlinkIdOf || sender.networkRefOf) || !events.some((event) => NETWORK_OUTCOMES[event.type])) return events;
    return Promise.all(
      events.map(async (event) => {
        const outcome = NETWORK_OUTCOMES[event.type];
        const downlink = outcome && (await this.downlinkNamedBy(connection.id, sender, event));
        if (!outcome || !downlink) return event;
        const downlinkId = downlink.id;
        const info = event.ack?.info ?? null;
        if (outcome.to) {
          await this.transition(downlinkId, outcome.from, outcome.to, {
            error: outcome.to === 'failed' ? info : null,
            ...(outcome.to === 'sent' ? { sentAt: new Date() } : {}),
          });
        }
        return { ...event, dedupKey: lifecycleDedupKey(downlinkId, event.type), ack: { downlinkId, info } };
      }),
    );
  }

  /** The bridge's downlink a network's event names, by the bridge's id or by the network's reference. */
  private async downlinkNamedBy(connectionId: string, sender: DownlinkSender, event: IncomingEvent): Promise<{ id: string } | null> {
    const downlinkId = sender.downlinkIdOf?.(event);
    if (downlinkId && isUuid(downlinkId)) return this.prisma.downlink.findFirst({ where: { id: downlinkId, connectionId }, select: { id: true } });
    const networkRef = sender.networkRefOf?.(event);
    return networkRef ? this.prisma.downlink.findFirst({ where: { networkRef, connectionId }, select: { id: true } }) : null;
  }
}

function lifecycleDedupKey(downlinkId: string, type: EventType): string {
  return `downlink:${downlinkId}:${type}`;
}

export function deviceRefOf(device: Device): DeviceRef {
  return { id: device.id, externalId: device.externalId, name: device.name, devEui: device.devEui, joinEui: device.joinEui };
}

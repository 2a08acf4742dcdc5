import { Injectable } from '@nestjs/common';
import { uuid7 } from '../../common/uuid7';
import { PrismaService } from '../../database/prisma.service';
import type { NormalizedEvent } from '../../events/normalized-event';
import { ALL_EVENTS } from './webhook.schema';
import { WebhookQueue } from './webhook-queue.service';

type DispatchedEvent = Pick<NormalizedEvent, 'id' | 'type' | 'network' | 'connectionId' | 'time'>;

interface PlannedDelivery {
  id: string;
  webhookId: string;
  eventId: string;
  eventTime: Date;
  status: 'pending';
  nextAttemptAt: Date;
}

interface ActiveWebhook {
  id: string;
  events: string[];
  networks: string[];
  connectionIds: string[];
}

/**
 * How long the list of active webhooks is reused: the publish path reads it for every batch.
 * A change made through another instance is seen within this time.
 */
const ACTIVE_WEBHOOKS_TTL_MS = 2000;

/** Turns published events into one delivery per matching active webhook. */
@Injectable()
export class WebhookDispatcher {
  private active?: { webhooks: ActiveWebhook[]; expires: number };
  /** The read in flight: the batches that find the list expired share it. */
  private reading?: Promise<ActiveWebhook[]>;

  constructor(
    private readonly prisma: PrismaService,
    private readonly queue: WebhookQueue,
  ) {}

  /** Called by WebhooksService after a change on this instance, which then applies at once. */
  invalidate(): void {
    this.active = undefined;
    // A read begun before the change is not shared with the batches after it.
    this.reading = undefined;
  }

  /** One delivery per active webhook an event matches: none yet created (see dispatch). */
  async deliveriesFor(events: DispatchedEvent[]): Promise<PlannedDelivery[]> {
    const webhooks = await this.activeWebhooks();
    if (webhooks.length === 0) return [];
    const now = new Date();
    return events.flatMap((event) =>
      webhooks
        .filter((webhook) => matches(webhook, event))
        .map((webhook) => ({ id: uuid7(now.getTime()), webhookId: webhook.id, eventId: event.id, eventTime: new Date(event.time), status: 'pending', nextAttemptAt: now })),
    );
  }

  /**
   * Idempotent: (webhook, event) is unique, so running it again for an event (a publish job
   * retried after a crash) creates and queues nothing twice.
   */
  async dispatch(deliveries: PlannedDelivery[]): Promise<void> {
    if (deliveries.length === 0) return;
    const created = await this.prisma.webhookDelivery.createManyAndReturn({ data: deliveries, skipDuplicates: true, select: { id: true, eventTime: true } });
    await this.queue.enqueueOrLeaveToSweeper(created.map((delivery) => ({ id: delivery.id, attempts: 0, eventTime: delivery.eventTime })));
  }

  private async activeWebhooks(): Promise<ActiveWebhook[]> {
    if (this.active && this.active.expires > Date.now()) return this.active.webhooks;
    if (!this.reading) {
      const read: Promise<ActiveWebhook[]> = this.readActive().finally(() => {
        if (this.reading === read) this.reading = undefined;
      });
      this.reading = read;
    }
    return this.reading;
  }

  private async readActive(): Promise<ActiveWebhook[]> {
    const webhooks = await this.prisma.webhook.findMany({
      where: { active: true },
      select: { id: true, events: true, networks: true, connectionIds: true },
    });
    this.active = { webhooks, expires: Date.now() + ACTIVE_WEBHOOKS_TTL_MS };
    return webhooks;
  }
}

/** Empty `networks` / `connectionIds` mean all; `events` may be ["*"]. */
function matches(webhook: ActiveWebhook, event: DispatchedEvent): boolean {
  return (
    (webhook.events.includes(event.type) || webhook.events.includes(ALL_EVENTS)) &&
    (webhook.networks.length === 0 || webhook.networks.includes(event.network)) &&
    (webhook.connectionIds.length === 0 || webhook.connectionIds.includes(event.connectionId))
  );
}

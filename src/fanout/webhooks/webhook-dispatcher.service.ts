import { Injectable } from '@nestjs/common';
import { uuid7 } from '../../common/uuid7';
import { PrismaService } from '../../database/prisma.service';
import type { NormalizedEvent } from '../../events/normalized-event';
import { ALL_EVENTS } from './webhook.schema';
import { WebhookQueue } from './webhook-queue.service';

/** Turns a published event into one delivery per matching active webhook. */
@Injectable()
export class WebhookDispatcher {
  constructor(
    private readonly prisma: PrismaService,
    private readonly queue: WebhookQueue,
  ) {}

  /**
   * Idempotent: (webhook, event) is unique, so running it again for an event (a publish job
   * retried after a crash) creates and queues nothing twice.
   */
  async dispatch(event: Pick<NormalizedEvent, 'id' | 'type' | 'network' | 'connectionId'>): Promise<void> {
    const webhooks = await this.prisma.webhook.findMany({
      where: {
        active: true,
        AND: [
          { OR: [{ events: { has: event.type } }, { events: { has: ALL_EVENTS } }] },
          { OR: [{ networks: { isEmpty: true } }, { networks: { has: event.network } }] },
          { OR: [{ connectionIds: { isEmpty: true } }, { connectionIds: { has: event.connectionId } }] },
        ],
      },
      select: { id: true },
    });
    if (webhooks.length === 0) return;
    const now = new Date();
    const created = await this.prisma.webhookDelivery.createManyAndReturn({
      data: webhooks.map((webhook) => ({ id: uuid7(now.getTime()), webhookId: webhook.id, eventId: event.id, status: 'pending', nextAttemptAt: now })),
      skipDuplicates: true,
      select: { id: true },
    });
    await this.queue.enqueueOrLeaveToSweeper(created.map((delivery) => ({ id: delivery.id, attempts: 0 })));
  }
}

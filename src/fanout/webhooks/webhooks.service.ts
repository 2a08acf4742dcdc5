import { BadRequestException, ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Page } from '../../common/pagination';
import { SecretBox } from '../../common/secret-box';
import { uuid7 } from '../../common/uuid7';
import { Settings } from '../../config/settings';
import { PrismaService } from '../../database/prisma.service';
import { Webhook, WebhookDelivery } from '../../generated/prisma/client';
import { NetworkRegistry } from '../../networks/network-registry';
import { CreateWebhookInput, DeliveriesQuery, RotateSecretInput, UpdateWebhookInput } from './webhook.schema';
import { isPrivateLiteralHost } from './webhook-http';
import { WebhookDispatcher } from './webhook-dispatcher.service';
import { WebhookQueue } from './webhook-queue.service';
import { newWebhookSecret, WebhookSecrets } from './webhook-signature';

export type WebhookView = ReturnType<typeof present>;
export type DeliveryView = ReturnType<typeof presentDelivery>;

/** Webhook subscriptions and their delivery log; the signing secret is shown only when it is made. */
@Injectable()
export class WebhooksService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly secrets: SecretBox,
    private readonly queue: WebhookQueue,
    private readonly config: ConfigService<Settings, true>,
    private readonly dispatcher: WebhookDispatcher,
    private readonly networks: NetworkRegistry,
  ) {}

  async create(input: CreateWebhookInput): Promise<WebhookView & { secret: string }> {
    this.checkUrl(input.url);
    this.networks.requireKnown(input.networks, 'networks');
    const secret = newWebhookSecret();
    const row = await this.prisma.webhook.create({ data: { id: uuid7(), ...input, secret: this.secrets.seal({ secret }) } });
    this.dispatcher.invalidate();
    return { ...present(row), secret };
  }

  /** Oldest first, like the other management lists. */
  async list(cursor: string | undefined, limit: number): Promise<Page<WebhookView>> {
    const rows = await this.prisma.webhook.findMany({
      where: cursor ? { id: { gt: cursor } } : undefined,
      orderBy: { id: 'asc' },
      take: limit + 1,
    });
    const page = rows.slice(0, limit);
    return { data: page.map(present), nextCursor: rows.length > limit ? page[page.length - 1].id : null };
  }

  async get(id: string): Promise<WebhookView> {
    return present(await this.findRow(id));
  }

  async update(id: string, input: UpdateWebhookInput): Promise<WebhookView> {
    await this.findRow(id);
    if (input.url) this.checkUrl(input.url);
    this.networks.requireKnown(input.networks, 'networks');
    const row = await this.prisma.webhook.update({ where: { id }, data: input });
    this.dispatcher.invalidate();
    return present(row);
  }

  /** Its deliveries go with it; jobs still queued for them find nothing and end. */
  async remove(id: string): Promise<void> {
    await this.findRow(id);
    await this.prisma.webhook.delete({ where: { id } });
    this.dispatcher.invalidate();
  }

  /**
   * The old secret goes on signing (a second signature) for `overlapSeconds`, so receivers can
   * switch to the new one without refusing deliveries meanwhile; 0 drops it at once.
   */
  async rotateSecret(id: string, { overlapSeconds }: RotateSecretInput): Promise<{ secret: string; previousSecretSignsUntil: string | null }> {
    const row = await this.findRow(id);
    const old = this.secrets.open(row.secret) as unknown as WebhookSecrets;
    const until = overlapSeconds > 0 ? new Date(Date.now() + overlapSeconds * 1000).toISOString() : null;
    const sealed: WebhookSecrets = { secret: newWebhookSecret(), ...(until ? { previous: { secret: old.secret, until } } : {}) };
    await this.prisma.webhook.update({ where: { id }, data: { secret: this.secrets.seal({ ...sealed }) } });
    return { secret: sealed.secret, previousSecretSignsUntil: until };
  }

  /** Newest first. */
  async deliveries(webhookId: string, query: DeliveriesQuery): Promise<Page<DeliveryView>> {
    await this.findRow(webhookId);
    const rows = await this.prisma.webhookDelivery.findMany({
      where: { webhookId, status: query.status, id: query.cursor ? { lt: query.cursor } : undefined },
      orderBy: { id: 'desc' },
      take: query.limit + 1,
    });
    const page = rows.slice(0, query.limit);
    return { data: page.map(presentDelivery), nextCursor: rows.length > query.limit ? page[page.length - 1].id : null };
  }

  /**
   * A failed delivery is sent again now, once: its attempts are kept, and its retry window
   * (counted from its creation) is over, so a new failure leaves it failed again.
   */
  async retry(webhookId: string, deliveryId: string): Promise<DeliveryView> {
    const { count } = await this.prisma.webhookDelivery.updateMany({
      where: { id: deliveryId, webhookId, status: 'failed' },
      data: { status: 'pending', nextAttemptAt: new Date() },
    });
    const delivery = await this.prisma.webhookDelivery.findFirst({ where: { id: deliveryId, webhookId } });
    if (!delivery) throw new NotFoundException(`delivery "${deliveryId}" of webhook "${webhookId}" not found`);
    if (count === 0) throw new ConflictException(`delivery "${deliveryId}" is ${delivery.status}: only a failed delivery can be retried`);
    await this.queue.enqueueOrLeaveToSweeper([{ id: delivery.id, attempts: delivery.attempts, eventTime: delivery.eventTime }]);
    return presentDelivery(delivery);
  }

  /** Literal private hosts are refused at once; names are checked when they are resolved, at delivery. */
  private checkUrl(url: string): void {
    if (!this.config.get('WEBHOOK_ALLOW_PRIVATE', { infer: true }) && isPrivateLiteralHost(new URL(url))) {
      throw new BadRequestException('url: points to a private, loopback or link-local address (set WEBHOOK_ALLOW_PRIVATE=true to allow)');
    }
  }

  private async findRow(id: string): Promise<Webhook> {
    const row = await this.prisma.webhook.findUnique({ where: { id } });
    if (!row) throw new NotFoundException(`webhook "${id}" not found`);
    return row;
  }
}

function present(row: Webhook) {
  return {
    id: row.id,
    url: row.url,
    events: row.events,
    networks: row.networks,
    connectionIds: row.connectionIds,
    includeRaw: row.includeRaw,
    active: row.active,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

function presentDelivery(row: WebhookDelivery) {
  return {
    id: row.id,
    webhookId: row.webhookId,
    eventId: row.eventId,
    status: row.status,
    attempts: row.attempts,
    lastStatusCode: row.lastStatusCode,
    lastError: row.lastError,
    nextAttemptAt: row.nextAttemptAt,
    deliveredAt: row.deliveredAt,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

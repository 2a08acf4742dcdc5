import { Module } from '@nestjs/common';
import { WebhookDispatcher } from './webhook-dispatcher.service';
import { WebhookQueue } from './webhook-queue.service';
import { WebhookWorker } from './webhook-worker.service';
import { WebhooksController } from './webhooks.controller';
import { WebhooksService } from './webhooks.service';

/** Signed webhook fan-out (SPEC §5): subscriptions, deliveries with retries, and their log. */
@Module({
  controllers: [WebhooksController],
  providers: [WebhooksService, WebhookQueue, WebhookDispatcher, WebhookWorker],
  exports: [WebhookDispatcher],
})
export class WebhooksModule {}

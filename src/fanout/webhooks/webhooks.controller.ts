import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Query } from '@nestjs/common';
import { parseOrBadRequest } from '../../common/validation';
import { createWebhookSchema, deliveriesQuerySchema, rotateSecretSchema, updateWebhookSchema, webhookPageQuerySchema } from './webhook.schema';
import { WebhooksService } from './webhooks.service';

@Controller('api/webhooks')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Post()
  create(@Body() body: unknown) {
    return this.webhooks.create(parseOrBadRequest(createWebhookSchema, body));
  }

  @Get()
  list(@Query() query: unknown) {
    const { cursor, limit } = parseOrBadRequest(webhookPageQuerySchema, query);
    return this.webhooks.list(cursor, limit);
  }

  @Get(':id')
  get(@Param('id', new ParseUUIDPipe()) id: string) {
    return this.webhooks.get(id);
  }

  @Patch(':id')
  update(@Param('id', new ParseUUIDPipe()) id: string, @Body() body: unknown) {
    return this.webhooks.update(id, parseOrBadRequest(updateWebhookSchema, body));
  }

  @Delete(':id')
  @HttpCode(204)
  remove(@Param('id', new ParseUUIDPipe()) id: string) {
    return this.webhooks.remove(id);
  }

  @Post(':id/rotate-secret')
  @HttpCode(200)
  rotateSecret(@Param('id', new ParseUUIDPipe()) id: string, @Body() body: unknown) {
    return this.webhooks.rotateSecret(id, parseOrBadRequest(rotateSecretSchema, body ?? {}));
  }

  @Get(':id/deliveries')
  deliveries(@Param('id', new ParseUUIDPipe()) id: string, @Query() query: unknown) {
    return this.webhooks.deliveries(id, parseOrBadRequest(deliveriesQuerySchema, query));
  }

  @Post(':id/deliveries/:deliveryId/retry')
  @HttpCode(202)
  retry(@Param('id', new ParseUUIDPipe()) id: string, @Param('deliveryId', new ParseUUIDPipe()) deliveryId: string) {
    return this.webhooks.retry(id, deliveryId);
  }
}

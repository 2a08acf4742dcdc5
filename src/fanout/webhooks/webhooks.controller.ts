import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Query } from '@nestjs/common';
import { parseOrBadRequest } from '../../common/validation';
import { ApiDoc } from '../../docs/api-doc.decorator';
import { createWebhookSchema, deliveriesQuerySchema, rotateSecretSchema, updateWebhookSchema, webhookPageQuerySchema } from './webhook.schema';
import { WebhooksService } from './webhooks.service';

@Controller('api/webhooks')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Post()
  @ApiDoc({ summary: 'Subscribe a URL to events; the answer carries the signing secret, once', body: createWebhookSchema, status: 201 })
  create(@Body() body: unknown) {
    return this.webhooks.create(parseOrBadRequest(createWebhookSchema, body));
  }

  @Get()
  @ApiDoc({ summary: 'List webhooks (secrets left out)', query: webhookPageQuerySchema })
  list(@Query() query: unknown) {
    const { cursor, limit } = parseOrBadRequest(webhookPageQuerySchema, query);
    return this.webhooks.list(cursor, limit);
  }

  @Get(':id')
  @ApiDoc({ summary: 'Get a webhook (secret left out)' })
  get(@Param('id', new ParseUUIDPipe()) id: string) {
    return this.webhooks.get(id);
  }

  @Patch(':id')
  @ApiDoc({ summary: 'Change a webhook; {"active": false} pauses it', body: updateWebhookSchema })
  update(@Param('id', new ParseUUIDPipe()) id: string, @Body() body: unknown) {
    return this.webhooks.update(id, parseOrBadRequest(updateWebhookSchema, body));
  }

  @Delete(':id')
  @ApiDoc({ summary: 'Delete a webhook and its delivery log', status: 204 })
  @HttpCode(204)
  remove(@Param('id', new ParseUUIDPipe()) id: string) {
    return this.webhooks.remove(id);
  }

  @Post(':id/rotate-secret')
  @ApiDoc({
    summary: 'New signing secret; the old one goes on signing during the overlap',
    body: rotateSecretSchema,
    example: { secret: 'whsec_…', previousSecretSignsUntil: '2026-11-30T12:00:00.000Z' },
  })
  @HttpCode(200)
  rotateSecret(@Param('id', new ParseUUIDPipe()) id: string, @Body() body: unknown) {
    return this.webhooks.rotateSecret(id, parseOrBadRequest(rotateSecretSchema, body));
  }

  @Get(':id/deliveries')
  @ApiDoc({ summary: 'Deliveries with attempts, last status and error, newest first', query: deliveriesQuerySchema })
  deliveries(@Param('id', new ParseUUIDPipe()) id: string, @Query() query: unknown) {
    return this.webhooks.deliveries(id, parseOrBadRequest(deliveriesQuerySchema, query));
  }

  @Post(':id/deliveries/:deliveryId/retry')
  @ApiDoc({ summary: 'Send a failed delivery again', status: 202 })
  @HttpCode(202)
  retry(@Param('id', new ParseUUIDPipe()) id: string, @Param('deliveryId', new ParseUUIDPipe()) deliveryId: string) {
    return this.webhooks.retry(id, deliveryId);
  }
}

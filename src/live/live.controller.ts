import { Controller, Get, Query, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { parseOrBadRequest } from '../common/validation';
import { ApiDoc } from '../docs/api-doc.decorator';
import { liveFilterSchema } from './live-filter';
import { LiveStream } from './live-stream.service';

@Controller('api/events')
export class LiveController {
  constructor(private readonly stream: LiveStream) {}

  @Get('live')
  @ApiDoc({
    summary:
      'Server-Sent Events: every event as it is published (`id: <event id>`, `event: event`, `data: <event JSON without raw>`), a `: heartbeat` comment every LIVE_HEARTBEAT_MS; a client that falls behind by LIVE_CLIENT_BUFFER_BYTES is disconnected',
    query: liveFilterSchema,
  })
  async live(@Query() query: unknown, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await this.stream.open(parseOrBadRequest(liveFilterSchema, query), request, reply);
  }
}

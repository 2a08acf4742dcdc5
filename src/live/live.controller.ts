import { Controller, Get, Query, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { parseOrBadRequest } from '../common/validation';
import { ApiDoc } from '../docs/api-doc.decorator';
import { NetworkRegistry } from '../networks/network-registry';
import { liveFilterSchema } from './live-filter';
import { LiveStream } from './live-stream.service';

@Controller('api/events')
export class LiveController {
  constructor(
    private readonly stream: LiveStream,
    private readonly networks: NetworkRegistry,
  ) {}

  @Get('live')
  @ApiDoc({
    summary:
      'Server-Sent Events: every event as it is published (`id: <event id>`, `event: event`, `data: <event JSON without raw>`), a `: heartbeat` comment every LIVE_HEARTBEAT_MS; a client that falls behind by LIVE_CLIENT_BUFFER_BYTES is disconnected',
    query: liveFilterSchema,
  })
  async live(@Query() query: unknown, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const filter = parseOrBadRequest(liveFilterSchema, query);
    this.networks.requireKnown(filter.network);
    await this.stream.open(filter, request, reply);
  }
}

import { Controller, HttpCode, Param, Post, Req } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { Public } from '../../auth/public.decorator';
import { parseOrBadRequest } from '../../common/validation';
import { ApiDoc } from '../../docs/api-doc.decorator';
import { ConnectionsService } from '../../connections/connections.service';
import { ingestAnswer, IngestService } from '../../ingest/ingest.service';
import { ingestToken } from '../../ingest/ingest-token';
import { mapApplicationUp } from './tts.mapper';
import { applicationUpSchema } from './tts.schema';

/** TTS webhooks: the bare ApplicationUp. TTS waits 5 s and tries once, so this answers fast. */
@Public()
@Controller('ingest/tts')
export class TtsWebhookController {
  constructor(
    private readonly connections: ConnectionsService,
    private readonly ingest: IngestService,
  ) {}

  @Post(':connectionId')
  @ApiDoc({ summary: 'TTS webhook: the ApplicationUp message', body: applicationUpSchema })
  @HttpCode(200)
  async receive(@Param('connectionId') connectionId: string, @Req() request: FastifyRequest) {
    const connection = await this.connections.authenticateIngest('tts', connectionId, ingestToken(request));
    const body = parseOrBadRequest(applicationUpSchema, request.body);
    const [stored] = await this.ingest.accept(connection, [mapApplicationUp(body)]);
    return ingestAnswer(stored);
  }
}

import { Controller, HttpCode, Param, Post, Req } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { Public } from '../../auth/public.decorator';
import { parseOrBadRequest } from '../../common/validation';
import { ApiDoc } from '../../docs/api-doc.decorator';
import { ConnectionsService } from '../../connections/connections.service';
import { ingestAnswer, IngestService } from '../../ingest/ingest.service';
import { ingestToken } from '../../ingest/ingest-token';
import { mapHeliumIntegration } from './helium.mapper';
import { heliumIntegrationSchema } from './helium.schema';

@Public()
@Controller('ingest/helium')
export class HeliumIngestController {
  constructor(
    private readonly connections: ConnectionsService,
    private readonly ingest: IngestService,
  ) {}

  @Post(':connectionId')
  @ApiDoc({ summary: 'Helium Console HTTP integration (token: x-bridge-token, Bearer or ?token=)', body: heliumIntegrationSchema })
  @HttpCode(200)
  async receive(@Param('connectionId') connectionId: string, @Req() request: FastifyRequest) {
    const connection = await this.connections.authenticateIngest('helium', connectionId, ingestToken(request));
    const body = parseOrBadRequest(heliumIntegrationSchema, request.body);
    const [stored] = await this.ingest.accept(connection, [mapHeliumIntegration(body, request.body)], { downlinkUrl: body.downlink_url });
    return ingestAnswer(stored);
  }
}

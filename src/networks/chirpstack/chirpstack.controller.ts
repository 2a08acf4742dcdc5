import { BadRequestException, Controller, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { Public } from '../../auth/public.decorator';
import { ConnectionsService } from '../../connections/connections.service';
import { ApiDoc } from '../../docs/api-doc.decorator';
import { IngestService } from '../../ingest/ingest.service';
import { ingestToken } from '../../ingest/ingest-token';
import type { MappedChirpstackEvent } from './chirpstack.mapper';
import { readChirpstackEvent, UnreadableChirpstackEvent } from './chirpstack-event-reader';
import { chirpstackEventSchemas } from './chirpstack.schema';

/**
 * ChirpStack's HTTP integration: `?event=<type>`, the event as JSON or Protobuf. ChirpStack waits
 * 5 s and never retries, so this answers as soon as the event is durable.
 */
@Public()
@Controller('ingest/chirpstack')
export class ChirpstackIngestController {
  constructor(
    private readonly connections: ConnectionsService,
    private readonly ingest: IngestService,
  ) {}

  @Post(':connectionId')
  @ApiDoc({
    summary: 'ChirpStack HTTP integration: ?event=up|join|ack|txack|status|location|log|integration, JSON or Protobuf (application/octet-stream)',
    body: chirpstackEventSchemas.up,
  })
  @HttpCode(200)
  async receive(@Param('connectionId') connectionId: string, @Query('event') type: unknown, @Req() request: FastifyRequest) {
    const connection = await this.connections.authenticateIngest('chirpstack', connectionId, ingestToken(request));
    const mapped = readOrBadRequest(type, request.body);
    if ('ignored' in mapped) return { ignored: mapped.ignored };
    const [stored] = await this.ingest.accept(connection, [mapped.event]);
    return { id: stored.id, duplicate: !stored.isNew };
  }
}

function readOrBadRequest(type: unknown, body: unknown): MappedChirpstackEvent {
  try {
    return readChirpstackEvent(type, body);
  } catch (error) {
    if (error instanceof UnreadableChirpstackEvent) throw new BadRequestException(error.message);
    throw error;
  }
}

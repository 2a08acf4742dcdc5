import { Controller, Get, Param, ParseEnumPipe, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '../../auth/public.decorator';
import { ServerTiming } from '../../common/server-timing';
import { ConnectionsService } from '../../connections/connections.service';
import { ApiDoc } from '../../docs/api-doc.decorator';
import { ingestToken } from '../../ingest/ingest-token';
import { ingestAnswer } from '../../ingest/ingest.service';
import { sigfoxDataCallbackSchema } from './sigfox.schema';
import { SigfoxCallbackKind, SigfoxIngestService } from './sigfox-ingest.service';

const KINDS = { data: 'data', service: 'service', error: 'error' } as const;

/**
 * Sigfox callbacks as JSON, as a form (Sigfox's default) or as GET with a query string:
 * all three carry the same variables and give the same event.
 */
@Public()
@Controller('ingest/sigfox')
export class SigfoxIngestController {
  constructor(
    private readonly connections: ConnectionsService,
    private readonly sigfox: SigfoxIngestService,
  ) {}

  @Post(':connectionId/:kind')
  @ApiDoc({ summary: 'Sigfox callback (kind: data, service, error) as JSON or form; the data schema is shown', body: sigfoxDataCallbackSchema })
  post(@Param('connectionId') id: string, @Param('kind', new ParseEnumPipe(KINDS)) kind: SigfoxCallbackKind, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.handle(id, kind, req, req.body, reply);
  }

  @Get(':connectionId/:kind')
  @ApiDoc({ summary: 'Sigfox callback as a GET query string' })
  get(@Param('connectionId') id: string, @Param('kind', new ParseEnumPipe(KINDS)) kind: SigfoxCallbackKind, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    // The token may be in the query too: it is a credential, not a Sigfox variable, and is not stored.
    const { token: _token, ...variables } = req.query as Record<string, unknown>;
    return this.handle(id, kind, req, variables, reply);
  }

  private async handle(id: string, kind: SigfoxCallbackKind, req: FastifyRequest, body: unknown, reply: FastifyReply) {
    const connection = await this.connections.authenticateIngest('sigfox', id, ingestToken(req));
    const timing = new ServerTiming();
    const answer = await this.sigfox.receive(connection, kind, body, timing);
    // A BIDIR answer has Sigfox's time limit: where its time went is shown with it.
    reply.header('server-timing', timing.header(reply.elapsedTime));
    if (answer === null) return reply.status(204).send();
    if ('downlinkData' in answer) return reply.status(200).send({ [answer.device]: { downlinkData: answer.downlinkData } });
    return reply.status(200).send(ingestAnswer(answer.event));
  }
}

import { Controller, Get, Header, Param, ParseUUIDPipe, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { parseOrBadRequest } from '../common/validation';
import { ApiDoc } from '../docs/api-doc.decorator';
import { EXPORT_CONTENT_TYPES } from './event-export';
import { exportQuerySchema, historyQuerySchema, HistoryService } from './history.service';

const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

@Controller('api')
export class HistoryController {
  constructor(private readonly history: HistoryService) {}

  // The service answers the page as JSON text (history.service.ts, list).
  @Get('events')
  @Header('content-type', JSON_CONTENT_TYPE)
  @ApiDoc({ summary: 'Stored events, newest first', query: historyQuerySchema })
  list(@Query() query: unknown) {
    return this.history.list(parseOrBadRequest(historyQuerySchema, query));
  }

  @Get('events/export')
  @ApiDoc({ summary: 'Every stored event matching the history filters, oldest first, as NDJSON or CSV (streamed)', query: exportQuerySchema })
  async export(@Query() query: unknown, @Res() reply: FastifyReply): Promise<void> {
    const parsed = parseOrBadRequest(exportQuerySchema, query);
    // The cursor is opened before answering, so that a database failure is still a clean 503.
    const stream = await this.history.export(parsed);
    // Fastify destroys the stream when the client goes away, which closes the cursor (tested).
    void reply
      .header('content-type', EXPORT_CONTENT_TYPES[parsed.format])
      .header('content-disposition', `attachment; filename="events.${parsed.format}"`)
      .send(stream);
  }

  @Get('devices/:id/events')
  @Header('content-type', JSON_CONTENT_TYPE)
  @ApiDoc({ summary: "A device's stored events, newest first", query: historyQuerySchema })
  listForDevice(@Param('id', new ParseUUIDPipe()) id: string, @Query() query: unknown) {
    return this.history.listForDevice(id, parseOrBadRequest(historyQuerySchema, query));
  }
}

import { Controller, Get, Param, ParseUUIDPipe, Query } from '@nestjs/common';
import { parseOrBadRequest } from '../common/validation';
import { ApiDoc } from '../docs/api-doc.decorator';
import { historyQuerySchema, HistoryService } from './history.service';

@Controller('api')
export class HistoryController {
  constructor(private readonly history: HistoryService) {}

  @Get('events')
  @ApiDoc({ summary: 'Stored events, newest first', query: historyQuerySchema })
  list(@Query() query: unknown) {
    return this.history.list(parseOrBadRequest(historyQuerySchema, query));
  }

  @Get('devices/:id/events')
  @ApiDoc({ summary: "A device's stored events, newest first", query: historyQuerySchema })
  listForDevice(@Param('id', new ParseUUIDPipe()) id: string, @Query() query: unknown) {
    return this.history.listForDevice(id, parseOrBadRequest(historyQuerySchema, query));
  }
}

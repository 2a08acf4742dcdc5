import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { parseOrBadRequest } from '../common/validation';
import { ApiDoc } from '../docs/api-doc.decorator';
import { downlinkCommandSchema, downlinkListQuerySchema } from './downlink.schema';
import { DownlinksService } from './downlinks.service';

@Controller('api/devices/:id/downlinks')
export class DownlinksController {
  constructor(private readonly downlinks: DownlinksService) {}

  /** 202: the downlink is queued; its delivery is followed through its `state` and `downlink.*` events. */
  @Post()
  @ApiDoc({ summary: 'Queue a downlink (payloadHex or payloadBase64)', body: downlinkCommandSchema, status: 202, example: { port: 1, payloadHex: '0102', confirmed: false } })
  @HttpCode(202)
  create(@Param('id', new ParseUUIDPipe()) id: string, @Body() body: unknown) {
    return this.downlinks.create(id, parseOrBadRequest(downlinkCommandSchema, body));
  }

  @Get()
  @ApiDoc({ summary: "The device's downlinks with their state, newest first", query: downlinkListQuerySchema })
  list(@Param('id', new ParseUUIDPipe()) id: string, @Query() query: unknown) {
    const { cursor, limit } = parseOrBadRequest(downlinkListQuerySchema, query);
    return this.downlinks.list(id, cursor, limit);
  }
}

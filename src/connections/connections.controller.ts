import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { pageQuerySchema } from '../common/pagination';
import { ApiDoc } from '../docs/api-doc.decorator';
import { parseOrBadRequest } from '../common/validation';
import { createConnectionSchema, updateConnectionSchema } from './connection.schema';
import { ConnectionsService } from './connections.service';

@Controller('api/connections')
export class ConnectionsController {
  constructor(private readonly connections: ConnectionsService) {}

  @Post()
  @ApiDoc({ summary: 'Create a connection; the answer carries its ingest token, once', body: createConnectionSchema, status: 201 })
  create(@Body() body: unknown) {
    return this.connections.create(parseOrBadRequest(createConnectionSchema, body));
  }

  @Get()
  @ApiDoc({ summary: 'List connections', query: pageQuerySchema })
  list(@Query() query: unknown) {
    const { cursor, limit } = parseOrBadRequest(pageQuerySchema, query);
    return this.connections.list(cursor, limit);
  }

  @Get(':id')
  @ApiDoc({ summary: 'Get a connection (secrets masked)' })
  get(@Param('id') id: string) {
    return this.connections.get(id);
  }

  @Patch(':id')
  @ApiDoc({ summary: 'Update name or settings (merged; secrets left out are kept)', body: updateConnectionSchema })
  update(@Param('id') id: string, @Body() body: unknown) {
    return this.connections.update(id, parseOrBadRequest(updateConnectionSchema, body));
  }

  @Delete(':id')
  @ApiDoc({ summary: 'Delete a connection with its devices and events', status: 204 })
  @HttpCode(204)
  remove(@Param('id') id: string) {
    return this.connections.remove(id);
  }

  @Post(':id/rotate-token')
  @ApiDoc({ summary: 'Replace the ingest token; the old one stops working', example: { ingestToken: 'ing_…' } })
  @HttpCode(200)
  rotateToken(@Param('id') id: string) {
    return this.connections.rotateToken(id);
  }

  @Get(':id/status')
  @ApiDoc({ summary: 'Stream state, last event time and sync backlog' })
  status(@Param('id') id: string) {
    return this.connections.status(id);
  }
}

import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { pageQuerySchema } from '../common/pagination';
import { parseOrBadRequest } from '../common/validation';
import { createConnectionSchema, updateConnectionSchema } from './connection.schema';
import { ConnectionsService } from './connections.service';

@Controller('api/connections')
export class ConnectionsController {
  constructor(private readonly connections: ConnectionsService) {}

  @Post()
  create(@Body() body: unknown) {
    return this.connections.create(parseOrBadRequest(createConnectionSchema, body));
  }

  @Get()
  list(@Query() query: unknown) {
    const { cursor, limit } = parseOrBadRequest(pageQuerySchema, query);
    return this.connections.list(cursor, limit);
  }

  @Get(':id')
  get(@Param('id') id: string) {
    return this.connections.get(id);
  }

  @Patch(':id')
  update(@Param('id') id: string, @Body() body: unknown) {
    return this.connections.update(id, parseOrBadRequest(updateConnectionSchema, body));
  }

  @Delete(':id')
  @HttpCode(204)
  remove(@Param('id') id: string) {
    return this.connections.remove(id);
  }

  @Post(':id/rotate-token')
  @HttpCode(200)
  rotateToken(@Param('id') id: string) {
    return this.connections.rotateToken(id);
  }

  @Get(':id/status')
  status(@Param('id') id: string) {
    return this.connections.status(id);
  }
}

import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Query } from '@nestjs/common';
import { parseOrBadRequest } from '../common/validation';
import { bulkCreateSchema, createDeviceSchema, listDevicesQuerySchema, updateDeviceSchema } from './device.schema';
import { DevicesService } from './devices.service';

/** `GET /api/devices/{id}/events` is the history module's; downlinks have their own controller. */
@Controller('api/devices')
export class DevicesController {
  constructor(private readonly devices: DevicesService) {}

  @Post()
  create(@Body() body: unknown) {
    return this.devices.create(parseOrBadRequest(createDeviceSchema, body));
  }

  @Post('bulk')
  @HttpCode(200)
  async bulk(@Body() body: unknown) {
    return { results: await this.devices.createMany(parseOrBadRequest(bulkCreateSchema, body).devices) };
  }

  @Get()
  list(@Query() query: unknown) {
    return this.devices.list(parseOrBadRequest(listDevicesQuerySchema, query));
  }

  @Get(':id')
  get(@Param('id', new ParseUUIDPipe()) id: string) {
    return this.devices.get(id);
  }

  @Patch(':id')
  update(@Param('id', new ParseUUIDPipe()) id: string, @Body() body: unknown) {
    return this.devices.update(id, parseOrBadRequest(updateDeviceSchema, body));
  }

  @Delete(':id')
  @HttpCode(204)
  remove(@Param('id', new ParseUUIDPipe()) id: string) {
    return this.devices.remove(id);
  }

  @Post(':id/sync')
  @HttpCode(202)
  resync(@Param('id', new ParseUUIDPipe()) id: string) {
    return this.devices.resync(id);
  }
}

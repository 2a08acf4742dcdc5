import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Query } from '@nestjs/common';
import { parseOrBadRequest } from '../common/validation';
import { ApiDoc } from '../docs/api-doc.decorator';
import { bulkCreateSchema, createDeviceSchema, listDevicesQuerySchema, updateDeviceSchema } from './device.schema';
import { DevicesService } from './devices.service';

/** `GET /api/devices/{id}/events` is the history module's; downlinks have their own controller. */
@Controller('api/devices')
export class DevicesController {
  constructor(private readonly devices: DevicesService) {}

  @Post()
  @ApiDoc({
    summary: 'Register a device; it is provisioned into its network in the background (sync.state)',
    body: createDeviceSchema,
    status: 201,
    example: {
      connectionId: 'tts-eu1',
      name: 'Basement Temp',
      devEui: '008000000401261D',
      joinEui: '70B3D57ED0008E64',
      appKey: '30EACA8A2CAF0C5315D0E4A1B7F7B55B',
      labels: ['floor-1'],
      attributes: { room: 'basement' },
    },
  })
  create(@Body() body: unknown) {
    return this.devices.create(parseOrBadRequest(createDeviceSchema, body));
  }

  @Post('bulk')
  @ApiDoc({ summary: 'Register up to 1,000 devices; one result (201, 400 or 409) per device', body: bulkCreateSchema })
  @HttpCode(200)
  async bulk(@Body() body: unknown) {
    return { results: await this.devices.createMany(parseOrBadRequest(bulkCreateSchema, body).devices) };
  }

  @Get()
  @ApiDoc({ summary: 'List devices, filtered', query: listDevicesQuerySchema })
  list(@Query() query: unknown) {
    return this.devices.list(parseOrBadRequest(listDevicesQuerySchema, query));
  }

  @Get(':id')
  @ApiDoc({ summary: 'Get a device with its sync state (keys never returned)' })
  get(@Param('id', new ParseUUIDPipe()) id: string) {
    return this.devices.get(id);
  }

  @Patch(':id')
  @ApiDoc({ summary: 'Change name, labels, attributes, active (synced to the network)', body: updateDeviceSchema })
  update(@Param('id', new ParseUUIDPipe()) id: string, @Body() body: unknown) {
    return this.devices.update(id, parseOrBadRequest(updateDeviceSchema, body));
  }

  @Delete(':id')
  @ApiDoc({ summary: 'Delete a device here and in its network', status: 204 })
  @HttpCode(204)
  remove(@Param('id', new ParseUUIDPipe()) id: string) {
    return this.devices.remove(id);
  }

  @Post(':id/sync')
  @ApiDoc({ summary: 'Provision the device into its network again', status: 202 })
  @HttpCode(202)
  resync(@Param('id', new ParseUUIDPipe()) id: string) {
    return this.devices.resync(id);
  }
}

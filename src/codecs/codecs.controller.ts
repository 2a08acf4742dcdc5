import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query } from '@nestjs/common';
import { parseOrBadRequest } from '../common/validation';
import { ApiDoc } from '../docs/api-doc.decorator';
import { codecPageQuerySchema, createCodecSchema, replaceCodecSchema, testCodecSchema } from './codec.schema';
import { CodecsService } from './codecs.service';

const EXAMPLE_SCRIPT = `function decodeUplink(input) {
  return { data: { temperature: ((input.bytes[0] << 8) | input.bytes[1]) / 10 } };
}`;

@Controller('api/codecs')
export class CodecsController {
  constructor(private readonly codecs: CodecsService) {}

  @Post()
  @ApiDoc({
    summary: 'Store a payload codec (TS013 decodeUplink / encodeDownlink); a script that does not compile is a 400',
    body: createCodecSchema,
    status: 201,
    example: { id: 'acme-th1', name: 'ACME TH1', script: EXAMPLE_SCRIPT },
  })
  create(@Body() body: unknown) {
    return this.codecs.create(parseOrBadRequest(createCodecSchema, body));
  }

  @Get()
  @ApiDoc({ summary: 'List codecs (without their scripts)', query: codecPageQuerySchema })
  list(@Query() query: unknown) {
    const { cursor, limit } = parseOrBadRequest(codecPageQuerySchema, query);
    return this.codecs.list(cursor, limit);
  }

  @Get(':id')
  @ApiDoc({ summary: 'Get a codec with its script' })
  get(@Param('id') id: string) {
    return this.codecs.get(id);
  }

  @Put(':id')
  @ApiDoc({ summary: 'Replace a codec: a new version, used by every uplink from then on', body: replaceCodecSchema })
  replace(@Param('id') id: string, @Body() body: unknown) {
    return this.codecs.replace(id, parseOrBadRequest(replaceCodecSchema, body));
  }

  @Delete(':id')
  @ApiDoc({ summary: 'Delete a codec no connection or device uses (409 otherwise)', status: 204 })
  @HttpCode(204)
  remove(@Param('id') id: string) {
    return this.codecs.remove(id);
  }

  @Post(':id/test')
  @ApiDoc({
    summary: 'Run the codec: decodeUplink on bytes or payloadHex (with fPort, recvTime), or encodeDownlink on data',
    body: testCodecSchema,
    example: { decoded: { temperature: 23.5 }, decodeErrors: [], decodeWarnings: [] },
  })
  @HttpCode(200)
  test(@Param('id') id: string, @Body() body: unknown) {
    return this.codecs.test(id, parseOrBadRequest(testCodecSchema, body));
  }
}

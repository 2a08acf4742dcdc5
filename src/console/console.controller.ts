import { Controller, Get, NotFoundException, Param, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { Public } from '../auth/public.decorator';
import { ApiDoc } from '../docs/api-doc.decorator';
import { ConsoleAssets } from './console-assets';

/** The console's files are public; everything it shows comes from the API, with the key. */
@Public()
@Controller()
export class ConsoleController {
  constructor(private readonly assets: ConsoleAssets) {}

  @Get()
  @ApiDoc({ summary: 'The operator console (a page in the browser; asks for an API key)' })
  index(@Res() reply: FastifyReply): void {
    void reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('content-security-policy', this.assets.contentSecurityPolicy)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .send(this.assets.index);
  }

  @Get('console/:file')
  @ApiDoc({ summary: "The console's scripts and styles (content-hashed names are cached for a year)" })
  asset(@Param('file') file: string, @Res() reply: FastifyReply): void {
    const asset = this.assets.get(file);
    if (!asset) throw new NotFoundException(`no console file "${file}"`);
    void reply
      .header('content-type', asset.contentType)
      .header('cache-control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
      .header('x-content-type-options', 'nosniff')
      .send(asset.body);
  }
}

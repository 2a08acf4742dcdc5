import { Controller, Get, Header, NotFoundException, Param, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Public } from '../auth/public.decorator';
import { ApiDoc } from './api-doc.decorator';
import { OpenApiService } from './openapi.service';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { version } = require('../../package.json') as { version: string };

/** Swagger UI's files, served by the bridge itself: /docs must work where no CDN can be reached. */
const SWAGGER_UI_FILES: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
};
const swaggerUiDir = dirname(require.resolve('swagger-ui-dist/package.json'));

@Public()
@Controller()
export class DocsController {
  private readonly assets = new Map<string, Buffer>();

  constructor(private readonly openApi: OpenApiService) {}

  @Get('docs-json')
  @ApiDoc({ summary: 'This OpenAPI document' })
  json() {
    return this.openApi.build(version);
  }

  @Get('docs')
  @ApiDoc({ summary: 'Swagger UI over this document' })
  @Header('content-type', 'text/html; charset=utf-8')
  page(): string {
    return `<!doctype html><html><head><meta charset="utf-8"><title>lpwan-bridge API</title>
<link rel="stylesheet" href="docs/swagger-ui.css"></head>
<body><div id="ui"></div><script src="docs/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({ url: 'docs-json', dom_id: '#ui' });</script>
<noscript>The OpenAPI document is at <a href="docs-json">/docs-json</a>.</noscript></body></html>`;
  }

  @Get('docs/:file')
  @ApiDoc({ summary: "Swagger UI's own files, served by the bridge" })
  asset(@Param('file') file: string, @Res() reply: FastifyReply): void {
    const contentType = SWAGGER_UI_FILES[file];
    if (!contentType) throw new NotFoundException(`no docs file "${file}"`);
    let content = this.assets.get(file);
    if (!content) {
      content = readFileSync(join(swaggerUiDir, file));
      this.assets.set(file, content);
    }
    void reply.header('content-type', contentType).header('cache-control', 'public, max-age=86400').send(content);
  }
}

import { Controller, Get, Header } from '@nestjs/common';
import { Public } from '../auth/public.decorator';
import { OpenApiService } from './openapi.service';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { version } = require('../../package.json') as { version: string };

@Public()
@Controller()
export class DocsController {
  constructor(private readonly openApi: OpenApiService) {}

  @Get('docs-json')
  json() {
    return this.openApi.build(version);
  }

  /** Swagger UI, loaded by the reader's browser; the document itself is served by the bridge. */
  @Get('docs')
  @Header('content-type', 'text/html; charset=utf-8')
  page(): string {
    return `<!doctype html><html><head><meta charset="utf-8"><title>lpwan-bridge API</title>
<link rel="stylesheet" href="https://unpkg.com/swagger-ui-dist@5/swagger-ui.css"></head>
<body><div id="ui"></div><script src="https://unpkg.com/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({ url: 'docs-json', dom_id: '#ui' });</script>
<noscript>The OpenAPI document is at <a href="docs-json">/docs-json</a>.</noscript></body></html>`;
  }
}

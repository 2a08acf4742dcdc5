import { Controller, Get, Header } from '@nestjs/common';
import { Public } from '../auth/public.decorator';
import { ApiDoc } from '../docs/api-doc.decorator';
import { MetricsService } from './metrics.service';

@Public()
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @ApiDoc({ summary: 'Prometheus metrics (text exposition format)' })
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}

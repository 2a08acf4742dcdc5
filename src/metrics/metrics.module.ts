import { Global, Module } from '@nestjs/common';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';
import { StateGauges } from './state-gauges';

@Global()
@Module({ controllers: [MetricsController], providers: [MetricsService, StateGauges], exports: [MetricsService] })
export class MetricsModule {}

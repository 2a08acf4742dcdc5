import { Global, Module } from '@nestjs/common';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';
import { MonitoredQueues } from './monitored-queues';
import { StateGauges } from './state-gauges';

@Global()
@Module({ controllers: [MetricsController], providers: [MetricsService, StateGauges, MonitoredQueues], exports: [MetricsService, MonitoredQueues] })
export class MetricsModule {}

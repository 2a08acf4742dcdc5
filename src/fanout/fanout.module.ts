import { Global, Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module';
import { LiveModule } from '../live/live.module';
import { FanoutQueue } from './fanout-queue.service';
import { FanoutWorker } from './fanout-worker.service';
import { MqttPublisher } from './mqtt-publisher.service';
import { WebhooksModule } from './webhooks/webhooks.module';

@Global()
@Module({
  imports: [EventsModule, WebhooksModule, LiveModule],
  providers: [FanoutQueue, FanoutWorker, MqttPublisher],
  exports: [FanoutQueue, FanoutWorker, MqttPublisher],
})
export class FanoutModule {}

import { Global, Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module';
import { FanoutQueue } from './fanout-queue.service';
import { FanoutWorker } from './fanout-worker.service';
import { MqttPublisher } from './mqtt-publisher.service';

@Global()
@Module({
  imports: [EventsModule],
  providers: [FanoutQueue, FanoutWorker, MqttPublisher],
  exports: [FanoutQueue, MqttPublisher],
})
export class FanoutModule {}

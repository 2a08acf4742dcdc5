import { Module } from '@nestjs/common';
import { LiveController } from './live.controller';
import { LiveEventBus } from './live-event-bus.service';
import { LiveStream } from './live-stream.service';

/** `GET /api/events/live`: fan-out publishes to the bus, api processes stream what it carries. */
@Module({
  controllers: [LiveController],
  providers: [LiveEventBus, LiveStream],
  exports: [LiveEventBus],
})
export class LiveModule {}

import { Module } from '@nestjs/common';
import { DevicesModule } from '../devices/devices.module';
import { EventHistory } from './event-history.service';
import { EventPartitions } from './event-partitions.service';
import { EventStore } from './event-store.service';
import { HistoryController } from './history.controller';
import { HistoryService } from './history.service';
import { IdentitySweeper } from './identity-sweeper.service';

@Module({
  imports: [DevicesModule],
  controllers: [HistoryController],
  providers: [EventStore, EventHistory, EventPartitions, HistoryService, IdentitySweeper],
  exports: [EventStore],
})
export class EventsModule {}

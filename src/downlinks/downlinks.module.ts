import { Global, Module } from '@nestjs/common';
import { DownlinkCollection } from './downlink-collection.service';
import { DownlinkCommands } from './downlink-commands.service';
import { DownlinkDelivery } from './downlink-delivery.service';
import { DownlinkLifecycle } from './downlink-lifecycle.service';
import { DownlinkQueue } from './downlink-queue.service';
import { DownlinkWorker } from './downlink-worker.service';
import { DownlinksController } from './downlinks.controller';
import { DownlinksService } from './downlinks.service';

@Global()
@Module({
  controllers: [DownlinksController],
  providers: [DownlinksService, DownlinkLifecycle, DownlinkDelivery, DownlinkCollection, DownlinkQueue, DownlinkWorker, DownlinkCommands],
  exports: [DownlinksService, DownlinkCollection],
})
export class DownlinksModule {}

import { Global, Module } from '@nestjs/common';
import { DownlinkCommands } from './downlink-commands.service';
import { DownlinkQueue } from './downlink-queue.service';
import { DownlinkWorker } from './downlink-worker.service';
import { DownlinksController } from './downlinks.controller';
import { DownlinksService } from './downlinks.service';

@Global()
@Module({
  controllers: [DownlinksController],
  providers: [DownlinksService, DownlinkQueue, DownlinkWorker, DownlinkCommands],
  exports: [DownlinksService],
})
export class DownlinksModule {}

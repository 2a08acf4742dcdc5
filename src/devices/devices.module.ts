import { Module } from '@nestjs/common';
import { DeviceCodecs } from './device-codecs.service';
import { DeviceDirectory } from './device-directory.service';
import { DeviceStateRecorder } from './device-state-recorder.service';
import { DeviceSyncQueue } from './device-sync.queue';
import { DeviceSyncService } from './device-sync.service';
import { DeviceSyncWorker } from './device-sync.worker';
import { DevicesController } from './devices.controller';
import { DevicesService } from './devices.service';
import { ReconcileController } from './reconcile.controller';
import { ReconcileService } from './reconcile.service';

/** The device registry, its provisioning sync to the networks, and reconcile (SPEC §6). */
@Module({
  controllers: [DevicesController, ReconcileController],
  providers: [DeviceDirectory, DeviceCodecs, DeviceStateRecorder, DevicesService, DeviceSyncQueue, DeviceSyncService, DeviceSyncWorker, ReconcileService],
  exports: [DeviceDirectory, DeviceCodecs, DeviceStateRecorder, DevicesService],
})
export class DevicesModule {}

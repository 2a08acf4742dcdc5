import { Module } from '@nestjs/common';
import { DeviceDirectory } from './device-directory.service';

@Module({ providers: [DeviceDirectory], exports: [DeviceDirectory] })
export class DevicesModule {}

import { Module } from '@nestjs/common';
import { DevicesModule } from '../../devices/devices.module';
import { SigfoxAdapter } from './sigfox.adapter';
import { SigfoxIngestController } from './sigfox.controller';
import { SigfoxIngestService } from './sigfox-ingest.service';

@Module({ imports: [DevicesModule], controllers: [SigfoxIngestController], providers: [SigfoxAdapter, SigfoxIngestService] })
export class SigfoxModule {}

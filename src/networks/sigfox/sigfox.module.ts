import { Module } from '@nestjs/common';
import { SigfoxAdapter } from './sigfox.adapter';
import { SigfoxIngestController } from './sigfox.controller';
import { SigfoxIngestService } from './sigfox-ingest.service';

@Module({ controllers: [SigfoxIngestController], providers: [SigfoxAdapter, SigfoxIngestService] })
export class SigfoxModule {}

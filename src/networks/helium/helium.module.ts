import { Module } from '@nestjs/common';
import { HeliumAdapter } from './helium.adapter';
import { HeliumIngestController } from './helium.controller';

@Module({ controllers: [HeliumIngestController], providers: [HeliumAdapter] })
export class HeliumModule {}

import { Module } from '@nestjs/common';
import { ChirpstackAdapter } from './chirpstack.adapter';
import { ChirpstackIngestController } from './chirpstack.controller';
import { ChirpstackMqttService } from './chirpstack-mqtt.service';

@Module({ controllers: [ChirpstackIngestController], providers: [ChirpstackAdapter, ChirpstackMqttService] })
export class ChirpstackModule {}

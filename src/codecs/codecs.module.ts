import { Global, Module } from '@nestjs/common';
import { CodecRunner } from './codec-runner.service';
import { CodecsController } from './codecs.controller';
import { CodecsService } from './codecs.service';
import { DeviceCodecs } from './device-codecs.service';
import { UplinkDecoder } from './uplink-decoder.service';

/** Payload codecs (SPEC §9): their API, their sandbox, and decoding every network's uplinks. */
@Global()
@Module({
  controllers: [CodecsController],
  providers: [CodecsService, CodecRunner, DeviceCodecs, UplinkDecoder],
  exports: [CodecsService, DeviceCodecs],
})
export class CodecsModule {}

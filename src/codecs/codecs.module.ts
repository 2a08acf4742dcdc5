import { Global, Module } from '@nestjs/common';
import { DevicesModule } from '../devices/devices.module';
import { CodecRunner } from './codec-runner.service';
import { CodecsController } from './codecs.controller';
import { CodecsService } from './codecs.service';
import { UplinkDecoder } from './uplink-decoder.service';

/** Payload codecs (SPEC §9): their API, their sandbox, and decoding every network's uplinks. */
@Global()
@Module({
  imports: [DevicesModule],
  controllers: [CodecsController],
  providers: [CodecsService, CodecRunner, UplinkDecoder],
  exports: [CodecsService],
})
export class CodecsModule {}

import { Module } from '@nestjs/common';
import { TtsAdapter } from './tts.adapter';
import { TtsWebhookController } from './tts.controller';
import { TtsStreamService } from './tts-stream.service';

@Module({ controllers: [TtsWebhookController], providers: [TtsAdapter, TtsStreamService] })
export class TtsModule {}

import { Module } from '@nestjs/common';
import { TtsAdapter } from './tts.adapter';
import { TtsWebhookController } from './tts.controller';

@Module({ controllers: [TtsWebhookController], providers: [TtsAdapter] })
export class TtsModule {}

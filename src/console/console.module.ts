import { Module } from '@nestjs/common';
import { ConsoleAssets } from './console-assets';
import { ConsoleController } from './console.controller';

/** The operator console at `/` (SPEC §11): static files served by the bridge, no CDN. */
@Module({ controllers: [ConsoleController], providers: [{ provide: ConsoleAssets, useFactory: () => new ConsoleAssets() }] })
export class ConsoleModule {}

import { Global, Module } from '@nestjs/common';
import { DownlinksService } from './downlinks.service';

@Global()
@Module({ providers: [DownlinksService], exports: [DownlinksService] })
export class DownlinksModule {}

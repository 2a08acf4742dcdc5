import { Global, Module } from '@nestjs/common';
import { SecretBox } from '../common/secret-box';
import { ConnectionsController } from './connections.controller';
import { ConnectionsService } from './connections.service';
import { IngestRateLimiter } from './ingest-rate-limiter';

@Global()
@Module({ controllers: [ConnectionsController], providers: [ConnectionsService, SecretBox, IngestRateLimiter], exports: [ConnectionsService, SecretBox] })
export class ConnectionsModule {}

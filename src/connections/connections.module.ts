import { Global, Module } from '@nestjs/common';
import { SecretBox } from '../common/secret-box';
import { ConnectionInstallController } from './connection-install.controller';
import { ConnectionInstallService } from './connection-install.service';
import { ConnectionsController } from './connections.controller';
import { ConnectionsService } from './connections.service';
import { IngestRateLimiter } from './ingest-rate-limiter';
import { SecretsResealer } from './secrets-resealer.service';

@Global()
@Module({
  controllers: [ConnectionsController, ConnectionInstallController],
  providers: [ConnectionsService, SecretBox, IngestRateLimiter, ConnectionInstallService, SecretsResealer],
  exports: [ConnectionsService, SecretBox],
})
export class ConnectionsModule {}

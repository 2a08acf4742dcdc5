import { Global, Module } from '@nestjs/common';
import { SecretBox } from '../common/secret-box';
import { ConnectionsController } from './connections.controller';
import { ConnectionsService } from './connections.service';

@Global()
@Module({ controllers: [ConnectionsController], providers: [ConnectionsService, SecretBox], exports: [ConnectionsService, SecretBox] })
export class ConnectionsModule {}

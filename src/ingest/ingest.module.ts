import { Global, Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module';
import { IngestService } from './ingest.service';

@Global()
@Module({ imports: [EventsModule], providers: [IngestService], exports: [IngestService] })
export class IngestModule {}

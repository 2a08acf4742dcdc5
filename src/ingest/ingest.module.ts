import { Global, Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module';
import { JournalModule } from '../journal/journal.module';
import { IngestService } from './ingest.service';

@Global()
@Module({ imports: [EventsModule, JournalModule], providers: [IngestService], exports: [IngestService] })
export class IngestModule {}

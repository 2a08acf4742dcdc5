import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { PeriodicTask } from '../common/job-queues';
import { Settings } from '../config/settings';
import { EventStore } from './event-store.service';

const SWEEP_INTERVAL_MS = 60_000;
const SWEEP_CHUNK = 5000;

/** Worker role: deletes expired event identities, in chunks so that no sweep holds locks for long. */
@Injectable()
export class IdentitySweeper implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(IdentitySweeper.name);
  private task?: PeriodicTask;

  constructor(
    private readonly config: ConfigService<Settings, true>,
    private readonly store: EventStore,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.get('BRIDGE_ROLE', { infer: true }) === 'api') return;
    this.task = new PeriodicTask('identity sweep', SWEEP_INTERVAL_MS, () => this.sweep(), this.logger).start();
  }

  private async sweep(): Promise<void> {
    let total = 0;
    let deleted: number;
    do {
      deleted = await this.store.sweepIdentities(SWEEP_CHUNK);
      total += deleted;
    } while (deleted === SWEEP_CHUNK);
    if (total) this.logger.debug(`swept ${total} expired event identities`);
  }

  onModuleDestroy(): void {
    this.task?.stop();
  }
}

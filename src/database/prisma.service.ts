import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { PrismaPg } from '@prisma/adapter-pg';
import { Pool } from 'pg';
import { Settings } from '../config/settings';
import { PrismaClient } from '../generated/prisma/client';

@Injectable()
export class PrismaService extends PrismaClient implements OnModuleDestroy {
  /** The driver's pool, shared with the few queries that bypass Prisma for bulk work. */
  readonly pool: Pool;

  constructor(config: ConfigService<Settings, true>) {
    const pool = new Pool({
      connectionString: config.get('DATABASE_URL', { infer: true }),
      max: 20,
      // A request waiting for a connection longer than this gets 503, not a hang.
      connectionTimeoutMillis: 5000,
    });
    // A dropped server connection must not crash the process; the next query reconnects. The
    // pool listens only to idle clients: a checked-out one (a transaction, a maintenance round)
    // that loses its connection between two queries would emit an unhandled 'error'.
    pool.on('error', () => undefined);
    pool.on('connect', (client) => client.on('error', () => undefined));
    super({ adapter: new PrismaPg(pool) });
    this.pool = pool;
  }

  async onModuleDestroy(): Promise<void> {
    await this.$disconnect();
    await this.pool.end().catch(() => undefined);
  }
}

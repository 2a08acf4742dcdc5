import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { SecretBox } from '../common/secret-box';
import { PeriodicTask } from '../common/job-queues';
import { Settings } from '../config/settings';
import { PrismaService } from '../database/prisma.service';

/** Again later too: a process of the earlier version, still running in a rolling deploy, seals with the earlier key. */
const RESEAL_INTERVAL_MS = 10 * 60_000;
const PAGE = 500;

/** A table's sealed column: read a page of rows after an id, and swap one row's value if it did not change meanwhile. */
interface SealedColumn {
  name: string;
  page(afterId: string | undefined): Promise<{ id: string; sealed: string | null }[]>;
  swap(id: string, before: string, after: string): Promise<number>;
}

/**
 * After a change of SECRETS_KEY (the earlier one in SECRETS_KEY_PREVIOUS), seals again with the
 * new key whatever opens only with an earlier one: connections' network credentials, device keys,
 * webhook signing secrets. Worker role, at start and then every 10 minutes; each row is swapped
 * only if unchanged since read, so that several workers, or a PATCH meanwhile, lose nothing. Once
 * it logs that nothing is left, the earlier key can be dropped from SECRETS_KEY_PREVIOUS.
 */
@Injectable()
export class SecretsResealer implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(SecretsResealer.name);
  private task?: PeriodicTask;
  private readonly columns: SealedColumn[];

  constructor(
    private readonly config: ConfigService<Settings, true>,
    private readonly secrets: SecretBox,
    prisma: PrismaService,
  ) {
    const byId = (afterId: string | undefined) => ({ orderBy: { id: 'asc' as const }, take: PAGE, ...(afterId ? { cursor: { id: afterId }, skip: 1 } : {}) });
    this.columns = [
      {
        name: 'connections',
        page: async (afterId) => (await prisma.connection.findMany({ where: { secrets: { not: null } }, select: { id: true, secrets: true }, ...byId(afterId) })).map((row) => ({ id: row.id, sealed: row.secrets })),
        swap: async (id, before, after) => (await prisma.connection.updateMany({ where: { id, secrets: before }, data: { secrets: after } })).count,
      },
      {
        name: 'devices',
        page: async (afterId) => (await prisma.device.findMany({ where: { secrets: { not: null } }, select: { id: true, secrets: true }, ...byId(afterId) })).map((row) => ({ id: row.id, sealed: row.secrets })),
        swap: async (id, before, after) => (await prisma.device.updateMany({ where: { id, secrets: before }, data: { secrets: after } })).count,
      },
      {
        name: 'webhooks',
        page: async (afterId) => (await prisma.webhook.findMany({ select: { id: true, secret: true }, ...byId(afterId) })).map((row) => ({ id: row.id, sealed: row.secret })),
        swap: async (id, before, after) => (await prisma.webhook.updateMany({ where: { id, secret: before }, data: { secret: after } })).count,
      },
    ];
  }

  onApplicationBootstrap(): void {
    if (!this.secrets.hasPreviousKeys || this.config.get('BRIDGE_ROLE', { infer: true }) === 'api') return;
    void this.reseal().catch((error: Error) => this.logger.warn(`sealing secrets again with SECRETS_KEY failed (tried again in ${RESEAL_INTERVAL_MS / 60_000} min): ${error.message}`));
    this.task = new PeriodicTask('sealing secrets again', RESEAL_INTERVAL_MS, () => this.reseal(), this.logger).start();
  }

  onModuleDestroy(): void {
    this.task?.stop();
  }

  private async reseal(): Promise<void> {
    const counts: string[] = [];
    let unreadable = 0;
    for (const column of this.columns) {
      let resealed = 0;
      let afterId: string | undefined;
      for (;;) {
        const rows = await column.page(afterId);
        for (const row of rows) {
          const opened = this.open(row.sealed);
          if (opened === 'unreadable') unreadable += 1;
          else if (opened && row.sealed) resealed += await column.swap(row.id, row.sealed, this.secrets.seal(opened));
        }
        if (rows.length < PAGE) break;
        afterId = rows[rows.length - 1].id;
      }
      if (resealed) counts.push(`${resealed} ${column.name}`);
    }
    if (counts.length) this.logger.log(`secrets sealed again with SECRETS_KEY: ${counts.join(', ')}`);
    if (unreadable) this.logger.warn(`${unreadable} row(s) have secrets that open with none of SECRETS_KEY and SECRETS_KEY_PREVIOUS`);
    else if (counts.length) this.logger.log('nothing is left sealed with an earlier key: it can be removed from SECRETS_KEY_PREVIOUS once every process runs with this SECRETS_KEY');
  }

  /** What to seal again (sealed with an earlier key), null if nothing, 'unreadable' if no key opens it. */
  private open(sealed: string | null): Record<string, unknown> | null | 'unreadable' {
    try {
      const { value, stale } = this.secrets.openWithKey(sealed);
      return stale ? value : null;
    } catch {
      return 'unreadable';
    }
  }
}

import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { constants } from 'node:fs';
import { mkdir, open, readFile, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Counter, Gauge } from 'prom-client';
import { Settings } from '../config/settings';
import { MetricsService } from '../metrics/metrics.service';
import { Journal, JournalStats, ReplayOutcome } from './journal';

/**
 * `unused`: this process takes no ingest (worker role); `idle`: empty, ready to take the load;
 * `buffering`: holds events not yet in Postgres; `full`: no room left; `unwritable`: the directory
 * cannot be opened or the last write failed.
 */
export type JournalState = 'unused' | 'idle' | 'buffering' | 'full' | 'unwritable';

/** Largest journal file; replay reads one file at a time. */
const SEGMENT_BYTES = 8 * 1024 * 1024;
const REPLAY_TICK_MS = 250;
/** After a replay attempt that found Postgres unavailable. */
const REPLAY_RETRY_MS = 1000;

/**
 * The api process's journal (SPEC §3): events accepted while Postgres is unreachable or slow
 * wait here, on disk, and are replayed into Postgres in arrival order as soon as it answers.
 */
@Injectable()
export class JournalService implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(JournalService.name);
  private journal?: Journal;
  private problem: 'full' | 'unwritable' | null = null;
  private store?: (payload: unknown) => Promise<ReplayOutcome>;
  private timer?: NodeJS.Timeout;
  private replaying?: Promise<void>;
  private nextAttemptAt = 0;
  private readonly lockPath: string;
  private readonly appended: Counter;
  private readonly replayed: Counter;

  constructor(
    private readonly config: ConfigService<Settings, true>,
    metrics: MetricsService,
  ) {
    this.lockPath = join(this.dir, 'lock');
    const gauge = (name: string, help: string, value: () => number) =>
      new Gauge({
        name,
        help,
        registers: [metrics.registry],
        collect() {
          this.set(value());
        },
      });
    gauge('lpwan_journal_depth', 'Events in the journal not yet written to Postgres', () => this.stats.depth);
    gauge('lpwan_journal_bytes', 'Size of the journal files on disk', () => this.stats.bytes);
    gauge('lpwan_journal_oldest_age_seconds', 'Age of the oldest journaled event not yet written to Postgres (0 when none)', () => {
      const oldest = this.stats.oldestAppendedAt;
      return oldest === null ? 0 : (Date.now() - oldest) / 1000;
    });
    const syncs = () => this.journal?.syncs ?? 0;
    new Counter({
      name: 'lpwan_journal_syncs_total',
      help: 'Disk syncs of the journal (each commits every append waiting for it)',
      registers: [metrics.registry],
      collect() {
        this.reset();
        this.inc(syncs());
      },
    });
    this.appended = new Counter({ name: 'lpwan_journal_appended_total', help: 'Ingests written to the journal', registers: [metrics.registry] });
    this.replayed = new Counter({ name: 'lpwan_journal_replayed_total', help: 'Journaled ingests written to Postgres', registers: [metrics.registry] });
  }

  get dir(): string {
    return resolve(this.config.get('JOURNAL_DIR', { infer: true }));
  }

  get enabled(): boolean {
    return this.config.get('BRIDGE_ROLE', { infer: true }) !== 'worker';
  }

  get state(): JournalState {
    if (!this.enabled) return 'unused';
    if (!this.journal || this.problem === 'unwritable') return 'unwritable';
    if (this.problem === 'full') return 'full';
    return this.journal.isEmpty ? 'idle' : 'buffering';
  }

  get stats(): JournalStats {
    return this.journal?.stats ?? { depth: 0, bytes: 0, oldestAppendedAt: null };
  }

  /** True while earlier events wait in the journal: new ones go behind them, to keep arrival order. */
  get isBuffering(): boolean {
    return this.journal !== undefined && !this.journal.isEmpty;
  }

  /** Sets what replay writes each record with; called once by the ingest path. */
  replayInto(store: (payload: unknown) => Promise<ReplayOutcome>): void {
    this.store = store;
  }

  async onModuleInit(): Promise<void> {
    if (!this.enabled) return;
    try {
      await mkdir(this.dir, { recursive: true });
      await this.lock();
      this.journal = await Journal.open(this.dir, {
        maxBytes: this.config.get('JOURNAL_MAX_BYTES', { infer: true }),
        segmentBytes: SEGMENT_BYTES,
        log: { warn: (line) => this.logger.warn(line), error: (line) => this.logger.error(line) },
      });
      const { depth } = this.journal.stats;
      if (depth) this.logger.warn(`journal ${this.dir} holds ${depth} event(s) from an earlier run: replaying them into Postgres`);
    } catch (error) {
      if ((error as { lockHeld?: boolean }).lockHeld) throw error;
      // Ingest still works while Postgres does; without Postgres it answers 503 (never a crash).
      this.logger.error(`journal ${this.dir} cannot be used: ${(error as Error).message}`);
    }
  }

  onApplicationBootstrap(): void {
    if (!this.journal) return;
    this.timer = setInterval(() => this.kick(), REPLAY_TICK_MS);
    this.kick();
  }

  /** Resolves once the payload is synced to disk; JournalFullError / JournalUnwritableError otherwise. */
  async append(payload: unknown): Promise<void> {
    if (!this.journal) throw Object.assign(new Error(`the journal ${this.dir} cannot be used (see the log at start)`), { unwritable: true });
    try {
      await this.journal.append(payload);
      this.problem = null;
      this.appended.inc();
      this.kick();
    } catch (error) {
      this.problem = (error as Error).name === 'JournalFullError' ? 'full' : 'unwritable';
      throw error;
    }
  }

  /** Starts a replay round unless one runs or Postgres was just found unavailable. */
  private kick(): void {
    if (!this.journal || !this.store || this.replaying || this.journal.isEmpty || Date.now() < this.nextAttemptAt) return;
    const store = this.store;
    const journal = this.journal;
    this.replaying = journal
      .replay(async (payload) => {
        const outcome = await store(payload);
        if (outcome !== 'retry') this.replayed.inc();
        return outcome;
      })
      .then(
        (drained) => {
          if (!drained) this.nextAttemptAt = Date.now() + REPLAY_RETRY_MS;
          else if (this.problem === 'full') this.problem = null;
        },
        (error: Error) => {
          this.logger.error(`journal replay failed: ${error.message}`);
          this.nextAttemptAt = Date.now() + REPLAY_RETRY_MS;
        },
      )
      .finally(() => (this.replaying = undefined));
  }

  /** One process per journal directory: two writing the same files would corrupt them. */
  private async lock(): Promise<void> {
    try {
      const handle = await open(this.lockPath, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw error;
    }
    const holder = Number((await readFile(this.lockPath, 'utf8').catch(() => '')).trim());
    if (holder && holder !== process.pid && isRunning(holder)) {
      throw Object.assign(new Error(`JOURNAL_DIR ${this.dir} is in use by process ${holder}: give every api process its own JOURNAL_DIR`), { lockHeld: true });
    }
    // Left by a process that is gone (kill -9, power cut): its journal is ours to replay.
    await writeFile(this.lockPath, String(process.pid));
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.replaying;
    await this.journal?.close();
    if (this.journal) await unlink(this.lockPath).catch(() => undefined);
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}

import { appendFile, FileHandle, mkdir, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeRecords, encodeRecord } from './journal-format';
import { createSegmentFile, readRange, scanSegmentFile, Segment, SEGMENT_NAME } from './journal-segment';

/** The journal has no room for the record (JOURNAL_MAX_BYTES). */
export class JournalFullError extends Error {
  constructor(maxBytes: number) {
    super(`the journal is full (JOURNAL_MAX_BYTES=${maxBytes})`);
    this.name = 'JournalFullError';
  }
}

/** The journal could not be written (disk full, directory gone or read-only). */
export class JournalUnwritableError extends Error {
  constructor(readonly reason: string) {
    super(`the journal cannot be written: ${reason}`);
    this.name = 'JournalUnwritableError';
  }
}

export interface JournalStats {
  /** Records not yet replayed. */
  depth: number;
  /** Bytes of the journal's files on disk, and of records being written. */
  bytes: number;
  /** When the oldest record not yet replayed was appended (ms since epoch). */
  oldestAppendedAt: number | null;
}

export interface JournalOptions {
  maxBytes: number;
  /** A segment file is closed and a new one begun beyond this size. */
  segmentBytes: number;
  log: { warn: (line: string) => void; error: (line: string) => void };
}

/** What replay makes of one record: done, worth trying again later (Postgres down), or refused for good. */
export type ReplayOutcome = 'done' | 'retry' | { refused: string };

interface PendingAppend {
  record: Buffer;
  appendedAt: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** Replay stores this many records at a time: concurrent stores share one insert statement. */
const REPLAY_CONCURRENCY = 64;

/**
 * An append-only, crash-safe journal in a directory (SPEC §3): records are appended and synced to
 * disk (group commit: every append waiting while a sync runs goes into the next one), replayed in
 * append order, and their files deleted once replayed. Files left by an earlier process are
 * replayed first; a file that cannot be read is moved to `aside/`, never deleted.
 */
export class Journal {
  private readonly segments: Segment[] = [];
  private active?: Segment;
  private queue: PendingAppend[] = [];
  private flushing = false;
  /** Records of the write being synced now. */
  private writing = 0;
  private queuedBytes = 0;
  /** Running totals over `segments` (their sizes, their records not yet replayed): appends read them. */
  private segmentBytes = 0;
  private segmentPending = 0;
  private nextSeq = 1;
  /** Disk syncs so far: with group commit, far fewer than appends under concurrent load. */
  syncs = 0;

  private constructor(
    readonly dir: string,
    private readonly options: JournalOptions,
  ) {}

  /** Opens the journal in `dir`, creating it, and takes in the files an earlier process left. */
  static async open(dir: string, options: JournalOptions): Promise<Journal> {
    const journal = new Journal(dir, options);
    await mkdir(join(dir, 'aside'), { recursive: true });
    await journal.takeLeftovers();
    return journal;
  }

  get stats(): JournalStats {
    // Replay goes in file order: the oldest pending record is in the first file not fully replayed.
    const oldest = this.segmentPending > 0 ? this.segments.find((s) => s.replayed < s.times.length) : undefined;
    return {
      depth: this.segmentPending + this.writing + this.queue.length,
      bytes: this.segmentBytes + this.queuedBytes,
      oldestAppendedAt: oldest ? oldest.times[oldest.replayed] : null,
    };
  }

  /** Nothing waits to be replayed and nothing is being appended. */
  get isEmpty(): boolean {
    return !this.flushing && this.queue.length === 0 && this.segmentPending === 0;
  }

  /** Resolves once the record is on disk (synced); rejects when there is no room or the disk refuses it. */
  append(payload: unknown): Promise<void> {
    const appendedAt = Date.now();
    const record = encodeRecord(payload, appendedAt);
    if (this.segmentBytes + this.queuedBytes + record.length > this.options.maxBytes) return Promise.reject(new JournalFullError(this.options.maxBytes));
    this.queuedBytes += record.length;
    return new Promise((resolve, reject) => {
      this.queue.push({ record, appendedAt, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  /**
   * Replays pending records in append order into `store`, a few at a time. Stops at the first
   * record to retry (true when everything pending was replayed); refused records are written to
   * `aside/refused.jsonl` with the reason.
   */
  async replay(store: (payload: unknown) => Promise<ReplayOutcome>): Promise<boolean> {
    for (;;) {
      const segment = this.segments.find((s) => s.replayed < s.times.length);
      if (!segment) break;
      // Size and times move together when a write is synced: these records are the pending ones.
      const end = segment.size;
      const count = segment.times.length;
      const { records } = decodeRecords(await readRange(segment, segment.replayedTo, end), segment.replayedTo);
      for (let i = 0; i < records.length; i += REPLAY_CONCURRENCY) {
        const chunk = records.slice(i, i + REPLAY_CONCURRENCY);
        const outcomes = await Promise.all(chunk.map((record) => store(record.payload).catch((error: Error): ReplayOutcome => ({ refused: error.message }))));
        const retryAt = outcomes.indexOf('retry');
        const done = retryAt < 0 ? chunk.length : retryAt;
        for (let j = 0; j < done; j++) {
          const outcome = outcomes[j];
          if (typeof outcome === 'object') await this.keepRefused(segment, chunk[j].offset, chunk[j].payload, outcome.refused);
        }
        if (done > 0) {
          segment.replayedTo = chunk[done - 1].end;
          this.markReplayed(segment, segment.replayed + done);
        }
        if (retryAt >= 0) return false;
      }
      // Damage and a torn end were reported when the file was taken in: nothing more to read there.
      segment.replayedTo = end;
      this.markReplayed(segment, count);
      await this.retireIfDone(segment);
    }
    for (const segment of [...this.segments]) await this.retireIfDone(segment);
    return true;
  }

  async close(): Promise<void> {
    while (this.flushing) await new Promise((resolve) => setTimeout(resolve, 5));
    for (const segment of this.segments) await segment.handle?.close().catch(() => undefined);
  }

  /** Appends every queued record with one write and one sync, until the queue stays empty. */
  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length) {
        const batch = this.queue;
        this.queue = [];
        this.writing = batch.length;
        const bytes = batch.reduce((sum, item) => sum + item.record.length, 0);
        let segment: Segment | undefined;
        try {
          segment = await this.writableSegment();
          const { bytesWritten } = await (segment.handle as FileHandle).writev(batch.map((item) => item.record), segment.size);
          if (bytesWritten !== bytes) throw Object.assign(new Error(`short write (${bytesWritten} of ${bytes} bytes)`), { code: 'ENOSPC' });
          await (segment.handle as FileHandle).datasync();
          this.syncs += 1;
          segment.size += bytes;
          this.segmentBytes += bytes;
          for (const item of batch) segment.times.push(item.appendedAt);
          this.segmentPending += batch.length;
          this.writing = 0;
          this.queuedBytes -= bytes;
          for (const item of batch) item.resolve();
          if (segment.size >= this.options.segmentBytes) this.active = undefined;
        } catch (error) {
          this.writing = 0;
          this.queuedBytes -= bytes;
          if (segment) await this.dropPartialWrite(segment);
          const reason = `${(error as { code?: string }).code ?? ''} ${(error as Error).message}`.trim();
          this.options.log.error(`journal: could not append ${batch.length} record(s) in ${this.dir}: ${reason}`);
          for (const item of batch) item.reject(new JournalUnwritableError(reason));
        }
      }
    } finally {
      this.writing = 0;
      this.flushing = false;
    }
  }

  /** A failed write may have left part of a record: cut it off, or stop writing to that file. */
  private async dropPartialWrite(segment: Segment): Promise<void> {
    try {
      await segment.handle?.truncate(segment.size);
    } catch {
      if (this.active === segment) this.active = undefined;
    }
  }

  private async writableSegment(): Promise<Segment> {
    if (this.active) return this.active;
    const segment = await createSegmentFile(this.dir, this.nextSeq++);
    this.addSegment(segment);
    this.active = segment;
    return segment;
  }

  private addSegment(segment: Segment): void {
    this.segments.push(segment);
    this.segmentBytes += segment.size;
    this.segmentPending += segment.times.length - segment.replayed;
  }

  private markReplayed(segment: Segment, replayed: number): void {
    this.segmentPending -= replayed - segment.replayed;
    segment.replayed = replayed;
  }

  /** A replayed file is deleted (kept aside when damage was found in it), unless it is still being written. */
  private async retireIfDone(segment: Segment): Promise<void> {
    if (segment.replayed < segment.times.length) return;
    if (segment === this.active) {
      if (this.flushing || this.queue.length) return;
      this.active = undefined;
    }
    this.segments.splice(this.segments.indexOf(segment), 1);
    this.segmentBytes -= segment.size;
    await segment.handle?.close().catch(() => undefined);
    if (segment.damaged) await this.moveAside(segment.path, 'damaged records were skipped');
    else await unlink(segment.path).catch((error: Error) => this.options.log.warn(`journal: could not delete replayed ${segment.path}: ${error.message}`));
  }

  /** Files of an earlier process: counted and checked now, replayed before anything new. */
  private async takeLeftovers(): Promise<void> {
    const names = (await readdir(this.dir)).filter((name) => SEGMENT_NAME.test(name)).sort();
    for (const name of names) {
      const seq = Number(SEGMENT_NAME.exec(name)![1]);
      this.nextSeq = Math.max(this.nextSeq, seq + 1);
      const path = join(this.dir, name);
      const scan = await scanSegmentFile(seq, path);
      if (scan.kind === 'empty') await unlink(path).catch(() => undefined);
      else if (scan.kind === 'unreadable') await this.moveAside(path, scan.reason);
      else {
        for (const problem of scan.problems) this.options.log.warn(`journal: ${path} at byte ${problem.offset}: ${problem.reason}; skipped`);
        this.addSegment(scan.segment);
      }
    }
  }

  private async moveAside(path: string, reason: string): Promise<void> {
    const target = join(this.dir, 'aside', `${Date.now()}-${path.split('/').pop()}`);
    this.options.log.error(`journal: ${path}: ${reason}; kept as ${target}`);
    await rename(path, target).catch((error: Error) => this.options.log.error(`journal: could not move ${path} aside: ${error.message}`));
  }

  private async keepRefused(segment: Segment, offset: number, payload: unknown, reason: string): Promise<void> {
    this.options.log.error(`journal: record at byte ${offset} of ${segment.path} refused: ${reason}; kept in aside/refused.jsonl`);
    const line = JSON.stringify({ file: segment.path, offset, reason, refusedAt: new Date().toISOString(), payload });
    await appendFile(join(this.dir, 'aside', 'refused.jsonl'), `${line}\n`).catch((error: Error) =>
      this.options.log.error(`journal: could not keep the refused record: ${error.message}`),
    );
  }
}

import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal, JournalFullError, ReplayOutcome } from '../../src/journal/journal';
import { decodeRecords, encodeHeader, encodeRecord, HEADER_BYTES } from '../../src/journal/journal-format';

describe('journal format', () => {
  const records = [{ n: 1 }, { n: 2, text: 'é' }, { n: 3 }].map((payload, i) => encodeRecord(payload, 1_700_000_000_000 + i));

  it('reads back whole records with their append times and offsets', () => {
    const decoded = decodeRecords(Buffer.concat(records), HEADER_BYTES);
    expect(decoded.records.map((r) => r.payload)).toEqual([{ n: 1 }, { n: 2, text: 'é' }, { n: 3 }]);
    expect(decoded.records.map((r) => r.appendedAt)).toEqual([1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_002]);
    expect(decoded.records[1].offset).toBe(HEADER_BYTES + records[0].length);
    expect(decoded).toMatchObject({ problems: [], torn: false });
  });

  it('reports a torn last record, at any cut, and keeps what precedes it', () => {
    for (let cut = 1; cut < records[2].length; cut += 7) {
      const decoded = decodeRecords(Buffer.concat([records[0], records[1], records[2].subarray(0, cut)]), 0);
      expect(decoded.records.map((r) => r.payload)).toEqual([{ n: 1 }, { n: 2, text: 'é' }]);
      expect(decoded.torn).toBe(true);
      expect(decoded.problems).toEqual([{ offset: records[0].length + records[1].length, reason: expect.stringMatching(/^torn last record/) }]);
    }
  });

  it('skips a damaged record (flipped bit, garbage) up to the next whole one, naming its position', () => {
    const flipped = Buffer.from(records[1]);
    flipped[flipped.length - 2] ^= 0x40;
    const decoded = decodeRecords(Buffer.concat([records[0], flipped, Buffer.from('garbage'), records[2]]), 100);
    expect(decoded.records.map((r) => r.payload)).toEqual([{ n: 1 }, { n: 3 }]);
    expect(decoded.problems).toEqual([
      { offset: 100 + records[0].length, reason: 'checksum mismatch' },
    ]);
    expect(decoded.torn).toBe(false);
  });
});

describe('Journal', () => {
  let dir: string;
  const log = { warn: jest.fn(), error: jest.fn() };
  const open = (maxBytes = 1024 * 1024, segmentBytes = 4096) => Journal.open(dir, { maxBytes, segmentBytes, log });
  const segments = () => readdirSync(dir).filter((name) => name.endsWith('.jnl'));

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'journal-unit-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('syncs concurrent appends together and replays them in append order across its files, then deletes them', async () => {
    const journal = await open(1024 * 1024, 1024);
    for (let round = 0; round < 3; round++) await Promise.all(Array.from({ length: 100 }, (_, i) => journal.append({ n: round * 100 + i })));
    expect(journal.syncs).toBeLessThan(30);
    expect(journal.stats.depth).toBe(300);
    expect(segments().length).toBeGreaterThan(1);
    const seen: number[] = [];
    expect(await journal.replay(async (payload) => (seen.push((payload as { n: number }).n), 'done'))).toBe(true);
    expect(seen).toEqual(Array.from({ length: 300 }, (_, n) => n));
    expect(journal.stats).toEqual({ depth: 0, bytes: 0, oldestAppendedAt: null });
    expect(journal.isEmpty).toBe(true);
    expect(segments()).toEqual([]);
    await journal.close();
  });

  it('stops at a record to retry and resumes there; keeps a refused record aside with its reason', async () => {
    const journal = await open();
    for (const n of [1, 2, 3, 4]) await journal.append({ n });
    let down = true;
    const seen: number[] = [];
    const store = async (payload: unknown): Promise<ReplayOutcome> => {
      const { n } = payload as { n: number };
      if (n === 3 && down) return 'retry';
      seen.push(n);
      return n === 2 ? { refused: 'no such connection' } : 'done';
    };
    expect(await journal.replay(store)).toBe(false);
    expect(journal.stats.depth).toBe(2);
    down = false;
    expect(await journal.replay(store)).toBe(true);
    // Records go a few at a time: 4 was stored beside the 3 that failed, and is stored again
    // after it (at least once, in order; the event store merges the copy).
    expect(seen).toEqual([1, 2, 4, 3, 4]);
    const refused = readFileSync(join(dir, 'aside', 'refused.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    expect(refused).toEqual([expect.objectContaining({ reason: 'no such connection', payload: { n: 2 } })]);
    await journal.close();
  });

  it('keeps its stats those of its files, through appends, file changes, partial replays and a restart', async () => {
    const onDisk = () => segments().reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
    let journal = await open(1024 * 1024, 512);
    const started = Date.now();
    for (let round = 0; round < 4; round++) await Promise.all(Array.from({ length: 25 }, (_, i) => journal.append({ n: round * 25 + i })));
    expect(segments().length).toBeGreaterThan(2);
    expect(journal.stats).toEqual({ depth: 100, bytes: onDisk(), oldestAppendedAt: expect.any(Number) });
    expect(journal.stats.oldestAppendedAt).toBeGreaterThanOrEqual(started);

    // Records 0..59 go, 60 is to retry: the first files are deleted, the rest still counted.
    let stored = 0;
    expect(await journal.replay(async (payload) => ((payload as { n: number }).n < 60 ? (stored++, 'done') : 'retry'))).toBe(false);
    expect(journal.stats).toEqual({ depth: 100 - stored, bytes: onDisk(), oldestAppendedAt: expect.any(Number) });
    expect(stored).toBeGreaterThanOrEqual(60);
    await journal.close();

    // A new process counts what the files hold (the replayed records of a file not deleted included).
    journal = await open(1024 * 1024, 512);
    expect(journal.stats.bytes).toBe(onDisk());
    await journal.append({ n: 100 });
    expect(journal.stats.bytes).toBe(onDisk());
    expect(await journal.replay(async () => 'done')).toBe(true);
    expect(journal.stats).toEqual({ depth: 0, bytes: 0, oldestAppendedAt: null });
    expect(journal.isEmpty).toBe(true);
    await journal.close();
  });

  it('refuses an append beyond maxBytes, and takes appends again once replayed', async () => {
    const journal = await open(HEADER_BYTES + 3 * encodeRecord({ n: 1 }, 0).length);
    for (const n of [1, 2, 3]) await journal.append({ n });
    await expect(journal.append({ n: 4 })).rejects.toBeInstanceOf(JournalFullError);
    await journal.replay(async () => 'done');
    await expect(journal.append({ n: 5 })).resolves.toBeUndefined();
    await journal.close();
  });

  it('takes in the files of an earlier process: replays them first, puts a newer-version file aside', async () => {
    writeFileSync(join(dir, 'segment-000000000007.jnl'), Buffer.concat([encodeHeader(), encodeRecord({ n: 'left' }, 1)]));
    const newer = encodeHeader();
    newer.writeUInt32LE(9, 8);
    writeFileSync(join(dir, 'segment-000000000008.jnl'), Buffer.concat([newer, Buffer.from('?')]));
    const journal = await open();
    expect(journal.stats).toMatchObject({ depth: 1, oldestAppendedAt: 1 });
    expect(readdirSync(join(dir, 'aside'))).toEqual([expect.stringMatching(/segment-000000000008\.jnl$/)]);
    expect(log.error).toHaveBeenCalledWith(expect.stringMatching(/journal format version 9; this version reads 1/));
    await journal.append({ n: 'new' });
    const seen: unknown[] = [];
    await journal.replay(async (payload) => (seen.push(payload), 'done'));
    expect(seen).toEqual([{ n: 'left' }, { n: 'new' }]);
    // New files are numbered after the ones it found.
    expect(segments()).toEqual([]);
    await journal.close();
  });
});

import { constants } from 'node:fs';
import { FileHandle, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { checkHeader, decodeRecords, DecodeProblem, encodeHeader, HEADER_BYTES } from './journal-format';

/** One file of the journal, as the journal tracks it. */
export interface Segment {
  seq: number;
  path: string;
  /** Bytes durable on disk (flushed and synced). */
  size: number;
  /** Offset of the first record not yet replayed. */
  replayedTo: number;
  /** Append time of each record, in file order; those from `replayed` on are pending. */
  times: number[];
  replayed: number;
  /** Damage was found: the file is kept aside once replayed, not deleted. */
  damaged: boolean;
  handle?: FileHandle;
}

export const SEGMENT_NAME = /^segment-(\d{12})\.jnl$/;

/** A new, empty segment file whose header and directory entry are on disk, open for writing. */
export async function createSegmentFile(dir: string, seq: number): Promise<Segment> {
  const path = join(dir, `segment-${String(seq).padStart(12, '0')}.jnl`);
  const handle = await open(path, constants.O_CREAT | constants.O_EXCL | constants.O_RDWR);
  try {
    await handle.write(encodeHeader(), 0, HEADER_BYTES, 0);
    await handle.sync();
    await syncDirectory(dir);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(path).catch(() => undefined);
    throw error;
  }
  return { seq, path, size: HEADER_BYTES, replayedTo: HEADER_BYTES, times: [], replayed: 0, damaged: false, handle };
}

export type SegmentScan =
  /** A segment whose header never reached the disk: nothing in it. */
  | { kind: 'empty' }
  /** Not a file this version reads: kept aside, untouched. */
  | { kind: 'unreadable'; reason: string }
  /** Its whole records, all pending; the damaged stretches and a torn end skipped. */
  | { kind: 'readable'; segment: Segment; problems: DecodeProblem[] };

/** Reads a file an earlier process left. */
export async function scanSegmentFile(seq: number, path: string): Promise<SegmentScan> {
  const bytes = await readFile(path);
  const headerProblem = checkHeader(bytes.subarray(0, HEADER_BYTES));
  if (headerProblem) return bytes.length === 0 ? { kind: 'empty' } : { kind: 'unreadable', reason: headerProblem.reason };
  const decoded = decodeRecords(bytes.subarray(HEADER_BYTES), HEADER_BYTES);
  const damaged = decoded.problems.length > (decoded.torn ? 1 : 0);
  return {
    kind: 'readable',
    segment: { seq, path, size: bytes.length, replayedTo: HEADER_BYTES, times: decoded.records.map((r) => r.appendedAt), replayed: 0, damaged },
    problems: decoded.problems,
  };
}

export async function readRange(segment: Segment, from: number, to: number): Promise<Buffer> {
  if (to <= from) return Buffer.alloc(0);
  const handle = segment.handle ?? (await open(segment.path, 'r'));
  try {
    const buffer = Buffer.alloc(to - from);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, from);
    return buffer.subarray(0, bytesRead);
  } finally {
    if (handle !== segment.handle) await handle.close();
  }
}

/** A new file's directory entry is durable only once the directory itself is synced. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

import { crc32 } from 'node:zlib';

/**
 * The journal's file format. A segment file is a header followed by records:
 *
 *   header  "LPWBJRNL" | version u32 LE | 4 reserved bytes
 *   record  magic u32 LE | payload length u32 LE | crc32 u32 LE (of time + payload) |
 *           appended-at f64 LE (ms since epoch) | payload (UTF-8 JSON)
 *
 * Every record carries its own magic and checksum, so a reader can tell a torn last record (a
 * power cut mid-write) from a whole one, and find the next whole record after a damaged stretch.
 */
export const JOURNAL_VERSION = 1;
const FILE_MAGIC = Buffer.from('LPWBJRNL', 'latin1');
export const HEADER_BYTES = 16;
const RECORD_MAGIC = 0x524a504c; // "LPJR" little-endian
const RECORD_MAGIC_BYTES = Buffer.from([0x4c, 0x50, 0x4a, 0x52]);
const FRAME_BYTES = 20;
/** A length beyond this is damage, not a record (ingest bodies are at most a few hundred KiB). */
const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;

export function encodeHeader(): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  FILE_MAGIC.copy(header, 0);
  header.writeUInt32LE(JOURNAL_VERSION, 8);
  return header;
}

export function encodeRecord(payload: unknown, appendedAt: number): Buffer {
  const json = Buffer.from(JSON.stringify(payload), 'utf8');
  const record = Buffer.alloc(FRAME_BYTES + json.length);
  record.writeUInt32LE(RECORD_MAGIC, 0);
  record.writeUInt32LE(json.length, 4);
  record.writeDoubleLE(appendedAt, 12);
  json.copy(record, FRAME_BYTES);
  record.writeUInt32LE(crc32(record.subarray(12)), 8);
  return record;
}

/** Why a whole file cannot be read: it is kept aside, untouched. */
export type HeaderProblem = { reason: string } | null;

export function checkHeader(header: Buffer): HeaderProblem {
  if (header.length < HEADER_BYTES || !header.subarray(0, 8).equals(FILE_MAGIC)) return { reason: 'not a journal file (bad header)' };
  const version = header.readUInt32LE(8);
  if (version !== JOURNAL_VERSION) return { reason: `journal format version ${version}; this version reads ${JOURNAL_VERSION}` };
  return null;
}

export interface DecodedRecord {
  /** Byte offset of the record in its file. */
  offset: number;
  /** Offset just past it. */
  end: number;
  appendedAt: number;
  payload: unknown;
}

export interface DecodeProblem {
  offset: number;
  reason: string;
}

export interface DecodedRecords {
  records: DecodedRecord[];
  /** Damaged stretches that were skipped; `torn` for an incomplete last record. */
  problems: DecodeProblem[];
  /** Whether the bytes end in an incomplete record (the last write was cut short). */
  torn: boolean;
}

/**
 * Reads the records in `bytes` (file offsets from `base`). An incomplete record at the end is
 * reported as torn; a damaged record is skipped up to the next whole one.
 */
export function decodeRecords(bytes: Buffer, base: number): DecodedRecords {
  const records: DecodedRecord[] = [];
  const problems: DecodeProblem[] = [];
  let torn = false;
  let at = 0;
  while (at < bytes.length) {
    const remaining = bytes.length - at;
    if (remaining < FRAME_BYTES) {
      // Too short for any record: the start of one whose write was cut short.
      torn = true;
      problems.push({ offset: base + at, reason: `torn last record (${remaining} bytes of its frame)` });
      break;
    }
    const magicOk = bytes.readUInt32LE(at) === RECORD_MAGIC;
    const length = bytes.readUInt32LE(at + 4);
    if (magicOk && length <= MAX_PAYLOAD_BYTES && remaining < FRAME_BYTES + length) {
      // A frame that runs past the end: torn if nothing whole follows it, else damaged.
      const next = findNextRecord(bytes, at + 1);
      if (next < 0) {
        torn = true;
        problems.push({ offset: base + at, reason: `torn last record (${remaining} of ${FRAME_BYTES + length} bytes)` });
        break;
      }
      problems.push({ offset: base + at, reason: 'record cut short' });
      at = next;
      continue;
    }
    const problem = !magicOk
      ? 'not a record (bad magic)'
      : length > MAX_PAYLOAD_BYTES
        ? `implausible length ${length}`
        : bytes.readUInt32LE(at + 8) !== crc32(bytes.subarray(at + 12, at + FRAME_BYTES + length))
          ? 'checksum mismatch'
          : null;
    if (problem) {
      const next = findNextRecord(bytes, at + 1);
      problems.push({ offset: base + at, reason: next < 0 ? `${problem}; nothing readable after it` : problem });
      if (next < 0) break;
      at = next;
      continue;
    }
    const end = at + FRAME_BYTES + length;
    try {
      records.push({ offset: base + at, end: base + end, appendedAt: bytes.readDoubleLE(at + 12), payload: JSON.parse(bytes.toString('utf8', at + FRAME_BYTES, end)) });
    } catch (error) {
      problems.push({ offset: base + at, reason: `unreadable payload: ${(error as Error).message}` });
    }
    at = end;
  }
  return { records, problems, torn };
}

/** The offset of the next whole record (magic, plausible length, checksum) at or after `from`, or -1. */
function findNextRecord(bytes: Buffer, from: number): number {
  for (let at = bytes.indexOf(RECORD_MAGIC_BYTES, from); at >= 0; at = bytes.indexOf(RECORD_MAGIC_BYTES, at + 1)) {
    if (bytes.length - at < FRAME_BYTES) return -1;
    const length = bytes.readUInt32LE(at + 4);
    if (length <= MAX_PAYLOAD_BYTES && at + FRAME_BYTES + length <= bytes.length && bytes.readUInt32LE(at + 8) === crc32(bytes.subarray(at + 12, at + FRAME_BYTES + length))) {
      return at;
    }
  }
  return -1;
}

/**
 * Sigfox "custom payload" grammar (the callback `payloadConfig`, "Custom message type decoding
 * grammar" in the Sigfox backend API v1 docs): parse a config such as
 * `b1::bool:7 temp:1:int:16:little-endian str::char:6` and decode an uplink payload with it.
 * Pure functions, no Nest, no I/O.
 *
 * A field is `name:byteIndex:type:parameters`, fields separated by whitespace:
 *   bool:bit                          bit 7 (most significant) .. 0 of the byte
 *   char:bytes[:bitOffset]            bytes gathered into a string (latin1, one char per byte)
 *   uint:bits[:endianness][:bitOffset], int:… (1..64 bits), float:32|64[:endianness][:bitOffset]
 * The endianness slot may be left empty before an offset (`uint:4::3`), or skipped (`uint:32:2`).
 * Bits are read most significant first, starting at `bitOffset` (default 7) of the first byte and
 * running on into the next bytes.
 */

export class PayloadConfigError extends Error {
  /** 0-based character offset in the config string where the problem is. */
  readonly position: number;

  constructor(message: string, position: number) {
    super(message);
    this.name = 'PayloadConfigError';
    this.position = position;
  }
}

export type PayloadFieldType = 'bool' | 'char' | 'float' | 'uint' | 'int';

export interface PayloadField {
  name: string;
  type: PayloadFieldType;
  /** Byte where reading starts: as written, or computed from the previous field when omitted. */
  byteIndex: number;
  /** Bit of the first byte where reading starts, 7 (most significant) .. 0; for bool, the bit read. */
  bitOffset: number;
  /** Bits read: 1 for bool, 8 per char, the declared length for uint, int and float. */
  bitLength: number;
  /** Only meaningful for fields spanning several bytes; parsing ensures those are whole bytes. */
  littleEndian: boolean;
  /** Where the field starts in the config string. */
  position: number;
}

export interface DecodeResult {
  values: Record<string, boolean | number | string>;
  missing: string[];
}

const TYPES: readonly PayloadFieldType[] = ['bool', 'char', 'float', 'uint', 'int'];
/** The doc's prose allows letters, digits, '-' and '_'; its grammar also allows '#'. Accept both. */
const NOT_NAME_CHAR = /[^A-Za-z0-9_#-]/u;
const ENDIANNESS = ['big-endian', 'little-endian'];
/** Above this, integers lose precision as a JS number: such fields decode to decimal strings. */
const MAX_NUMBER_BITS = 53;

interface Part {
  text: string;
  at: number;
}

export function parsePayloadConfig(config: string): PayloadField[] {
  const fields: PayloadField[] = [];
  const names = new Set<string>();
  // What the next omitted byte index is computed from.
  let previous: { lastByte: number; bitOffsetGiven: boolean } | undefined;

  for (const match of config.matchAll(/\S+/g)) {
    const { field, byteIndexGiven, bitOffsetGiven } = parseField(match[0], match.index);
    if (names.has(field.name)) {
      throw new PayloadConfigError(`${field.name}: duplicate field name`, field.position);
    }
    names.add(field.name);

    // Omitted index: 0 for the first field; otherwise the last byte the previous field used when
    // that field has a bit offset (bools always do: they share their byte), else the byte after it.
    // This also gives bools their "current byte": a bool after a whole-byte field starts a new byte.
    if (byteIndexGiven === undefined) {
      field.byteIndex = !previous ? 0 : previous.bitOffsetGiven ? previous.lastByte : previous.lastByte + 1;
    } else {
      field.byteIndex = byteIndexGiven;
    }
    previous = { lastByte: lastByteOf(field), bitOffsetGiven };
    fields.push(field);
  }

  if (fields.length === 0) throw new PayloadConfigError('payload config is empty', 0);
  return fields;
}

function parseField(
  text: string,
  start: number,
): { field: PayloadField; byteIndexGiven: number | undefined; bitOffsetGiven: boolean } {
  const parts: Part[] = [];
  let at = start;
  for (const piece of text.split(':')) {
    parts.push({ text: piece, at });
    at += piece.length + 1;
  }
  const end = start + text.length;

  const name = parts[0].text;
  if (name === '') throw new PayloadConfigError(`"${text}": field name is empty`, start);
  const bad = name.search(NOT_NAME_CHAR);
  if (bad >= 0) {
    const char = String.fromCodePoint(name.codePointAt(bad)!);
    throw new PayloadConfigError(
      `${name}: invalid character "${char}" in field name (letters, digits, '_', '-', '#')`,
      start + bad,
    );
  }
  const fail: Fail = (what, position) => {
    throw new PayloadConfigError(`${name}: ${what}`, position);
  };

  if (parts.length < 3) fail('missing type (expected name:byteIndex:type:parameters)', end);
  const [, index, typePart, ...params] = parts;

  let byteIndexGiven: number | undefined;
  if (index.text !== '') {
    byteIndexGiven = Number(index.text);
    if (!/^\d+$/.test(index.text) || !Number.isSafeInteger(byteIndexGiven)) {
      fail(`byte index "${index.text}" is not a number`, index.at);
    }
  }

  const type = typePart.text as PayloadFieldType;
  if (!TYPES.includes(type)) {
    fail(`unknown type "${typePart.text}" (expected bool, char, float, uint or int)`, typePart.at);
  }
  if (params.length === 0) fail(`${type} needs a ${type === 'bool' ? 'bit position' : 'length'}`, end);

  const field: PayloadField = {
    name,
    type,
    byteIndex: 0,
    bitOffset: 7,
    bitLength: 0,
    littleEndian: false,
    position: start,
  };
  const [first, ...rest] = params;
  const unexpected = (part: Part): never => fail(`unexpected parameter "${part.text}"`, part.at);
  let bitOffsetGiven = false;
  const setBitOffset = (part: Part): void => {
    field.bitOffset = parseBit(part, 'bit offset', fail);
    bitOffsetGiven = true;
  };

  if (type === 'bool') {
    field.bitOffset = parseBit(first, 'bit position', fail);
    field.bitLength = 1;
    bitOffsetGiven = true;
    if (rest.length > 0) unexpected(rest[0]);
  } else if (type === 'char') {
    // The doc sets no maximum; the cap only keeps bit arithmetic exact.
    const bytes = parseLength(first, 2 ** 40, 'char length (bytes)', fail);
    field.bitLength = bytes * 8;
    if (rest.length > 0) setBitOffset(rest[0]);
    if (rest.length > 1) unexpected(rest[1]);
  } else {
    field.bitLength =
      type === 'float'
        ? parseFloatLength(first, fail)
        : parseLength(first, 64, `${type} length (bits)`, fail);

    // Optional [endianness][:bitOffset]; a lone digit is the offset (`i2::uint:32:2` in the doc).
    let endianness: Part | undefined;
    if (rest.length === 1 && /^\d+$/.test(rest[0].text)) {
      setBitOffset(rest[0]);
    } else if (rest.length >= 1) {
      endianness = rest[0];
      const emptyAllowed = rest.length === 2; // `uint:4::3`
      if (!ENDIANNESS.includes(endianness.text) && !(emptyAllowed && endianness.text === '')) {
        fail(`unknown endianness "${endianness.text}" (expected big-endian or little-endian)`, endianness.at);
      }
      field.littleEndian = endianness.text === 'little-endian';
      if (rest.length >= 2) setBitOffset(rest[1]);
      if (rest.length > 2) unexpected(rest[2]);
    }

    // Byte order is only defined for whole bytes; a field inside one byte has none to swap.
    const fitsInOneByte = 7 - field.bitOffset + field.bitLength <= 8;
    if (field.littleEndian && !fitsInOneByte && (field.bitOffset !== 7 || field.bitLength % 8 !== 0)) {
      fail('little-endian needs whole bytes (a length multiple of 8 starting at bit 7)', endianness!.at);
    }
  }

  return { field, byteIndexGiven, bitOffsetGiven };
}

type Fail = (what: string, position: number) => never;

function parseBit(part: Part, what: string, fail: Fail): number {
  if (!/^[0-7]$/.test(part.text)) fail(`${what} "${part.text}" must be 0..7`, part.at);
  return Number(part.text);
}

function parseLength(part: Part, max: number, what: string, fail: Fail): number {
  const value = Number(part.text);
  if (!/^\d+$/.test(part.text) || value < 1 || value > max) {
    fail(`${what} "${part.text}" must be ${max === 64 ? '1..64' : 'a positive whole number'}`, part.at);
  }
  return value;
}

function parseFloatLength(part: Part, fail: Fail): number {
  if (part.text !== '32' && part.text !== '64') fail(`float length "${part.text}" must be 32 or 64`, part.at);
  return Number(part.text);
}

function firstBitOf(field: PayloadField): number {
  return field.byteIndex * 8 + (7 - field.bitOffset);
}

function lastByteOf(field: PayloadField): number {
  return Math.floor((firstBitOf(field) + field.bitLength - 1) / 8);
}

/** Never throws: a field the payload is too short for is left out and explained in `missing`. */
export function decodePayload(fields: PayloadField[], payload: Buffer): DecodeResult {
  const values: Record<string, boolean | number | string> = {};
  const missing: string[] = [];
  for (const field of fields) {
    const lastByte = lastByteOf(field);
    if (!(lastByte < payload.length)) {
      const needs =
        lastByte === field.byteIndex ? `byte ${lastByte}` : `bytes ${field.byteIndex}..${lastByte}`;
      const has = `${payload.length} byte${payload.length === 1 ? '' : 's'}`;
      missing.push(`${field.name}: needs ${needs}, payload has ${has}`);
      continue;
    }
    try {
      // defineProperty: a field named "__proto__" must become a key, not a prototype.
      Object.defineProperty(values, field.name, {
        value: decodeField(field, payload),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } catch (error) {
      // Only reachable with hand-built fields that parsePayloadConfig would have refused.
      missing.push(`${field.name}: cannot decode (${(error as Error).message})`);
    }
  }
  return { values, missing };
}

function decodeField(field: PayloadField, payload: Buffer): boolean | number | string {
  const first = firstBitOf(field);
  const bits = field.bitLength;
  switch (field.type) {
    case 'bool':
      return readBits(payload, first, 1) === 1n;
    case 'char': {
      let text = '';
      for (let i = 0; i < bits / 8; i++) text += String.fromCharCode(Number(readBits(payload, first + i * 8, 8)));
      return text;
    }
    case 'uint':
    case 'int':
    case 'float': {
      let raw = readBits(payload, first, bits);
      if (field.littleEndian && bits > 8) raw = reverseBytes(raw, bits / 8);
      if (field.type === 'float') return toFloat(raw, bits);
      if (field.type === 'int' && raw >> BigInt(bits - 1) === 1n) raw -= 1n << BigInt(bits); // two's complement
      return bits <= MAX_NUMBER_BITS ? Number(raw) : raw.toString();
    }
    default:
      throw new Error(`unknown type "${String(field.type)}"`);
  }
}

/** `count` bits from absolute bit `first` (bit 0 = most significant bit of byte 0), big-endian. */
function readBits(payload: Buffer, first: number, count: number): bigint {
  let value = 0n;
  for (let bit = first; bit < first + count; bit++) {
    value = (value << 1n) | BigInt((payload[bit >> 3] >> (7 - (bit & 7))) & 1);
  }
  return value;
}

function reverseBytes(value: bigint, bytes: number): bigint {
  let out = 0n;
  for (let i = 0; i < bytes; i++) {
    out = (out << 8n) | (value & 0xffn);
    value >>= 8n;
  }
  return out;
}

function toFloat(raw: bigint, bits: number): number {
  const buffer = Buffer.alloc(8);
  if (bits === 32) {
    buffer.writeUInt32BE(Number(raw));
    return buffer.readFloatBE(0);
  }
  buffer.writeBigUInt64BE(raw);
  return buffer.readDoubleBE(0);
}

import {
  decodePayload,
  parsePayloadConfig,
  PayloadConfigError,
  type PayloadField,
} from '../../src/networks/sigfox/payload-config';

function decode(config: string, hex: string) {
  return decodePayload(parsePayloadConfig(config), Buffer.from(hex, 'hex'));
}

function configError(config: string): PayloadConfigError {
  try {
    parsePayloadConfig(config);
  } catch (error) {
    if (error instanceof PayloadConfigError) return error;
    throw error;
  }
  throw new Error(`no error for ${JSON.stringify(config)}`);
}

describe('Sigfox payloadConfig: the examples of the reference document', () => {
  // The reference lists format and message; the values follow the documented rules.
  it('"int1::uint:8 int2::uint:8" with 1234', () => {
    expect(decode('int1::uint:8 int2::uint:8', '1234')).toEqual({
      values: { int1: 0x12, int2: 0x34 },
      missing: [],
    });
  });

  it('"b1::bool:7 b2::bool:6 i1:1:uint:16" with C01234', () => {
    expect(decode('b1::bool:7 b2::bool:6 i1:1:uint:16', 'C01234')).toEqual({
      values: { b1: true, b2: true, i1: 0x1234 },
      missing: [],
    });
  });

  it('"b1::bool:7 b2::bool:6 i1:1:uint:16:little-endian" with 801234', () => {
    expect(decode('b1::bool:7 b2::bool:6 i1:1:uint:16:little-endian', '801234')).toEqual({
      values: { b1: true, b2: false, i1: 0x3412 },
      missing: [],
    });
  });

  it('"b1::bool:7 b2::bool:6 i1:1:uint:16:little-endian i2::uint:8" with 80123456', () => {
    expect(decode('b1::bool:7 b2::bool:6 i1:1:uint:16:little-endian i2::uint:8', '80123456')).toEqual({
      values: { b1: true, b2: false, i1: 0x3412, i2: 0x56 },
      missing: [],
    });
  });

  it('"str::char:6 i1::uint:16 i2::uint:32" with 41424344454601234567890A', () => {
    expect(decode('str::char:6 i1::uint:16 i2::uint:32', '41424344454601234567890A')).toEqual({
      values: { str: 'ABCDEF', i1: 0x0123, i2: 0x4567890a },
      missing: [],
    });
  });

  it('"str::char:6 i1::uint:16 i2::uint:32:2" with 41424344454601234567890A', () => {
    // i2 starts at bit 2 of byte 8: 3 + 24 bits are there, the last 5 would be in byte 12.
    // (Sigfox's public docs print i2: 0x167890A here, which no reading of the rules gives.)
    expect(decode('str::char:6 i1::uint:16 i2::uint:32:2', '41424344454601234567890A')).toEqual({
      values: { str: 'ABCDEF', i1: 0x0123 },
      missing: ['i2: needs bytes 8..12, payload has 12 bytes'],
    });
    // One byte more and the 32 bits are there: 101 + 67 89 0A + 11111.
    expect(decode('str::char:6 i1::uint:16 i2::uint:32:2', '41424344454601234567890AF8').values.i2).toBe(
      (0b101 * 2 ** 29) + 0x67890a * 2 ** 5 + 0b11111,
    );
  });

  it('"var1::bool:1" (callback creation example)', () => {
    expect(decode('var1::bool:1', '02')).toEqual({ values: { var1: true }, missing: [] });
    expect(decode('var1::bool:1', 'FD')).toEqual({ values: { var1: false }, missing: [] });
  });

  it('"int1::uint:8\\nint2::uint:8" (callback list example, fields on two lines)', () => {
    expect(decode('int1::uint:8\nint2::uint:8', '1234').values).toEqual({ int1: 0x12, int2: 0x34 });
  });
});

describe('Sigfox payloadConfig: parsing', () => {
  it('gives each field its resolved position, bits and byte order', () => {
    expect(parsePayloadConfig('temp:1:int:16:little-endian flag:0:bool:7')).toEqual([
      { name: 'temp', type: 'int', byteIndex: 1, bitOffset: 7, bitLength: 16, littleEndian: true, position: 0 },
      { name: 'flag', type: 'bool', byteIndex: 0, bitOffset: 7, bitLength: 1, littleEndian: false, position: 28 },
    ]);
  });

  it('separates fields by any whitespace (spaces, tabs, newlines, leading and trailing)', () => {
    const fields = parsePayloadConfig('  a::uint:8\t\tb::uint:8\r\n c::uint:8  ');
    expect(fields.map((f) => [f.name, f.byteIndex, f.position])).toEqual([
      ['a', 0, 2],
      ['b', 1, 13],
      ['c', 2, 25],
    ]);
  });

  it('accepts the offset with or without an endianness slot: uint:4::3, uint:4:3, uint:16:big-endian:3', () => {
    const [a, b, c] = parsePayloadConfig('a:0:uint:4::3 b:0:uint:4:3 c:0:uint:16:big-endian:3');
    expect([a.bitOffset, b.bitOffset, c.bitOffset]).toEqual([3, 3, 3]);
    expect(c.littleEndian).toBe(false);
  });

  it('accepts names with letters, digits, _, - and #', () => {
    expect(parsePayloadConfig('Temp_1-a#2::uint:8')[0].name).toBe('Temp_1-a#2');
  });
});

describe('Sigfox payloadConfig: omitted byte index', () => {
  it('continues on the byte after each whole-byte field', () => {
    const fields = parsePayloadConfig('a::uint:8 b::uint:16 c::int:8 d::char:2 e::float:32 f::uint:8');
    expect(fields.map((f) => f.byteIndex)).toEqual([0, 1, 3, 4, 6, 10]);
  });

  it('continues after an explicit index', () => {
    expect(decode('a:4:uint:8 b::uint:8', '0000000011223344').values).toEqual({ a: 0x11, b: 0x22 });
  });

  it('keeps consecutive bools on the current byte', () => {
    expect(decode('b7::bool:7 b6::bool:6 b1::bool:1 b0::bool:0', 'C1').values).toEqual({
      b7: true,
      b6: true,
      b1: false,
      b0: true,
    });
  });

  it('puts a bool after a whole-byte field on the next byte, and a field after bools on the bools\' byte', () => {
    // A bool has a bit position, so the next field reads from the last byte used: the bools' byte.
    expect(decode('s::uint:16 reboot::bool:7 fraud::bool:5 flags::uint:8 bat::uint:8', '1234A02A').values).toEqual({
      s: 0x1234,
      reboot: true,
      fraud: true,
      flags: 0xa0,
      bat: 0x2a,
    });
  });

  it('reads the last byte used again after a field with a bit offset', () => {
    const fields = parsePayloadConfig('hi:0:uint:4 lo:0:uint:4:3 next::uint:8');
    expect(fields.map((f) => f.byteIndex)).toEqual([0, 0, 0]);
    expect(decodePayload(fields, Buffer.from('ABCD', 'hex')).values).toEqual({ hi: 0xa, lo: 0xb, next: 0xab });
  });

  it('uses the byte holding the last bit of a multi-byte field with a bit offset', () => {
    // a: bits 3..0 of byte 0 + byte 1, so b starts again at byte 1.
    expect(parsePayloadConfig('a:0:uint:12:3 b::uint:8').map((f) => f.byteIndex)).toEqual([0, 1]);
  });

  it('jumps to the next byte after a sub-byte field without offset (Speed::uint:8 Direction::uint:4 Status::uint:4)', () => {
    expect(decode('Speed::uint:8 Direction::uint:4 Status::uint:4', '645AC0').values).toEqual({
      Speed: 100,
      Direction: 5,
      Status: 0xc,
    });
    // Written with an explicit index and offset, Status is the low nibble of byte 1.
    expect(decode('Speed::uint:8 Direction::uint:4 Status:1:uint:4::3', '645AC0').values).toEqual({
      Speed: 100,
      Direction: 5,
      Status: 0xa,
    });
  });
});

describe('Sigfox payloadConfig: integers', () => {
  it('decodes int:8 extremes', () => {
    expect(decode('a::int:8 b::int:8 c::int:8 d::int:8', 'FF807F00').values).toEqual({ a: -1, b: -128, c: 127, d: 0 });
  });

  it('decodes int:16 big-endian and little-endian', () => {
    expect(decode('be::int:16 le::int:16:little-endian', 'FF3838FF').values).toEqual({ be: -200, le: -200 });
  });

  it('decodes int:24 and uint:24 of the same bytes', () => {
    expect(decode('s:0:int:24 u:0:uint:24', 'FFFF9C').values).toEqual({ s: -100, u: 0xffff9c });
  });

  it('decodes int:32 and uint:32 little-endian', () => {
    expect(decode('s::int:32 u::uint:32:little-endian', '800000000A896745').values).toEqual({
      s: -2147483648,
      u: 0x4567890a,
    });
  });

  it('decodes 48-bit values as numbers', () => {
    const buffer = Buffer.alloc(12);
    buffer.writeIntBE(-0x0123456789ab, 0, 6);
    buffer.writeUIntLE(0x0123456789ab, 6, 6);
    expect(decodePayload(parsePayloadConfig('s::int:48 u::uint:48:little-endian'), buffer).values).toEqual({
      s: -0x0123456789ab,
      u: 0x0123456789ab,
    });
  });

  it('decodes int:64 and uint:64 as decimal strings', () => {
    expect(decode('s:0:int:64 u:0:uint:64', 'FFFFFFFFFFFFFFFF').values).toEqual({
      s: '-1',
      u: '18446744073709551615',
    });
    expect(decode('s::int:64:little-endian', '0000000000000080').values).toEqual({ s: '-9223372036854775808' });
  });

  it('keeps fields over 53 bits as strings even when the value is small', () => {
    expect(decode('v::uint:56', '00000000000001').values).toEqual({ v: '1' });
  });

  it('reads a sub-byte uint at a bit offset', () => {
    expect(decode('v:0:uint:3:5', '28').values).toEqual({ v: 5 }); // 0010 1000: bits 5..3 = 101
  });

  it('reads a field across a byte boundary from a bit offset', () => {
    expect(decode('v:0:uint:8:3', 'ABCD').values).toEqual({ v: 0xbc });
  });

  it('reads a 12-bit big-endian uint', () => {
    expect(decode('v::uint:12', 'ABCD').values).toEqual({ v: 0xabc });
  });

  it('sign-extends a sub-byte int', () => {
    expect(decode('a:0:int:4:3 b:1:int:4:3 c:2:int:1:0', '0F0701').values).toEqual({ a: -1, b: 7, c: -1 });
  });

  it('ignores little-endian on a field inside one byte', () => {
    expect(decode('v:0:uint:4:little-endian:3', 'AB').values).toEqual({ v: 0xb });
  });
});

describe('Sigfox payloadConfig: floats', () => {
  it('decodes float:32 big-endian and little-endian', () => {
    expect(decode('a::float:32 b::float:32:little-endian c::float:32', '3FC000000000C03FC2ED4000').values).toEqual({
      a: 1.5,
      b: 1.5,
      c: -118.625,
    });
  });

  it('decodes float:32 as the exact value of the single-precision number', () => {
    expect(decode('v::float:32', '4048F5C3').values.v).toBe(Math.fround(3.14));
  });

  it('decodes float:64 big-endian and little-endian', () => {
    expect(decode('a::float:64 b::float:64:little-endian', '400921FB54442D18182D4454FB210940').values).toEqual({
      a: Math.PI,
      b: Math.PI,
    });
  });

  it('decodes a big-endian float:32 starting at a bit offset', () => {
    // 1010 | 0x3FC00000 | 0101 over five bytes.
    expect(decode('f:0:float:32:3', 'A3FC000005').values).toEqual({ f: 1.5 });
  });
});

describe('Sigfox payloadConfig: char', () => {
  it('gathers ASCII bytes and leaves the trailing content to other fields', () => {
    expect(decode('msg::char:5 n::uint:8', '48656C6C6F21').values).toEqual({ msg: 'Hello', n: 0x21 });
  });

  it('reads from an explicit index and ignores what follows', () => {
    expect(decode('id:2:char:3', '0000414243FFFF').values).toEqual({ id: 'ABC' });
  });

  it('reads from a bit offset', () => {
    expect(decode('c:0:char:2:3', 'F41420').values).toEqual({ c: 'AB' });
  });

  it('keeps NUL padding and maps bytes above 0x7F one to one (latin1)', () => {
    expect(decode('c::char:4', '4142E900').values).toEqual({ c: 'AB\u00e9\u0000' });
  });
});

describe('Sigfox payloadConfig: payload too short', () => {
  it('decodes what is there and explains what is not', () => {
    expect(decode('a::uint:8 b::uint:16 temp:3:int:16 flag:1:bool:0', 'FF0102')).toEqual({
      values: { a: 255, b: 0x0102, flag: true },
      missing: ['temp: needs bytes 3..4, payload has 3 bytes'],
    });
  });

  it('names a single byte and a one-byte payload', () => {
    expect(decode('a::uint:8 b::uint:8 c:1:uint:4:3', '01')).toEqual({
      values: { a: 1 },
      missing: ['b: needs byte 1, payload has 1 byte', 'c: needs byte 1, payload has 1 byte'],
    });
  });

  it('reports every field of an empty payload', () => {
    expect(decode('s::char:2 f::bool:7', '')).toEqual({
      values: {},
      missing: ['s: needs bytes 0..1, payload has 0 bytes', 'f: needs byte 2, payload has 0 bytes'],
    });
  });

  it('reports a field cut off in the middle of its last byte', () => {
    expect(decode('v:0:uint:8:3', 'AB').missing).toEqual(['v: needs bytes 0..1, payload has 1 byte']);
  });

  it('does not throw on hand-built fields that parsing would refuse', () => {
    const odd = { ...parsePayloadConfig('v::uint:8')[0], type: 'double' } as unknown as PayloadField;
    expect(decodePayload([odd], Buffer.from('01', 'hex'))).toEqual({
      values: {},
      missing: ['v: cannot decode (unknown type "double")'],
    });
  });

  it('keeps a field named __proto__ as a plain key', () => {
    const { values } = decode('__proto__::uint:8', '07');
    expect(Object.keys(values)).toEqual(['__proto__']);
    expect(JSON.stringify(values)).toBe('{"__proto__":7}');
  });
});

describe('Sigfox payloadConfig: invalid configs', () => {
  it.each([
    ['', 0, /empty/],
    [' \n\t ', 0, /empty/],
    ['::uint:8', 0, /field name is empty/],
    ['te$t::uint:8', 2, /^te\$t: invalid character "\$"/],
    ['ok::uint:8 t😀::uint:8', 12, /^t😀: invalid character "😀"/],
    ['a:', 2, /^a: missing type/],
    ['a:x:uint:8', 2, /^a: byte index "x"/],
    ['a::uint:8 b::integer:8', 13, /^b: unknown type "integer"/],
    ['a::bool', 7, /^a: bool needs a bit position/],
    ['a::uint', 7, /^a: uint needs a length/],
    ['a::bool:8', 8, /^a: bit position "8" must be 0\.\.7/],
    ['a::bool:7:1', 10, /^a: unexpected parameter "1"/],
    ['a::uint:0', 8, /^a: uint length \(bits\) "0" must be 1\.\.64/],
    ['a::int:65', 7, /^a: int length \(bits\) "65" must be 1\.\.64/],
    ['a::uint:x', 8, /^a: uint length/],
    ['a::float:16', 9, /^a: float length "16" must be 32 or 64/],
    ['a::char:0', 8, /^a: char length \(bytes\) "0"/],
    ['a::char:2:8', 10, /^a: bit offset "8" must be 0\.\.7/],
    ['a::char:2:3:1', 12, /^a: unexpected parameter "1"/],
    ['a::uint:16:middle-endian', 11, /^a: unknown endianness "middle-endian"/],
    ['a::uint:8:', 10, /^a: unknown endianness ""/],
    ['a::uint:16:9', 11, /^a: bit offset "9" must be 0\.\.7/],
    ['a::uint:8:little-endian:9', 24, /^a: bit offset "9" must be 0\.\.7/],
    ['a::uint:8:little-endian:3:1', 26, /^a: unexpected parameter "1"/],
    ['a::uint:12:little-endian', 11, /^a: little-endian needs whole bytes/],
    ['a::float:32:little-endian:3', 12, /^a: little-endian needs whole bytes/],
    ['a::uint:8 b::uint:8 a::uint:8', 20, /^a: duplicate field name/],
  ])('%j fails at %i', (config, position, message) => {
    const error = configError(config);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('PayloadConfigError');
    expect(error.message).toMatch(message);
    expect(error.position).toBe(position);
  });
});

import { z, ZodError } from 'zod';
import type { IncomingEvent } from '../../src/events/normalized-event';
import { canonicalSigfoxId } from '../../src/networks/sigfox/sigfox-device-id';
import { mapDataCallback, mapErrorCallback, mapServiceCallback } from '../../src/networks/sigfox/sigfox.mapper';
import { SigfoxProvisioner } from '../../src/networks/sigfox/sigfox.provisioner';
import {
  sigfoxDataCallbackSchema,
  sigfoxErrorCallbackSchema,
  sigfoxServiceCallbackSchema,
} from '../../src/networks/sigfox/sigfox.schema';

const TIME = 1632353389;
const TIME_ISO = '2021-09-22T23:29:49.000Z';

/** A BIDIR callback with a JSON template that writes numbers and booleans as JSON values. */
const jsonBidir = {
  device: '1a2b3c',
  time: TIME,
  data: '0A1B2C',
  seqNumber: 33,
  ack: true,
  duplicate: false,
  station: '37F1',
  rssi: -120.5,
  snr: 12.25,
  avgSnr: 'N/A',
  lat: 43,
  lng: 6,
  deviceTypeId: '5f0c1a2b3c4d5e6f7a8b9c0d',
  computedLocation: { lat: 43.45, lng: 6.54, radius: 500, source: 2, status: 1 },
  'customData#temperature': '21.5',
};

/** The same callback as a form or query string gives it: every value is text. */
const formBidir = {
  device: '1a2b3c',
  time: '1632353389',
  data: '0A1B2C',
  seqNumber: '33',
  ack: 'true',
  duplicate: 'false',
  station: '37F1',
  rssi: '-120.50',
  snr: '12.25',
  avgSnr: 'N/A',
  lat: '43',
  lng: '6',
  deviceTypeId: '5f0c1a2b3c4d5e6f7a8b9c0d',
  computedLocation: '{"lat":43.45,"lng":6.54,"radius":500,"source":2,"status":1}',
  'customData#temperature': '21.5',
};

function withoutRaw(events: IncomingEvent[]): Array<Omit<IncomingEvent, 'raw'>> {
  return events.map(({ raw: _raw, ...event }) => event);
}

/** The field paths and messages of a body the schema refuses. */
function problems(schema: { safeParse(body: unknown): { error?: ZodError } }, body: unknown) {
  const { error } = schema.safeParse(body);
  if (!error) throw new Error('expected the body to be refused');
  return error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
}

describe('mapDataCallback', () => {
  it('maps a BIDIR callback to an uplink event, field by field', () => {
    const [uplink] = mapDataCallback(jsonBidir);

    expect(uplink.type).toBe('uplink');
    expect(uplink.dedupKey).toBe(`sigfox:up:1A2B3C:33:${TIME}`);
    expect(uplink.device).toEqual({ externalId: '1A2B3C' });
    expect(uplink.time).toBe(TIME_ISO);
    expect(uplink.uplink).toEqual({
      port: null,
      fcnt: 33,
      confirmed: true,
      payloadHex: '0a1b2c',
      payloadBase64: 'Chss',
      decoded: null,
    });
    expect(uplink.radio).toEqual({
      frequencyHz: null,
      dataRate: null,
      spreadingFactor: null,
      bandwidthHz: null,
      rssi: -120.5,
      snr: 12.25,
      gateways: [{ id: '37F1', name: null, rssi: -120.5, snr: 12.25, location: { lat: 43, lng: 6 } }],
    });
    expect(uplink.status).toBeNull();
    expect(uplink.ack).toBeNull();
    expect(uplink.location).toBeNull();
    expect(uplink.raw).toBe(jsonBidir);
  });

  it('adds a location event when Sigfox computed a position', () => {
    const events = mapDataCallback(jsonBidir);

    expect(events).toHaveLength(2);
    expect(events[1]).toEqual({
      type: 'location',
      dedupKey: `sigfox:location:1A2B3C:33:${TIME}`,
      device: { externalId: '1A2B3C' },
      time: TIME_ISO,
      uplink: null,
      radio: null,
      status: null,
      ack: null,
      location: { lat: 43.45, lng: 6.54, radiusM: 500, source: 'sigfox-atlas' },
      raw: jsonBidir,
    });
  });

  it('gives the same events for an all-text (form or query) body', () => {
    const fromForm = mapDataCallback(formBidir);

    expect(withoutRaw(fromForm)).toEqual(withoutRaw(mapDataCallback(jsonBidir)));
    expect(fromForm[0].raw).toBe(formBidir);
  });

  it('gives the copies from two base stations the same dedupKey, each with its own station', () => {
    const [first] = mapDataCallback(formBidir);
    const [copy] = mapDataCallback({ ...formBidir, duplicate: 'true', station: '0a2f', rssi: '-98.00', snr: '20.10' });

    expect(copy.dedupKey).toBe(first.dedupKey);
    expect(copy.radio!.gateways).toEqual([{ id: '0A2F', name: null, rssi: -98, snr: 20.1, location: { lat: 43, lng: 6 } }]);
  });

  it('maps an UPLINK callback without network metadata: not confirmed, no base station', () => {
    const [uplink] = mapDataCallback({ device: '2C', time: TIME, data: '', seqNumber: 7 });

    expect(uplink.uplink).toMatchObject({ fcnt: 7, confirmed: false, payloadHex: '', payloadBase64: '' });
    expect(uplink.radio).toMatchObject({ rssi: null, snr: null, gateways: [] });
  });

  it('keys a message without seqNumber by device and time', () => {
    const [uplink] = mapDataCallback({ device: '2C', time: TIME, data: '01' });

    expect(uplink.uplink!.fcnt).toBeNull();
    expect(uplink.dedupKey).toBe(`sigfox:up:2C:none:${TIME}`);
  });

  it('reads null, "null", "N/A" and empty values as missing', () => {
    const [fromForm] = mapDataCallback({ ...formBidir, rssi: 'null', snr: 'N/A', lat: '', lng: '', seqNumber: '' });
    const [fromJson] = mapDataCallback({ ...jsonBidir, rssi: null, snr: null, lat: null, lng: null, ack: null });

    expect(fromForm.radio!.gateways).toEqual([{ id: '37F1', name: null, rssi: null, snr: null, location: null }]);
    expect(fromForm.uplink!.fcnt).toBeNull();
    expect(fromJson.radio!.gateways).toEqual(fromForm.radio!.gateways);
    expect(fromJson.uplink!.confirmed).toBe(false);
  });

  it('hands the payload bytes to the decoder and keeps what it returns', () => {
    const decode = jest.fn((payload: Buffer) => ({ first: payload[0], length: payload.length }));

    const [uplink] = mapDataCallback(jsonBidir, decode);

    expect(decode).toHaveBeenCalledWith(Buffer.from([0x0a, 0x1b, 0x2c]));
    expect(uplink.uplink!.decoded).toEqual({ first: 0x0a, length: 3 });
  });

  it('accepts computedLocation as an object and as JSON text', () => {
    const location = { lat: 48.85, lng: 2.35, radius: 25, source: 6, status: 1 };
    const expected = { lat: 48.85, lng: 2.35, radiusM: 25, source: 'sigfox-atlas-wifi' };

    expect(mapDataCallback({ ...jsonBidir, computedLocation: location })[1].location).toEqual(expected);
    expect(mapDataCallback({ ...formBidir, computedLocation: JSON.stringify(location) })[1].location).toEqual(expected);
  });

  it('names the location source after the computedLocation.source code', () => {
    const sourceOf = (source: unknown) =>
      mapDataCallback({ ...jsonBidir, computedLocation: { lat: 1, lng: 2, source } })[1].location!.source;

    expect(sourceOf(1)).toBe('sigfox-gps');
    expect(sourceOf(undefined)).toBe('sigfox-atlas');
    expect(sourceOf('9')).toBe('sigfox-source-9');
  });

  it('makes no location event when there is no valid computed position', () => {
    for (const computedLocation of [
      undefined,
      null,
      'null',
      { lat: 43.45, lng: 6.54, radius: 500, source: 2, status: 0 },
      { status: 1 },
      { lat: 95, lng: 6.54 },
    ]) {
      expect(mapDataCallback({ ...jsonBidir, computedLocation })).toHaveLength(1);
    }
  });

  it('keeps unknown variables, in raw and in the parsed body', () => {
    const body = { ...formBidir, operatorName: 'SIGFOX_France', 'customData#level': '3' };

    const [uplink] = mapDataCallback(body);

    expect(uplink.raw).toEqual(expect.objectContaining({ operatorName: 'SIGFOX_France', 'customData#level': '3' }));
    expect(sigfoxDataCallbackSchema.parse(body)).toMatchObject({ operatorName: 'SIGFOX_France', 'customData#level': '3' });
  });

  it('throws a ZodError for a malformed body', () => {
    expect(() => mapDataCallback({ ...jsonBidir, data: 'xyz' })).toThrow(ZodError);
  });
});

describe('sigfoxDataCallbackSchema', () => {
  it.each([
    ['non-hex data', { data: '0g12' }, 'data', 'data must be hex digits (0-9, a-f)'],
    ['odd-length data', { data: '0a1' }, 'data', 'data must be whole bytes: an even number of hex digits, got 3'],
    ['13-byte data', { data: '00'.repeat(13) }, 'data', 'data must be at most 12 bytes, got 13'],
    ['a time that is not a number', { time: 'abc' }, 'time', 'time must be a number, got "abc"'],
    ['a time in milliseconds', { time: TIME * 1000 }, 'time', 'time must be seconds since the epoch, not milliseconds'],
    ['a device id that is not hex', { device: 'XYZ' }, 'device', 'device must be a Sigfox device id: 1 to 8 hex digits'],
    ['an rssi that is not a number', { rssi: 'strong' }, 'rssi', 'rssi must be a number, got "strong"'],
    ['an ack that is not a boolean', { ack: 'yes' }, 'ack', 'ack must be true or false, got "yes"'],
    ['a seqNumber with a fraction', { seqNumber: '3.5' }, 'seqNumber', 'seqNumber must be a whole number'],
    [
      'a computedLocation that is not JSON',
      { computedLocation: 'lat=1' },
      'computedLocation',
      'computedLocation must be an object or its JSON text',
    ],
  ])('refuses %s, naming the field', (_case, change, path, message) => {
    expect(problems(sigfoxDataCallbackSchema, { ...formBidir, ...change })).toEqual([{ path, message }]);
  });

  it('refuses a body without device, naming it', () => {
    const { device: _device, ...body } = formBidir;

    expect(problems(sigfoxDataCallbackSchema, body)).toEqual([{ path: 'device', message: 'device is required' }]);
  });

  it('accepts 12 bytes of data and upper-cases the device id', () => {
    const parsed = sigfoxDataCallbackSchema.parse({ ...formBidir, device: 'abcdef01', data: 'FF'.repeat(12) });

    expect(parsed.device).toBe('ABCDEF01');
    expect(parsed.data).toBe('ff'.repeat(12));
  });
});

describe('mapServiceCallback', () => {
  it('maps STATUS to a status event: temperature in °C, battery in V', () => {
    const body = { device: '1a2b3c', time: '1632353389', temp: '21.50', batt: '3.25', seqNumber: '4' };

    expect(mapServiceCallback(body)).toEqual({
      type: 'status',
      dedupKey: `sigfox:status:1A2B3C:${TIME}`,
      device: { externalId: '1A2B3C' },
      time: TIME_ISO,
      uplink: null,
      radio: null,
      status: { batteryV: 3.25, temperatureC: 21.5 },
      ack: null,
      location: null,
      raw: body,
    });
  });

  it('gives the same STATUS event for JSON-typed and all-text bodies', () => {
    const fromJson = mapServiceCallback({ device: '1A2B3C', time: TIME, temp: 21.5, batt: 3.25 });
    const fromForm = mapServiceCallback({ device: '1a2b3c', time: String(TIME), temp: '21.5', batt: '3.25' });

    expect(withoutRaw([fromForm])).toEqual(withoutRaw([fromJson]));
  });

  it('maps an ACKNOWLEDGE of an emitted downlink to downlink.acked', () => {
    const event = mapServiceCallback({
      device: '1A2B3C',
      time: TIME,
      infoCode: '0',
      infoMessage: 'Acked',
      downlinkAck: 'true',
      downlinkOverusage: 'false',
    });

    expect(event.type).toBe('downlink.acked');
    expect(event.dedupKey).toBe(`sigfox:acknowledge:1A2B3C:${TIME}`);
    expect(event.ack).toEqual({ downlinkId: null, info: 'Acked' });
    expect(event.status).toBeNull();
  });

  it('maps an ACKNOWLEDGE of a downlink not emitted to downlink.failed, with the reason', () => {
    const event = mapServiceCallback({
      device: '1A2B3C',
      time: TIME,
      infoCode: 3,
      downlinkAck: false,
      downlinkOverusage: true,
    });

    expect(event.type).toBe('downlink.failed');
    expect(event.ack).toEqual({ downlinkId: null, info: 'OVERRUN_ERROR; daily downlink quota exceeded' });
  });

  it('reads infoCode 0 as emitted when downlinkAck is not in the template', () => {
    expect(mapServiceCallback({ device: '1A2B3C', time: TIME, infoCode: '0' }).type).toBe('downlink.acked');
    expect(mapServiceCallback({ device: '1A2B3C', time: TIME, infoCode: '1' }).type).toBe('downlink.failed');
  });

  it('maps REPEATER to a status event with the battery, keeping its counters in raw', () => {
    const body = { device: '7E57', time: String(TIME), batt: '3.60', repeatedMsg: '12', wrongMsg: '0' };

    const event = mapServiceCallback(body);

    expect(event.type).toBe('status');
    expect(event.dedupKey).toBe(`sigfox:repeater:7E57:${TIME}`);
    expect(event.status).toEqual({ batteryV: 3.6, temperatureC: null });
    expect(event.raw).toBe(body);
  });

  it('refuses a SERVICE body that carries no variable of any subtype', () => {
    expect(problems(sigfoxServiceCallbackSchema, { device: '1A2B3C', time: TIME })).toEqual([
      {
        path: '',
        message:
          'SERVICE callback body must carry temp or batt (STATUS), downlinkAck or infoCode (ACKNOWLEDGE), or one of ' +
          'repeatedMsg, whitelistDevices, unwantedDevices, unwantedMsg, wrongMsg, overRegulMsg (REPEATER)',
      },
    ]);
  });

  it('refuses a temperature that is not a number, naming it', () => {
    expect(problems(sigfoxServiceCallbackSchema, { device: '1A2B3C', time: TIME, temp: 'warm' })).toEqual([
      { path: 'temp', message: 'temp must be a number, got "warm"' },
    ]);
  });
});

describe('mapErrorCallback', () => {
  it('maps ERROR to an error event with severity and message in ack.info', () => {
    const body = {
      device: '1a2b3c',
      time: '1632353389',
      severity: 'ERROR',
      info: 'No message received since 2021-09-20 10:00:00',
    };

    expect(mapErrorCallback(body)).toEqual({
      type: 'error',
      dedupKey: `sigfox:error:1A2B3C:${TIME}`,
      device: { externalId: '1A2B3C' },
      time: TIME_ISO,
      uplink: null,
      radio: null,
      status: null,
      ack: { downlinkId: null, info: 'ERROR: No message received since 2021-09-20 10:00:00' },
      location: null,
      raw: body,
    });
  });

  it('takes infoMessage, or else infoCode, when there is no info', () => {
    expect(mapErrorCallback({ device: '2C', time: TIME, infoCode: '4', infoMessage: 'Network error' }).ack).toEqual({
      downlinkId: null,
      info: 'Network error',
    });
    expect(mapErrorCallback({ device: '2C', time: TIME, severity: 'WARN', infoCode: 4 }).ack!.info).toBe('WARN: infoCode 4');
    expect(mapErrorCallback({ device: '2C', time: TIME }).ack!.info).toBeNull();
  });

  it('refuses an ERROR body without device or with a bad time, naming the fields', () => {
    expect(problems(sigfoxErrorCallbackSchema, { time: 'soon' })).toEqual([
      { path: 'device', message: 'device is required' },
      { path: 'time', message: 'time must be a number, got "soon"' },
    ]);
  });
});

describe('canonicalSigfoxId', () => {
  it.each([
    ['002c', '2C'],
    ['002C', '2C'],
    ['2c', '2C'],
    ['0000002C', '2C'],
    ['0B59', 'B59'],
    ['1a2b3c', '1A2B3C'],
    ['ABCDEF01', 'ABCDEF01'],
    ['0', '0'],
    ['0000', '0'],
    ['00000000', '0'],
    ['10', '10'],
    ['A000', 'A000'],
  ])('writes %s as %s', (id, canonical) => {
    expect(canonicalSigfoxId(id)).toBe(canonical);
  });

  it.each([['XYZ0'], ['00000000002C'], ['']])('only upper-cases %j, which is no Sigfox id', (text) => {
    expect(canonicalSigfoxId(text)).toBe(text.toUpperCase());
  });
});

describe('one device whatever its zero-padding', () => {
  it.each(['002C', '002c', '0000002C', ' 2c '])('a DATA callback from %j is device 2C, the same message as from "2C", with raw as sent', (device) => {
    const body = { ...formBidir, device };
    const [uplink, location] = mapDataCallback(body);
    const [unpadded] = mapDataCallback({ ...formBidir, device: '2C' });

    expect(uplink.device).toEqual({ externalId: '2C' });
    expect(location.device).toEqual({ externalId: '2C' });
    expect(uplink.dedupKey).toBe(unpadded.dedupKey);
    expect(uplink.raw).toBe(body);
    expect((uplink.raw as { device: string }).device).toBe(device);
  });

  it('gives SERVICE and ERROR callbacks the canonical device and dedupKey', () => {
    const status = mapServiceCallback({ device: '002c', time: TIME, temp: '20' });
    const ack = mapServiceCallback({ device: '0002C', time: TIME, downlinkAck: 'true' });
    const error = mapErrorCallback({ device: '00002C', time: TIME, severity: 'ERROR' });

    expect([status, ack, error].map((event) => event.device.externalId)).toEqual(['2C', '2C', '2C']);
    expect(status.dedupKey).toBe(mapServiceCallback({ device: '2C', time: TIME, temp: '20' }).dedupKey);
    expect(error.dedupKey).toBe(`sigfox:error:2C:${TIME}`);
    expect((error.raw as { device: string }).device).toBe('00002C');
  });

  it('keeps the device id "0" as "0"', () => {
    expect(mapDataCallback({ device: '0000', time: TIME, data: '' })[0].device).toEqual({ externalId: '0' });
  });

  it('still refuses more than 8 hex digits, leading zeros or not', () => {
    expect(problems(sigfoxDataCallbackSchema, { ...formBidir, device: '00000002C' })).toEqual([
      { path: 'device', message: 'device must be a Sigfox device id: 1 to 8 hex digits' },
    ]);
  });

  it('registers a device typed with or without leading zeros under the canonical id', () => {
    const { registrationSchema } = new SigfoxProvisioner(z.string());
    const register = (sigfoxId: string) => registrationSchema.parse({ sigfoxId, pac: '0123456789abcdef' }).externalId;

    expect(['002c', '2C', '0000002c'].map(register)).toEqual(['2C', '2C', '2C']);
    expect(register('00000000')).toBe('0');
    expect(registrationSchema.safeParse({ sigfoxId: '00000002C', pac: '0123456789abcdef' }).success).toBe(false);
  });
});

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { IncomingEvent } from '../../src/events/normalized-event';
import { readChirpstackEvent, UnreadableChirpstackEvent } from '../../src/networks/chirpstack/chirpstack-event-reader';
import { float32 } from '../../src/networks/chirpstack/chirpstack-pbjson';
import { eventTopicPattern, eventTopicProblem } from '../../src/networks/chirpstack/chirpstack-topic';
import { ackEvent, csTime, joinEvent, locationEvent, logEvent, statusEvent, TestEvent, txAckEvent, upEvent } from '../fakes/chirpstack-events';

type Json = Record<string, any>;

/** shared/reference/chirpstack-samples.json, copied to test/fixtures. */
const SAMPLES: Json = JSON.parse(readFileSync(resolve(__dirname, '../fixtures/chirpstack-samples.json'), 'utf8'));
const sample = (name: string): Json => structuredClone(SAMPLES[name].body);

function read(type: string, body: unknown): IncomingEvent {
  const mapped = readChirpstackEvent(type, body);
  if (!('event' in mapped)) throw new Error(`ignored: ${mapped.ignored}`);
  return mapped.event;
}

function problem(type: unknown, body: unknown): string {
  try {
    readChirpstackEvent(type, body);
  } catch (error) {
    if (error instanceof UnreadableChirpstackEvent) return error.message;
    throw error;
  }
  throw new Error('expected the event to be refused');
}

const device = { devEui: '0101010101010101', applicationId: '17c82e96-be03-4f38-aef3-f83d48582d97', deviceName: 'Test device', tags: { key: 'value' } };
const time = { date: new Date('2022-07-18T09:34:15.775Z'), subMsNanos: 23242 };

describe('ChirpStack mapper: the documentation examples (v4.0, defaults left out)', () => {
  it('up: port, counter (absent = 0), payload, radio, one gateway without location', () => {
    const event = read('up', sample('docs:up'));
    expect(event).toMatchObject({
      type: 'uplink',
      dedupKey: 'chirpstack:up:3ac7e3c4-4401-4b8d-9386-a5c902f9202d',
      device: { externalId: '0101010101010101', devEui: '0101010101010101', name: 'Test device', joinEui: null },
      time: '2022-07-18T09:34:15.775Z',
      status: null,
      ack: null,
      location: null,
    });
    expect(event.uplink).toEqual({ port: 1, fcnt: 0, confirmed: false, payloadHex: 'aa', payloadBase64: 'qg==', decoded: null });
    expect(event.radio).toEqual({
      frequencyHz: 867100000,
      dataRate: 'SF11BW125',
      spreadingFactor: 11,
      bandwidthHz: 125000,
      rssi: -36,
      snr: 10.5,
      gateways: [{ id: '0016c001f153a14c', name: null, rssi: -36, snr: 10.5, location: null }],
    });
    expect(event.raw).toEqual(sample('docs:up'));
  });

  it('status: batteryLevel is a percentage, with the margin', () => {
    const event = read('status', sample('docs:status'));
    expect(event).toMatchObject({ type: 'status', dedupKey: 'chirpstack:status:bf2a9746-1c8b-49be-a92e-f0b89c8534e4', time: '2022-07-18T09:35:06.927Z' });
    expect(event.status).toEqual({ batteryV: null, temperatureC: null, batteryPercent: 88.3, marginDb: 10, externalPower: false });
  });

  it('join', () => {
    expect(read('join', sample('docs:join'))).toMatchObject({ type: 'join', dedupKey: 'chirpstack:join:c9dbe358-2578-4fb7-b295-66b44edc45a6', time: '2022-07-18T09:33:28.823Z' });
  });

  it('ack: acknowledged settles the downlink of its queue item as acked', () => {
    const event = read('ack', sample('docs:ack'));
    expect(event).toMatchObject({
      type: 'downlink.acked',
      dedupKey: 'chirpstack:ack:1bbcab1d-6ec6-4136-b3f5-d63be1dc08de:856a03e7-80f6-4c26-b971-9dcb34a59c2e',
      ack: { downlinkId: '1bbcab1d-6ec6-4136-b3f5-d63be1dc08de' },
    });
  });

  it('ack: not acknowledged (timed out, no deduplicationId) is a failed downlink', () => {
    const body = { ...sample('docs:ack'), acknowledged: false, deduplicationId: '' };
    expect(read('ack', body)).toMatchObject({ type: 'downlink.failed', dedupKey: 'chirpstack:ack:1bbcab1d-6ec6-4136-b3f5-d63be1dc08de:', ack: { info: expect.stringMatching(/not acknowledged/) } });
  });

  it('txack: sent, identified by queue item and downlink id', () => {
    const event = read('txack', sample('docs:txack'));
    expect(event).toMatchObject({
      type: 'downlink.sent',
      dedupKey: 'chirpstack:txack:42cb6459-a640-46ec-9623-bdff39dc4736:3461958127',
      ack: { downlinkId: '42cb6459-a640-46ec-9623-bdff39dc4736', info: 'accepted for transmission by gateway 0016c001f153a14c' },
      radio: { frequencyHz: 867900000, dataRate: 'SF7BW125', gateways: [] },
    });
  });

  it('log ERROR without a queue item is an error event', () => {
    const event = read('log', sample('docs:log'));
    expect(event).toMatchObject({ type: 'error', ack: { downlinkId: null, info: 'ERROR UPLINK_MIC: MIC of join-request is invalid, make sure keys are correct' } });
    expect(event.dedupKey).toMatch(/^chirpstack:log:[\w-]{32}$/);
  });

  it('location: coordinates, no accuracy', () => {
    expect(read('location', sample('docs:location'))).toMatchObject({
      type: 'location',
      dedupKey: 'chirpstack:location:63d870b9-b769-4d88-8b33-8e43f58851a7',
      location: { lat: 37.344214, lng: -8.839375, radiusM: null, source: 'UNKNOWN' },
    });
  });

  it('integration (before v4.15) is taken and left aside, never refused', () => {
    expect(readChirpstackEvent('integration', sample('docs:integration'))).toEqual({ ignored: expect.stringMatching(/integration events/) });
  });
});

describe('ChirpStack mapper: captured bodies (current shape)', () => {
  it('cn470 uplink: object → decoded, confirmed, two gateways registered without a location ({})', () => {
    const event = read('up', JSON.parse(SAMPLES['capture:up:cn470'].raw));
    expect(event).toMatchObject({ type: 'uplink', dedupKey: 'chirpstack:up:5d9a3908-c0d9-4feb-bf6d-a61ca48b9ebf', time: '2026-01-20T08:47:43.457Z' });
    expect(event.device).toEqual({ externalId: 'FFFFFF200000B703', devEui: 'FFFFFF200000B703', name: 'ffffff200000b703', joinEui: null });
    expect(event.uplink).toEqual({
      port: 210,
      fcnt: 18230,
      confirmed: true,
      payloadHex: '000103040e157d007701100a0812023f0301',
      payloadBase64: 'AAEDBA4VfQB3ARAKCBICPwMB',
      decoded: { batteryVoltage: 3.605, humidity: 57.5, tamper: 1, batteryVoltageState: 0, temperature: 25.68, tamperEvent: 1, model: 'AN-303' },
    });
    expect(event.radio).toEqual({
      frequencyHz: 482100000,
      dataRate: 'SF7BW125',
      spreadingFactor: 7,
      bandwidthHz: 125000,
      rssi: -60,
      snr: 14,
      gateways: [
        { id: '0010502df4563610', name: null, rssi: -60, snr: 14, location: null },
        { id: '0011502df4563610', name: null, rssi: -66, snr: 13.5, location: null },
      ],
    });
  });

  it('Helium + ThingsIX uplink: hotspot names and locations from the metadata, the own gateway from its registration', () => {
    const event = read('up', sample('capture:up:helium-thingsix'));
    expect(event.uplink).toMatchObject({ port: 1, fcnt: 2483, confirmed: false, payloadHex: '01b43504f0', decoded: { grondwaterdruk: 111669, grondwatertemperatuur: 12.64 } });
    expect(event.radio?.gateways).toEqual([
      { id: '7276ff000b030916', name: null, rssi: -123, snr: -7.2, location: { lat: 51.97224426269531, lng: 4.133676052093506 } },
      { id: '6a1e3b228ae2a90c', name: 'breezy-pineapple-sawfish', rssi: -122, snr: -6.8, location: { lat: 51.976991314097, lng: 4.133624655108791 } },
      { id: 'dcd1b5dcb5c53623', name: 'strong-cornflower-parrot', rssi: -106, snr: 3.5, location: { lat: 51.98513524853061, lng: 4.144536626723536 } },
      { id: '1a53471331289857', name: null, rssi: -123, snr: -7.2, location: null },
    ]);
    expect(event.radio).toMatchObject({ rssi: -106, snr: 3.5, frequencyHz: 867300000, dataRate: 'SF7BW125' });
    expect(event.time).toBe('2024-12-05T08:21:51.125Z');
  });

  it('a WARNING log is an error event too (the uplink it names was dropped as a retransmission)', () => {
    expect(read('log', sample('capture:log:warning'))).toMatchObject({
      type: 'error',
      device: { externalId: '3531383150308B12' },
      ack: { downlinkId: null, info: 'WARNING UPLINK_F_CNT_RETRANSMISSION: Uplink was flagged as re-transmission / frame-counter did not increment' },
    });
  });
});

describe('ChirpStack mapper: events around downlinks and status', () => {
  it('a log ERROR naming a queue item fails that downlink', () => {
    const body = logEvent(device, time, { level: 'ERROR', code: 'EXPIRED', description: 'Queue item has expired', context: { queue_item_id: 'qi-1' } }).json();
    expect(read('log', body)).toMatchObject({ type: 'downlink.failed', ack: { downlinkId: 'qi-1', info: 'ERROR EXPIRED: Queue item has expired' } });
  });

  it('an INFO log is answered and left aside', () => {
    expect(readChirpstackEvent('log', logEvent(device, time, { level: 'INFO', code: 'UNKNOWN', description: 'x' }).json())).toEqual({ ignored: expect.stringMatching(/INFO/) });
  });

  it('status on external power or without a level has no percentage', () => {
    expect(read('status', statusEvent(device, time, { margin: 7, batteryLevel: 0, externalPowerSource: true }).json()).status).toEqual({
      batteryV: null,
      temperatureC: null,
      batteryPercent: null,
      marginDb: 7,
      externalPower: true,
    });
    expect(read('status', statusEvent(device, time, { margin: 7, batteryLevel: 0, batteryLevelUnavailable: true }).json()).status?.batteryPercent).toBeNull();
  });

  it('FSK and LR-FHSS uplinks are named as such, without a spreading factor', () => {
    const base = { device, time, fCnt: 1, fPort: 2, data: Buffer.from('01', 'hex'), gateways: [{ gatewayId: '0016c001f153a14c', rssi: -50, snr: 5 }], frequency: 868800000 };
    expect(read('up', upEvent({ ...base, modulation: { fsk: { datarate: 50000 } } }).json()).radio).toMatchObject({ dataRate: 'FSK50000', spreadingFactor: null, bandwidthHz: null });
    expect(read('up', upEvent({ ...base, modulation: { lrFhss: { operatingChannelWidth: 137000 } } }).json()).radio).toMatchObject({ dataRate: 'LR-FHSS-OCW137', spreadingFactor: null });
  });
});

describe('ChirpStack mapper: JSON and Protobuf give one event', () => {
  const up = upEvent({
    device,
    time,
    fCnt: 42,
    fPort: 3,
    data: Buffer.from('0a1b2c', 'hex'),
    confirmed: true,
    object: { temperature: 21.5, ok: true, nested: { list: [1, 'a'] } },
    gateways: [
      { gatewayId: '0016c001f153a14c', rssi: -36, snr: 9.2, location: { latitude: 43.45, longitude: 6.54, altitude: 120 } },
      { gatewayId: '6a1e3b228ae2a90c', rssi: -110, snr: -7.2, metadata: { gateway_name: 'breezy-pineapple-sawfish', gateway_lat: '51.97', gateway_long: '4.13', network: 'helium_iot' } },
      { gatewayId: '0010502df4563610', rssi: -60, snr: 0, location: {} },
    ],
    frequency: 868100000,
  });
  const events: Array<[string, TestEvent]> = [
    ['up', up],
    ['join', joinEvent(device, time)],
    ['status', statusEvent(device, time, { margin: 10, batteryLevel: 88.3 })],
    ['ack', ackEvent(device, time, '1bbcab1d-6ec6-4136-b3f5-d63be1dc08de', true)],
    ['txack', txAckEvent(device, time, '42cb6459-a640-46ec-9623-bdff39dc4736')],
    ['log', logEvent(device, time, { level: 'ERROR', code: 'DOWNLINK_PAYLOAD_SIZE', description: 'too large', context: { queue_item_id: 'q1', max_payload_size: '11' } })],
    ['location', locationEvent(device, time, { latitude: 37.344214, longitude: -8.839375, accuracy: 12.5 })],
  ];

  it.each(events)('%s: the same normalized event from the current JSON, the v4.0 JSON and Protobuf', (type, event) => {
    const fromJson = read(type, event.json('current'));
    const { raw: _raw, ...withoutRaw } = fromJson;
    expect({ ...read(type, event.json('v4.0')), raw: undefined }).toEqual({ ...withoutRaw, raw: undefined });
    expect({ ...read(type, event.protobuf()), raw: undefined }).toEqual({ ...withoutRaw, raw: undefined });
  });

  it('a Protobuf body becomes the JSON ChirpStack writes: float32 as its shortest decimal, +00:00 times, defaults left out in rxInfo', () => {
    const raw = read('up', up.protobuf()).raw as Json;
    expect(raw.time).toBe('2022-07-18T09:34:15.775023242+00:00');
    expect(raw.rxInfo[0]).toMatchObject({ gatewayId: '0016c001f153a14c', rssi: -36, snr: 9.2, location: { latitude: 43.45, longitude: 6.54, altitude: 120 } });
    expect(raw.rxInfo[2]).not.toHaveProperty('snr');
    expect(raw.rxInfo[2].location).toEqual({});
    expect(raw).toMatchObject({ fCnt: 42, fPort: 3, confirmed: true, data: 'Chss', deviceInfo: { devEui: '0101010101010101', deviceClassEnabled: 'CLASS_A', tags: { key: 'value' } } });
    expect(raw.txInfo).toEqual({ frequency: 868100000, modulation: { lora: { bandwidth: 125000, spreadingFactor: 7, codeRate: 'CR_4_5' } } });
    const { raw: _raw, ...fromProtobuf } = read('up', up.protobuf());
    expect(fromProtobuf.radio?.gateways[0].snr).toBe(9.2);
  });

  it('times with 0, 3, 6 or 9 fraction digits are read', () => {
    for (const digits of [0, 3, 6, 9] as const) {
      const body = { ...up.json(), time: csTime({ ...time, digits }) };
      expect(read('up', body).time).toBe(digits === 0 ? '2022-07-18T09:34:15.000Z' : '2022-07-18T09:34:15.775Z');
    }
  });

  it('float32 rounding is the shortest decimal that is the same float32', () => {
    expect(float32(Math.fround(9.2))).toBe(9.2);
    expect(float32(Math.fround(-7.2))).toBe(-7.2);
    expect(float32(Math.fround(88.3))).toBe(88.3);
    expect(float32(14)).toBe(14);
    expect(float32(0)).toBe(0);
  });
});

describe('ChirpStack mapper: bad input names the problem', () => {
  const body = () => sample('docs:up');
  it.each([
    ['a missing event', undefined, body(), /event: missing/],
    ['an unknown event', 'uplink', body(), /event: unknown event type "uplink"/],
    ['an uplink sent as status', 'status', body(), /"fCnt" belongs to up events|"fPort" belongs to up events|"data" belongs to up events|"dr" belongs to up events|"devAddr" belongs to up events/],
    ['a join sent as up', 'up', sample('docs:join'), /rxInfo/],
    ['a status sent as ack', 'ack', sample('docs:status'), /"margin" belongs to status events/],
    ['a DevEUI of 15 hex digits', 'up', { ...body(), deviceInfo: { ...body().deviceInfo, devEui: '010101010101010' } }, /deviceInfo\.devEui: Invalid DevEUI/],
    ['a DevEUI with non-hex', 'up', { ...body(), deviceInfo: { ...body().deviceInfo, devEui: '01010101010101zz' } }, /deviceInfo\.devEui/],
    ['a time that does not parse', 'up', { ...body(), time: '2022-07-18 09:34' }, /time/],
    ['no deviceInfo', 'up', { ...body(), deviceInfo: undefined }, /deviceInfo/],
    ['a JSON array', 'up', [body()], /expected a ChirpStack up event/],
    ['truncated Protobuf', 'up', upEvent({ device, time, fCnt: 1, fPort: 1, data: Buffer.from('01', 'hex'), gateways: [{ gatewayId: 'aa', rssi: 1, snr: 1 }], frequency: 1 }).protobuf().subarray(0, 40), /not a ChirpStack up event in Protobuf/],
    // Field 1 as a string: decodes (Protobuf is lenient) to an event without deviceInfo.
    ['Protobuf that decodes to an event without a DevEUI', 'status', Buffer.from([0x0a, 0x01, 0x61]), /status event: deviceInfo/],
  ])('%s', (_name, type, input, message) => {
    expect(problem(type, input)).toMatch(message);
  });
});

describe('ChirpStack MQTT event topic', () => {
  const app = '17c82e96-be03-4f38-aef3-f83d48582d97';
  it('the default template: the application put in, the DevEUI and event as wildcards', () => {
    const pattern = eventTopicPattern('application/{{application_id}}/device/{{dev_eui}}/event/{{event}}', app);
    expect(pattern.filter).toBe(`application/${app}/device/+/event/+`);
    expect(pattern.eventOf(`application/${app}/device/0101010101010101/event/up`)).toBe('up');
    expect(pattern.eventOf(`application/other/device/0101010101010101/event/up`)).toBeNull();
  });

  it('an operator template with placeholders inside levels', () => {
    const pattern = eventTopicPattern('cs/{{ application_id }}/dev-{{dev_eui}}/{{event}}-evt', app);
    expect(pattern.filter).toBe(`cs/${app}/+/+`);
    expect(pattern.eventOf(`cs/${app}/dev-0101010101010101/txack-evt`)).toBe('txack');
  });

  it('templates without {{event}} or with wildcards are refused', () => {
    expect(eventTopicProblem('application/{{application_id}}/device/{{dev_eui}}')).toMatch(/\{\{event\}\}/);
    expect(eventTopicProblem('application/+/{{event}}')).toMatch(/wildcards/);
    expect(eventTopicProblem('application/{{application_id}}/device/{{dev_eui}}/event/{{event}}')).toBeNull();
  });
});

describe('ChirpStack Protobuf → JSON', () => {
  it('a txack from Protobuf is the JSON of the documentation', () => {
    const event = txAckEvent(device, { date: new Date('2022-07-18T09:37:48.929Z'), subMsNanos: 184085 }, '42cb6459-a640-46ec-9623-bdff39dc4736');
    const { raw } = read('txack', event.protobuf());
    const docs = sample('docs:txack');
    // The documentation was written with v4.0, before deviceClassEnabled (v4.4).
    expect(raw).toEqual({ ...docs, deviceInfo: { ...docs.deviceInfo, deviceClassEnabled: 'CLASS_A' } });
  });
});

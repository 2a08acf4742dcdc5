import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  MalformedTtsEventError,
  mapApplicationUp,
  mapStreamEvent,
  TTS_STREAM_EVENT_NAMES,
} from '../../src/networks/tts/tts.mapper';
import { applicationUpSchema, ttsStreamEventSchema } from '../../src/networks/tts/tts.schema';

type Json = Record<string, any>;

/** The real as.up.data.forward of shared/reference, copied to test/fixtures (TTN eu1, November 2025). */
const SAMPLE_PATH = resolve(__dirname, '../fixtures/tts-samples.json');
const sampleStreamEvent = (): Json => JSON.parse(readFileSync(SAMPLE_PATH, 'utf8'))['as.up.data.forward'];

/** A webhook body is the stream event's data without "@type". */
function webhookBodyOf(streamEvent: Json): Json {
  const { '@type': _type, ...body } = streamEvent.data;
  return body;
}
const sampleBody = (): Json => webhookBodyOf(sampleStreamEvent());

const mapBody = (body: Json) => mapApplicationUp(applicationUpSchema.parse(body));
const mapEvent = (event: Json) => mapStreamEvent(ttsStreamEventSchema.parse(event));

/** One string per issue, `path: message`, as a 400 answer would name them. */
function issuesOf(body: unknown): string[] {
  const result = applicationUpSchema.safeParse(body);
  if (result.success) throw new Error('expected a validation failure');
  return result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

/** An uplink body with the given changes to its uplink_message. */
function withUplink(change: (up: Json) => void): Json {
  const body = sampleBody();
  change(body.uplink_message);
  return body;
}

const DEVICE_IDS = {
  device_id: 'rs261-erik-internal',
  application_ids: { application_id: 'thingsboard-ttn-demo' },
  dev_eui: '0025CA00000017C2',
  join_eui: 'ECC07A0000000009',
  dev_addr: '260BDF71',
};
const DEVICE = { externalId: '0025CA00000017C2', name: 'rs261-erik-internal', devEui: '0025CA00000017C2', joinEui: 'ECC07A0000000009' };
const RECEIVED_AT = '2025-11-07T09:00:00.123456789Z';

/** A downlink as TTS reports it back, carrying the correlation id the bridge gave it. */
const DOWNLINK = {
  session_key_id: 'AZpdcJdm3ixYYWExQAIgUg==',
  f_port: 2,
  f_cnt: 7,
  frm_payload: 'AQI=',
  confirmed: true,
  priority: 'NORMAL',
  correlation_ids: ['as:downlink:01K9ERA0000000000000000000', 'lpwan-bridge:0193a6d2-7c1e-7b2a-9a55-0c9a0f8c2f11'],
};

function bodyWith(message: Json): Json {
  return { end_device_ids: DEVICE_IDS, correlation_ids: ['as:up:01K9ERB0000000000000000000'], received_at: RECEIVED_AT, ...message };
}

function streamEventWith(name: string, data: unknown): Json {
  return {
    name,
    time: '2025-11-07T09:00:00.200000001Z',
    identifiers: [{ device_ids: DEVICE_IDS }],
    data,
    correlation_ids: ['as:downlink:01K9ERA0000000000000000000'],
    unique_id: '01K9ERC0000000000000000000',
  };
}

describe('TTS uplink: the real sample', () => {
  it('maps the stream event field by field', () => {
    const streamEvent = sampleStreamEvent();
    const event = mapEvent(streamEvent)!;

    expect(event.type).toBe('uplink');
    // The sample's server gives no as:up id: the fallback identity (session, counter, NS time).
    expect(event.dedupKey).toBe('tts:up:0025CA00000017C2:AZpdcJdm3ixYYWExQAIgUg==:25:2025-11-07T08:52:14.536Z');
    expect(event.device).toEqual(DEVICE);
    // uplink_message.received_at (.536109379), cut to milliseconds
    expect(event.time).toBe('2025-11-07T08:52:14.536Z');
    expect(event.uplink).toEqual({
      port: 1,
      fcnt: 25,
      confirmed: true,
      payloadHex: '00c40015d4',
      payloadBase64: 'AMQAFdQ=',
      decoded: streamEvent.data.uplink_message.decoded_payload,
    });
    expect(event.radio).toEqual({
      frequencyHz: 868100000,
      dataRate: 'SF7BW125',
      spreadingFactor: 7,
      bandwidthHz: 125000,
      rssi: -69,
      snr: 8.25,
      gateways: [{ id: 'eriks-rg186', name: 'C0EE40FFFF293903', rssi: -69, snr: 8.25, location: null }],
    });
    expect(event.status).toBeNull();
    expect(event.ack).toBeNull();
    expect(event.location).toBeNull();
    expect(event.raw).toEqual(streamEvent);
  });

  it('maps the webhook copy identically, except raw', () => {
    const body = sampleBody();
    const fromWebhook = mapBody(body);
    const fromStream = mapEvent(sampleStreamEvent())!;

    expect({ ...fromWebhook, raw: null }).toEqual({ ...fromStream, raw: null });
    expect(fromWebhook.dedupKey).toBe(fromStream.dedupKey);
    expect(fromWebhook.raw).toEqual(body);
  });

  it('keeps unknown fields: the parsed body is the body as received', () => {
    const body = sampleBody();
    body.uplink_message.some_future_field = { nested: [1, 2] };
    expect(applicationUpSchema.parse(body)).toEqual(body);
  });
});

describe('TTS uplink: proto3 JSON quirks', () => {
  it('reads omitted zero values as 0, "" and false', () => {
    const event = mapBody(
      withUplink((up) => {
        delete up.f_port;
        delete up.f_cnt;
        delete up.frm_payload;
        delete up.confirmed;
        delete up.decoded_payload;
      }),
    );
    expect(event.uplink).toEqual({ port: 0, fcnt: 0, confirmed: false, payloadHex: '', payloadBase64: '', decoded: null });
    expect(event.dedupKey).toBe('tts:up:0025CA00000017C2:AZpdcJdm3ixYYWExQAIgUg==:0:2025-11-07T08:52:14.536Z');
  });

  it('reads an omitted LoRa snr as 0 dB', () => {
    const event = mapBody(withUplink((up) => delete up.rx_metadata[0].snr));
    expect(event.radio!.gateways[0].snr).toBe(0);
    expect(event.radio!.snr).toBe(0);
  });

  it('has no snr, spreading factor or bandwidth for FSK', () => {
    const event = mapBody(
      withUplink((up) => {
        up.settings.data_rate = { fsk: { bit_rate: 50000 } };
        delete up.rx_metadata[0].snr;
      }),
    );
    expect(event.radio).toMatchObject({ dataRate: 'FSK50000', spreadingFactor: null, bandwidthHz: null, snr: null });
    expect(event.radio!.gateways[0].snr).toBeNull();
  });

  it('takes channel_rssi when rssi is left out, null when both are', () => {
    const fallback = mapBody(
      withUplink((up) => {
        delete up.rx_metadata[0].rssi;
        up.rx_metadata[0].channel_rssi = -71;
      }),
    );
    expect(fallback.radio!.gateways[0].rssi).toBe(-71);

    const none = mapBody(
      withUplink((up) => {
        delete up.rx_metadata[0].rssi;
        delete up.rx_metadata[0].channel_rssi;
      }),
    );
    expect(none.radio!.gateways[0].rssi).toBeNull();
    expect(none.radio!.rssi).toBeNull();
  });

  it('accepts coding_rate in settings (older servers) as in settings.data_rate.lora (newer)', () => {
    const older = withUplink((up) => {
      up.settings = {
        data_rate: { lora: { bandwidth: 125000, spreading_factor: 7 } },
        coding_rate: '4/5',
        data_rate_index: 5,
        frequency: '868100000',
        timestamp: 1645246307,
      };
    });
    expect(mapBody(older).radio).toEqual(mapBody(sampleBody()).radio);
  });

  it('reads the 64-bit frequency as a string or a number', () => {
    expect(mapBody(withUplink((up) => (up.settings.frequency = '867500000'))).radio!.frequencyHz).toBe(867500000);
    expect(mapBody(withUplink((up) => (up.settings.frequency = 867500000))).radio!.frequencyHz).toBe(867500000);
    expect(mapBody(withUplink((up) => delete up.settings.frequency)).radio!.frequencyHz).toBeNull();
  });

  it('cuts nanosecond times to milliseconds (no rounding) and converts offsets to UTC', () => {
    expect(mapBody(withUplink((up) => (up.received_at = '2025-11-07T08:52:14.999999999Z'))).time).toBe('2025-11-07T08:52:14.999Z');
    expect(mapBody(withUplink((up) => (up.received_at = '2025-11-07T10:52:14.5+02:00'))).time).toBe('2025-11-07T08:52:14.500Z');
    expect(mapBody(withUplink((up) => (up.received_at = '2025-11-07T08:52:14Z'))).time).toBe('2025-11-07T08:52:14.000Z');
  });

  it("falls back to the body's received_at when the uplink has none", () => {
    const event = mapBody(withUplink((up) => delete up.received_at));
    expect(event.time).toBe('2025-11-07T08:52:14.742Z');
  });
});

describe('TTS uplink: gateways', () => {
  it('maps gateway locations; a coordinate left out is 0, an empty location none', () => {
    const event = mapBody(
      withUplink((up) => {
        up.rx_metadata = [
          { ...up.rx_metadata[0], gateway_ids: { gateway_id: 'gw-a' }, location: { latitude: 51.5, longitude: 4.3, altitude: 10, source: 'SOURCE_REGISTRY' } },
          { ...up.rx_metadata[0], gateway_ids: { gateway_id: 'gw-greenwich' }, location: { latitude: 51.4779 } },
          { ...up.rx_metadata[0], gateway_ids: { gateway_id: 'gw-c' }, location: {} },
        ];
      }),
    );
    expect(event.radio!.gateways.map((g) => [g.id, g.name, g.location])).toEqual([
      ['gw-a', null, { lat: 51.5, lng: 4.3 }],
      ['gw-greenwich', null, { lat: 51.4779, lng: 0 }],
      ['gw-c', null, null],
    ]);
  });

  it('takes the best rssi and snr of all gateways', () => {
    const event = mapBody(
      withUplink((up) => {
        const first = up.rx_metadata[0];
        up.rx_metadata = [
          { ...first, gateway_ids: { gateway_id: 'near' }, rssi: -40, snr: 2.5 },
          { ...first, gateway_ids: { gateway_id: 'far' }, rssi: -110, snr: 9 },
        ];
      }),
    );
    expect(event.radio).toMatchObject({ rssi: -40, snr: 9 });
  });

  it('tells Packet Broker gateways apart by the forwarder gateway', () => {
    const event = mapBody(
      withUplink((up) => {
        up.rx_metadata = ['0015FCC23D0DD9BE', '7076FF0056050C89'].map((eui) => ({
          gateway_ids: { gateway_id: 'packetbroker' },
          packet_broker: { forwarder_net_id: '000013', forwarder_gateway_eui: eui, forwarder_gateway_id: `eui-${eui.toLowerCase()}` },
          rssi: -111,
          snr: -2.75,
        }));
      }),
    );
    expect(event.radio!.gateways.map((g) => [g.id, g.name])).toEqual([
      ['packetbroker:eui-0015fcc23d0dd9be', '0015FCC23D0DD9BE'],
      ['packetbroker:eui-7076ff0056050c89', '7076FF0056050C89'],
    ]);
  });
});

describe('TTS device identity', () => {
  it('upper-cases the EUIs', () => {
    const body = sampleBody();
    body.end_device_ids = { ...DEVICE_IDS, dev_eui: '0025ca00000017c2', join_eui: 'ecc07a0000000009' };
    expect(mapBody(body).device).toEqual(DEVICE);
  });

  it('uses the device_id of a device without DevEUI, and its DevAddr when there is no session key id', () => {
    const body = sampleBody();
    body.end_device_ids = { device_id: 'abp-sensor-1', application_ids: { application_id: 'app' }, dev_addr: '260BDF71' };
    delete body.uplink_message.session_key_id;
    const event = mapBody(body);
    expect(event.device).toEqual({ externalId: 'ABP-SENSOR-1', name: 'abp-sensor-1', devEui: null, joinEui: null });
    expect(event.dedupKey).toBe('tts:up:ABP-SENSOR-1:260BDF71:25:2025-11-07T08:52:14.536Z');
  });
});

describe('TTS uplink identity (SPEC §4)', () => {
  const withCorrelationIds = (ids: string[], change: (up: Json) => void = () => undefined) => {
    const body = withUplink(change);
    body.correlation_ids = ids;
    return body;
  };

  it('is the as:up correlation id, on the webhook body and the stream data alike', () => {
    const body = withCorrelationIds(['gs:uplink:01K9ER8B2712V0HV1YBNRF35ZY', 'as:up:01K9ER8B9ZQ3W5X4Y6Z7A8B9C0', 'rpc:/ttn.lorawan.v3.NsAs/HandleUplink:01K9']);
    const streamEvent = sampleStreamEvent();
    streamEvent.data.correlation_ids = body.correlation_ids;
    expect(mapBody(body).dedupKey).toBe('tts:up:as:up:01K9ER8B9ZQ3W5X4Y6Z7A8B9C0');
    expect(mapEvent(streamEvent)!.dedupKey).toBe(mapBody(body).dedupKey);
  });

  it('tells apart a frame that repeats session and counter (an ABP device whose counters reset) by its new as:up id', () => {
    const first = mapBody(withCorrelationIds(['as:up:01K9ER8B9ZQ3W5X4Y6Z7A8B9C0']));
    const repeated = mapBody(withCorrelationIds(['as:up:01K9GZZZZZQ3W5X4Y6Z7A8B9C0']));
    expect(repeated.uplink!.fcnt).toBe(first.uplink!.fcnt);
    expect(repeated.dedupKey).not.toBe(first.dedupKey);
  });

  it('without an as:up id falls back to session, counter and the Network Server time: a later frame differs', () => {
    const first = mapBody(withCorrelationIds(['gs:uplink:01K9ER8B2712V0HV1YBNRF35ZY']));
    const later = mapBody(withCorrelationIds(['gs:uplink:01K9GZZZZZ12V0HV1YBNRF35ZY'], (up) => (up.received_at = '2025-11-08T08:52:14.536109379Z')));
    expect(first.dedupKey).toBe('tts:up:0025CA00000017C2:AZpdcJdm3ixYYWExQAIgUg==:25:2025-11-07T08:52:14.536Z');
    expect(later.dedupKey).not.toBe(first.dedupKey);
  });
});

describe('TTS join', () => {
  const JOIN_ACCEPT = { session_key_id: 'AZpeAAAAAAAAAAAAAAAAAA==', received_at: '2025-11-07T08:50:00.000123456Z' };

  it('maps join_accept to a join keyed by its session', () => {
    const body = bodyWith({ join_accept: JOIN_ACCEPT });
    const event = mapBody(body);
    expect(event).toEqual({
      type: 'join',
      dedupKey: 'tts:join:0025CA00000017C2:AZpeAAAAAAAAAAAAAAAAAA==',
      device: DEVICE,
      time: '2025-11-07T08:50:00.000Z',
      uplink: null,
      radio: null,
      status: null,
      ack: null,
      location: null,
      raw: body,
    });
  });

  it('maps as.up.join.forward like the webhook', () => {
    const body = bodyWith({ join_accept: JOIN_ACCEPT });
    const streamEvent = streamEventWith('as.up.join.forward', { '@type': 'type.googleapis.com/ttn.lorawan.v3.ApplicationUp', ...body });
    expect(mapEvent(streamEvent)).toEqual({ ...mapBody(body), raw: streamEvent });
  });
});

describe('TTS downlink lifecycle', () => {
  it.each([
    ['downlink_queued', 'downlink.queued', null],
    ['downlink_sent', 'downlink.sent', null],
    ['downlink_ack', 'downlink.acked', null],
    ['downlink_nack', 'downlink.failed', 'not acknowledged by the device; TTS queues it again'],
  ])('maps %s to %s with the downlink the bridge pushed', (message, type, info) => {
    const event = mapBody(bodyWith({ [message]: DOWNLINK }));
    expect(event.type).toBe(type);
    expect(event.ack).toEqual({ downlinkId: 'lpwan-bridge:0193a6d2-7c1e-7b2a-9a55-0c9a0f8c2f11', info });
    expect(event.dedupKey).toMatch(new RegExp(`^tts:${message}:0025CA00000017C2:[0-9a-f]{16}$`));
    expect(event.time).toBe('2025-11-07T09:00:00.123Z');
    expect(event.device).toEqual(DEVICE);
    expect([event.uplink, event.radio, event.status, event.location]).toEqual([null, null, null, null]);
  });

  it('maps downlink_failed with the error as TTS words it', () => {
    const event = mapBody(
      bodyWith({
        downlink_failed: {
          downlink: DOWNLINK,
          error: {
            namespace: 'pkg/networkserver',
            name: 'application_downlink_too_long',
            message_format: 'application downlink payload length {length} exceeds maximum {max}',
            attributes: { length: 250, max: 51 },
            code: 3,
          },
        },
      }),
    );
    expect(event.type).toBe('downlink.failed');
    expect(event.ack).toEqual({
      downlinkId: 'lpwan-bridge:0193a6d2-7c1e-7b2a-9a55-0c9a0f8c2f11',
      info: 'error:pkg/networkserver:application_downlink_too_long (application downlink payload length 250 exceeds maximum 51)',
    });
    expect(event.dedupKey).toMatch(/^tts:downlink_failed:0025CA00000017C2:[0-9a-f]{16}$/);
  });

  it('says "failed" when downlink_failed has no error details', () => {
    expect(mapBody(bodyWith({ downlink_failed: { downlink: DOWNLINK } })).ack!.info).toBe('failed');
  });

  it("has no downlinkId for a downlink the bridge did not push, and finds it in the body's correlation_ids", () => {
    const foreign = { ...DOWNLINK, correlation_ids: ['as:downlink:01K9ERA0000000000000000000'] };
    expect(mapBody(bodyWith({ downlink_ack: foreign })).ack!.downlinkId).toBeNull();

    const body = bodyWith({ downlink_ack: foreign });
    body.correlation_ids = ['as:up:1', 'lpwan-bridge:from-body'];
    expect(mapBody(body).ack!.downlinkId).toBe('lpwan-bridge:from-body');
  });

  it('keys content-identified messages by a hash that ignores key order', () => {
    const reordered = Object.fromEntries(Object.entries(DOWNLINK).reverse());
    const key = mapBody(bodyWith({ downlink_sent: DOWNLINK })).dedupKey;
    expect(mapBody(bodyWith({ downlink_sent: reordered })).dedupKey).toBe(key);
    expect(mapBody(bodyWith({ downlink_sent: { ...DOWNLINK, f_cnt: 8 } })).dedupKey).not.toBe(key);
  });

  it('maps downlink_queue_invalidated to an error notice', () => {
    const event = mapBody(bodyWith({ downlink_queue_invalidated: { downlinks: [DOWNLINK, { ...DOWNLINK, correlation_ids: [] }], last_f_cnt_down: 9 } }));
    expect(event.type).toBe('error');
    expect(event.ack).toEqual({ downlinkId: 'lpwan-bridge:0193a6d2-7c1e-7b2a-9a55-0c9a0f8c2f11', info: 'downlink queue invalidated (2 downlinks)' });
    expect(event.dedupKey).toMatch(/^tts:downlink_queue_invalidated:0025CA00000017C2:[0-9a-f]{16}$/);
  });

  it('maps as.down.data.forward (an ApplicationDownlink) like the webhook downlink_queued', () => {
    const streamEvent = streamEventWith('as.down.data.forward', { '@type': 'type.googleapis.com/ttn.lorawan.v3.ApplicationDownlink', ...DOWNLINK });
    const event = mapEvent(streamEvent)!;
    const webhook = mapBody(bodyWith({ downlink_queued: DOWNLINK }));
    expect(event.type).toBe('downlink.queued');
    expect(event.dedupKey).toBe(webhook.dedupKey);
    expect(event.ack).toEqual(webhook.ack);
    expect(event.device).toEqual(DEVICE);
    expect(event.time).toBe('2025-11-07T09:00:00.200Z');
    expect(event.raw).toEqual(streamEvent);
  });

  it.each(['ack', 'nack', 'sent', 'failed'])('maps as.down.data.%s.forward like the webhook', (kind) => {
    const message = kind === 'failed' ? { downlink_failed: { downlink: DOWNLINK } } : { [`downlink_${kind}`]: DOWNLINK };
    const body = bodyWith(message);
    const streamEvent = streamEventWith(`as.down.data.${kind}.forward`, { '@type': 'type.googleapis.com/ttn.lorawan.v3.ApplicationUp', ...body });
    expect(mapEvent(streamEvent)).toEqual({ ...mapBody(body), raw: streamEvent });
  });
});

describe('TTS location and service data', () => {
  it('maps location_solved', () => {
    const event = mapBody(
      bodyWith({
        location_solved: {
          service: 'lora-cloud-geolocation-v3',
          location: { latitude: 43.45, longitude: 6.54, altitude: 12, accuracy: 35, source: 'SOURCE_LORA_TDOA_GEOLOCATION' },
        },
      }),
    );
    expect(event.type).toBe('location');
    expect(event.location).toEqual({ lat: 43.45, lng: 6.54, radiusM: 35, source: 'SOURCE_LORA_TDOA_GEOLOCATION' });
    expect(event.dedupKey).toMatch(/^tts:location_solved:0025CA00000017C2:[0-9a-f]{16}$/);
    expect(event.time).toBe('2025-11-07T09:00:00.123Z');
  });

  it('reads an omitted accuracy as unknown and an omitted source as SOURCE_UNKNOWN', () => {
    const event = mapBody(bodyWith({ location_solved: { location: { latitude: -33.9, longitude: 18.4 } } }));
    expect(event.location).toEqual({ lat: -33.9, lng: 18.4, radiusM: null, source: 'SOURCE_UNKNOWN' });
  });

  it('maps as.up.location.forward like the webhook', () => {
    const body = bodyWith({ location_solved: { location: { latitude: 1, longitude: 2, source: 'SOURCE_GPS' } } });
    const streamEvent = streamEventWith('as.up.location.forward', { '@type': 'type.googleapis.com/ttn.lorawan.v3.ApplicationUp', ...body });
    expect(mapEvent(streamEvent)).toEqual({ ...mapBody(body), raw: streamEvent });
  });

  it('maps service_data to a status without guessing values', () => {
    const event = mapBody(bodyWith({ service_data: { service: 'lora-cloud-device-management-v1', data: { battery: 0.8 } } }));
    expect(event.type).toBe('status');
    expect(event.status).toEqual({ batteryV: null, temperatureC: null });
    expect(event.dedupKey).toMatch(/^tts:service_data:0025CA00000017C2:[0-9a-f]{16}$/);
  });
});

describe('TTS ApplicationUp validation', () => {
  it('refuses a body with none of the known messages', () => {
    expect(issuesOf({ end_device_ids: DEVICE_IDS, received_at: RECEIVED_AT })).toEqual([
      ': expected exactly one of uplink_message, join_accept, downlink_ack, downlink_nack, downlink_sent, downlink_failed, downlink_queued, downlink_queue_invalidated, location_solved, service_data; found none',
    ]);
  });

  it('refuses a body with two messages', () => {
    const [issue] = issuesOf(bodyWith({ join_accept: {}, downlink_ack: DOWNLINK }));
    expect(issue).toMatch(/found join_accept, downlink_ack$/);
  });

  it.each([
    ['f_cnt "abc"', (up: Json) => (up.f_cnt = 'abc'), 'uplink_message.f_cnt: Invalid input: expected number, received string'],
    ['f_cnt 1.5', (up: Json) => (up.f_cnt = 1.5), 'uplink_message.f_cnt: Invalid input: expected int, received number'],
    ['f_port 256', (up: Json) => (up.f_port = 256), 'uplink_message.f_port: Too big: expected number to be <=255'],
    ['f_port -1', (up: Json) => (up.f_port = -1), 'uplink_message.f_port: Too small: expected number to be >=0'],
    ['frm_payload not base64', (up: Json) => (up.frm_payload = 'not base64!'), 'uplink_message.frm_payload: Invalid base64'],
    ['frequency "868.1"', (up: Json) => (up.settings.frequency = '868.1'), 'uplink_message.settings.frequency: Invalid uint64: expected decimal digits'],
    ['rssi "-69"', (up: Json) => (up.rx_metadata[0].rssi = '-69'), 'uplink_message.rx_metadata.0.rssi: Invalid input: expected number, received string'],
    ['received_at "yesterday"', (up: Json) => (up.received_at = 'yesterday'), 'uplink_message.received_at: Invalid ISO datetime'],
    ['confirmed "yes"', (up: Json) => (up.confirmed = 'yes'), 'uplink_message.confirmed: Invalid input: expected boolean, received string'],
  ])('names the field: %s', (_case, change, issue) => {
    expect(issuesOf(withUplink(change))).toEqual([issue]);
  });

  it('names bad device identifiers', () => {
    const body = sampleBody();
    body.end_device_ids = { application_ids: { application_id: 'app' }, dev_eui: '0025CA' };
    expect(issuesOf(body)).toEqual([
      'end_device_ids.device_id: Invalid input: expected string, received undefined',
      'end_device_ids.dev_eui: Invalid hex: expected 16 hex digits',
    ]);
  });

  it('requires a received_at for messages that have no time of their own', () => {
    const { received_at: _, ...body } = bodyWith({ downlink_sent: DOWNLINK });
    expect(issuesOf(body)).toEqual(['received_at: Invalid input: expected a timestamp, received nothing']);
  });

  it('refuses a solved location without coordinates', () => {
    expect(issuesOf(bodyWith({ location_solved: { location: { accuracy: 10 } } }))).toEqual([
      'location_solved.location: Invalid location: no latitude or longitude',
    ]);
  });
});

describe('TTS stream events', () => {
  it.each([
    ['events.stream.start', { '@type': 'type.googleapis.com/ttn.lorawan.v3.StreamEventsRequest' }],
    ['as.down.data.receive', { '@type': 'type.googleapis.com/ttn.lorawan.v3.ApplicationDownlink', ...DOWNLINK }],
    ['as.up.data.decode.fail', { '@type': 'type.googleapis.com/ttn.lorawan.v3.ErrorDetails', name: 'script' }],
    ['as.up.data.receive', undefined],
  ])('ignores %s', (name, data) => {
    expect(mapEvent(streamEventWith(name, data))).toBeNull();
  });

  it('throws a MalformedTtsEventError naming the field for bad data of a used event', () => {
    const streamEvent = sampleStreamEvent();
    streamEvent.data.uplink_message.f_cnt = 'abc';
    expect(() => mapEvent(streamEvent)).toThrow(MalformedTtsEventError);
    expect(() => mapEvent(streamEvent)).toThrow(
      'malformed TTS event as.up.data.forward: uplink_message.f_cnt: Invalid input: expected number, received string',
    );
  });

  it('throws when the data is missing or of another type', () => {
    expect(() => mapEvent(streamEventWith('as.up.data.forward', null))).toThrow('data: expected an object');
    expect(() => mapEvent(streamEventWith('as.up.data.forward', { '@type': 'type.googleapis.com/ttn.lorawan.v3.ErrorDetails' }))).toThrow(
      'data: expected @type type.googleapis.com/ttn.lorawan.v3.ApplicationUp, received type.googleapis.com/ttn.lorawan.v3.ErrorDetails',
    );
  });

  it('throws when an as.down.data.forward event names no device', () => {
    const streamEvent = streamEventWith('as.down.data.forward', { '@type': 'type.googleapis.com/ttn.lorawan.v3.ApplicationDownlink', ...DOWNLINK });
    streamEvent.identifiers = [{ application_ids: { application_id: 'app' } }];
    expect(() => mapEvent(streamEvent)).toThrow('end_device_ids: Invalid input: expected object, received undefined');
  });
});

describe('TTS_STREAM_EVENT_NAMES', () => {
  const patterns = TTS_STREAM_EVENT_NAMES.map((name) => {
    expect(name).toMatch(/^\/.+\/$/); // TTS reads /…/ as a regular expression
    return new RegExp(name.slice(1, -1));
  });
  const subscribed = (name: string) => patterns.some((pattern) => pattern.test(name));

  it('lets through every event the mapper uses', () => {
    for (const name of [
      'as.up.data.forward',
      'as.up.join.forward',
      'as.up.location.forward',
      'as.up.service.forward',
      'as.down.data.forward',
      'as.down.data.ack.forward',
      'as.down.data.nack.forward',
      'as.down.data.sent.forward',
      'as.down.data.failed.forward',
      'as.down.data.queue.invalidated.forward',
    ]) {
      expect([name, subscribed(name)]).toEqual([name, true]);
    }
  });

  it('leaves out the events it does not use', () => {
    for (const name of ['as.down.data.receive', 'as.up.data.decode.fail', 'as.up.data.receive', 'ns.up.data.receive', 'as.up.data.forwarded']) {
      expect([name, subscribed(name)]).toEqual([name, false]);
    }
  });

  it('has each pattern match an event every TTS v3 defines, so that no server refuses the request', () => {
    expect(patterns.map((pattern) => ['as.up.data.forward', 'as.down.data.forward'].some((name) => pattern.test(name)))).toEqual([true, true]);
  });
});

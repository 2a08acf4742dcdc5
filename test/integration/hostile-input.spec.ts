import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import heliumUplink from '../fixtures/helium-uplink.json';
import chirpstackSamples from '../fixtures/chirpstack-samples.json';
import ttsSamples from '../fixtures/tts-samples.json';
import { TestBridge } from '../support/bridge';
import { TEST_API_KEY } from '../support/env';

/**
 * Property-based hostile input: random and mutated bodies, content types and bytes against every
 * ingest endpoint and the REST API. The only acceptable answers are 2xx and 4xx; the process keeps
 * serving; nothing it stores is malformed; no prototype gets polluted.
 */
const RUNS = Number(process.env.HOSTILE_RUNS ?? 750);

const sigfoxData = { device: '1A2B3C', time: 1700000000, data: '0a1b2c3d', seqNumber: 33, ack: false, station: '37F1', rssi: -120.5, snr: 12.25 };
const { '@type': _type, ...ttsWebhookBody } = ttsSamples['as.up.data.forward'].data;

/** Values that break naive code: huge, odd numbers, wrong types, pollution keys. */
const nasty = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ maxLength: 64 }),
  fc.string({ minLength: 10_000, maxLength: 60_000 }),
  fc.constantFrom(-1, 0, 1e308, -1e308, 2 ** 53 + 1, 1.5, 'NaN', 'Infinity', '', ' ', '0x10', '1e999', null, true, [], {}, '\u0000', 'a\u0000b', { 'k\u0000': 1 }, '\ud800', 'a\udc00b', { 'k\ud83d': 1 }),
  fc.constantFrom({ __proto__: { polluted: 1 } }, JSON.parse('{"__proto__": {"polluted": 1}}'), { constructor: { prototype: { polluted: 1 } } }),
);

/** A real body with a few of its fields replaced, removed or added. */
function mutated(base: Record<string, unknown>) {
  const keys = [...Object.keys(base), '__proto__', 'constructor', 'extra'];
  return fc
    .array(fc.tuple(fc.constantFrom(...keys), fc.option(nasty, { nil: undefined })), { minLength: 1, maxLength: 4 })
    .map((changes) => {
      const body: Record<string, unknown> = JSON.parse(JSON.stringify(base));
      for (const [key, value] of changes) {
        if (value === undefined) delete body[key];
        else Object.defineProperty(body, key, { value, enumerable: true, configurable: true, writable: true });
      }
      return JSON.stringify(body);
    });
}

describe('hostile input', () => {
  let bridge: TestBridge;
  const tokens: Record<string, string> = {};
  const suffix = randomBytes(3).toString('hex');
  const ids = { helium: `hostile-h-${suffix}`, sigfox: `hostile-s-${suffix}`, tts: `hostile-t-${suffix}`, chirpstack: `hostile-c-${suffix}` };
  const serverErrors: string[] = [];
  let requests = 0;

  beforeAll(async () => {
    bridge = await TestBridge.start({ INGEST_RATE_LIMIT: '0' });
    tokens.helium = (await bridge.createConnection({ id: ids.helium, network: 'helium' })).ingestToken;
    tokens.sigfox = (await bridge.createConnection({ id: ids.sigfox, network: 'sigfox' })).ingestToken;
    tokens.tts = (await bridge.createConnection({ id: ids.tts, network: 'tts', settings: { baseUrl: 'https://eu1.cloud.thethings.network', applicationId: 'app1' } })).ingestToken;
    tokens.chirpstack = (
      await bridge.createConnection({ id: ids.chirpstack, network: 'chirpstack', settings: { apiUrl: 'http://127.0.0.1:1', applicationId: '17c82e96-be03-4f38-aef3-f83d48582d97' } })
    ).ingestToken;
  });

  afterAll(async () => {
    await bridge.stop();
  });

  async function send(method: string, path: string, body: string | Buffer | undefined, headers: Record<string, string>): Promise<number> {
    requests++;
    const response = await fetch(bridge.url + path, { method, headers, body });
    const text = await response.text();
    if (response.status >= 500) serverErrors.push(`${method} ${path} → ${response.status} ${text.slice(0, 200)} for ${String(body).slice(0, 300)}`);
    return response.status;
  }

  const ingestTargets = () => [
    { path: `/ingest/helium/${ids.helium}`, token: tokens.helium, base: heliumUplink as Record<string, unknown> },
    { path: `/ingest/sigfox/${ids.sigfox}/data`, token: tokens.sigfox, base: sigfoxData },
    { path: `/ingest/sigfox/${ids.sigfox}/service`, token: tokens.sigfox, base: { device: '1A2B3C', time: 1700000000, temp: 21.5, batt: 3.2 } },
    { path: `/ingest/sigfox/${ids.sigfox}/error`, token: tokens.sigfox, base: { device: '1A2B3C', time: 1700000000, info: 'lost' } },
    { path: `/ingest/tts/${ids.tts}`, token: tokens.tts, base: ttsWebhookBody as Record<string, unknown> },
    { path: `/ingest/chirpstack/${ids.chirpstack}?event=up`, token: tokens.chirpstack, base: chirpstackSamples['capture:up:helium-thingsix'].body as Record<string, unknown> },
  ];

  it('answers random JSON on every ingest endpoint with 2xx or 4xx', async () => {
    for (const target of ingestTargets()) {
      await fc.assert(
        fc.asyncProperty(fc.jsonValue({ maxDepth: 6 }), async (value) => {
          const status = await send('POST', target.path, JSON.stringify(value), { 'content-type': 'application/json', 'x-bridge-token': target.token });
          return status < 500;
        }),
        { numRuns: RUNS },
      );
    }
  }, 120_000);

  it('answers mutated real bodies with 2xx or 4xx', async () => {
    for (const target of ingestTargets()) {
      await fc.assert(
        fc.asyncProperty(mutated(target.base), async (body) => {
          const status = await send('POST', target.path, body, { 'content-type': 'application/json', 'x-bridge-token': target.token });
          return status < 500;
        }),
        { numRuns: RUNS },
      );
    }
  }, 120_000);

  it('answers random bytes, encodings and content types with 4xx or 2xx', async () => {
    const contentType = fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'application/octet-stream', 'text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/json; charset=latin1', '');
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a)),
      fc.constant(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d])), // invalid UTF-8 in a string
      fc.string().map((s) => Buffer.from(s)),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ingestTargets()), contentType, bytes, async (target, type, body) => {
        const headers: Record<string, string> = { 'x-bridge-token': target.token };
        if (type) headers['content-type'] = type;
        return (await send('POST', target.path, body, headers)) < 500;
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('survives deep nesting, pollution keys and oversized strings', async () => {
    const target = ingestTargets()[0];
    const headers = { 'content-type': 'application/json', 'x-bridge-token': target.token };
    const cases = [
      '['.repeat(100_000) + ']'.repeat(100_000),
      `{"a":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}`,
      '{"__proto__": {"polluted": true}, "dev_eui": "0080000004012610"}',
      '{"constructor": {"prototype": {"polluted": true}}}',
      JSON.stringify({ ...heliumUplink, name: 'x'.repeat(250_000) }),
      JSON.stringify({ ...heliumUplink, hotspots: Array.from({ length: 5000 }, (_, i) => ({ id: `h${i}` })) }),
    ];
    for (const body of cases) expect(await send('POST', target.path, body, headers)).toBeLessThan(500);
    // Postgres stores no NUL: refused at the edge in paths, queries, JSON and forms.
    const auth = { authorization: `Bearer ${TEST_API_KEY}` };
    expect(await send('GET', '/api/events?externalId=%00', undefined, auth)).toBe(400);
    expect(await send('GET', '/api/connections/a%00b', undefined, auth)).toBe(400);
    expect(await send('GET', '/api/events?from=0000-01-01T00:00:00Z', undefined, auth)).toBe(400);
    expect(await send('POST', target.path, JSON.stringify({ ...heliumUplink, name: 'a\u0000b' }), headers)).toBe(400);
    expect(await send('POST', `/ingest/sigfox/${ids.sigfox}/data`, 'device=1A&time=1700000000&data=01%00', { 'content-type': 'application/x-www-form-urlencoded', 'x-bridge-token': tokens.sigfox })).toBe(400);
    // Nor a lone UTF-16 surrogate, which JSON can carry ("\ud800"): refused, and the valid
    // requests stored in the same batch are not failed with it.
    const valid = Array.from({ length: 5 }, (_, i) => send('POST', target.path, JSON.stringify({ ...heliumUplink, fcnt: 900_000 + i }), headers));
    const lone = [`{"dev_eui":"0080000004012610","fcnt":1,"port":1,"payload":"AQI=","reported_at":1632353389723,"name":"\\ud800"}`, JSON.stringify({ ...heliumUplink, name: 'a\udc00b' })];
    expect(await Promise.all(lone.map((body) => send('POST', target.path, body, headers)))).toEqual([400, 400]);
    expect(await Promise.all(valid)).toEqual([200, 200, 200, 200, 200]);
    expect(await send('POST', '/api/connections', JSON.stringify({ id: 'lone-surrogate', network: 'helium', name: 'x\ud800' }), { ...auth, 'content-type': 'application/json' })).toBe(400);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('answers random input to the REST API with 2xx or 4xx', async () => {
    const auth = { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' };
    const routes: Array<[string, string]> = [
      ['POST', '/api/connections'],
      ['PATCH', `/api/connections/${ids.tts}`],
      ['POST', '/api/webhooks'],
      ['POST', `/api/connections/${ids.helium}/rotate-token`],
    ];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), fc.oneof(fc.jsonValue({ maxDepth: 4 }), mutated({ id: 'abc-123', network: 'tts', name: 'n', settings: { baseUrl: 'https://x.example', applicationId: 'app1' } })), async ([method, path], body) => {
        const text = typeof body === 'string' ? body : JSON.stringify(body);
        return (await send(method, path, text, auth)) < 500;
      }),
      { numRuns: RUNS },
    );
    const query = fc.dictionary(fc.constantFrom('limit', 'cursor', 'type', 'network', 'connectionId', 'externalId', 'from', 'to', 'deviceId', '__proto__'), fc.string({ maxLength: 40 }));
    await fc.assert(
      fc.asyncProperty(query, async (params) => (await send('GET', `/api/events?${new URLSearchParams(params)}`, undefined, auth)) < 500),
      { numRuns: RUNS },
    );
  });

  it('made no 5xx, kept serving, and stored only well-formed events', async () => {
    expect(serverErrors).toEqual([]);
    expect(requests).toBeGreaterThanOrEqual(RUNS >= 750 ? 10_000 : 0);
    expect((await fetch(`${bridge.url}/health/live`)).status).toBe(200);
    for (const connectionId of Object.values(ids)) {
      let cursor: string | null = null;
      do {
        const page: { data: Array<Record<string, any>>; nextCursor: string | null } = await (
          await bridge.api('GET', `/api/events?connectionId=${connectionId}&limit=1000${cursor ? `&cursor=${cursor}` : ''}`)
        ).json();
        for (const event of page.data) {
          expect(event.device.externalId).toMatch(/^[0-9A-Z-]+$/);
          expect(Number.isNaN(Date.parse(event.time))).toBe(false);
          if (event.uplink) expect(event.uplink.payloadHex).toMatch(/^([0-9a-f]{2})*$/);
        }
        cursor = page.nextCursor;
      } while (cursor);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

import { randomBytes } from 'node:crypto';
import heliumUplink from '../fixtures/helium-uplink.json';
import { TestBridge } from '../support/bridge';

describe('operations endpoints', () => {
  let bridge: TestBridge;

  beforeAll(async () => {
    bridge = await TestBridge.start();
  });

  afterAll(async () => {
    await bridge.stop();
  });

  it('reports liveness and readiness of Postgres, Redis and the broker without an API key', async () => {
    expect(await (await fetch(`${bridge.url}/health/live`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${bridge.url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ok', checks: { postgres: 'up', redis: 'up', mqtt: 'up' } });
  });

  it('shows the counters moving after ingest', async () => {
    const scrape = async () => (await fetch(`${bridge.url}/metrics`)).text();
    const count = (text: string, series: string) => Number(new RegExp(`^${series.replace(/[{}"]/g, '\\$&')} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
    const series = 'lpwan_events_ingested_total{network="helium",type="uplink"}';
    const before = count(await scrape(), series);

    const id = `ops-${randomBytes(3).toString('hex')}`;
    const { ingestToken } = await bridge.createConnection({ id, network: 'helium' });
    expect((await bridge.post(`/ingest/helium/${id}`, heliumUplink, { 'x-bridge-token': ingestToken })).status).toBe(200);
    expect((await bridge.post(`/ingest/helium/${id}`, heliumUplink, { 'x-bridge-token': ingestToken })).status).toBe(200);
    expect((await bridge.post(`/ingest/helium/${id}`, { bad: true }, { 'x-bridge-token': ingestToken })).status).toBe(400);

    const after = await scrape();
    expect(count(after, series)).toBe(before + 1);
    expect(count(after, 'lpwan_event_duplicates_total{network="helium"}')).toBeGreaterThanOrEqual(1);
    expect(count(after, 'lpwan_http_errors_total{kind="ingest",status="400"}')).toBeGreaterThanOrEqual(1);
    expect(after).toMatch(/^lpwan_queue_jobs\{queue="fanout",state="waiting"\} \d+/m);
    expect(after).toMatch(/^lpwan_events_unpublished \d+/m);
    expect(after).toMatch(/^lpwan_mqtt_publish_delay_seconds_bucket/m);
  });

  it('requires the API key on the management API', async () => {
    const anonymous = await fetch(`${bridge.url}/api/connections`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ statusCode: 401, error: 'Unauthorized' });
    const wrong = await fetch(`${bridge.url}/api/events`, { headers: { authorization: 'Bearer wrong' } });
    expect(wrong.status).toBe(401);
  });
});

describe('OpenAPI', () => {
  let bridge: TestBridge;

  beforeAll(async () => {
    bridge = await TestBridge.start();
  });

  afterAll(async () => {
    await bridge.stop();
  });

  /** The routes SPEC.md promises; /docs-json must describe each of them. */
  const promised = [
    'post /api/connections',
    'get /api/connections',
    'get /api/connections/{id}',
    'patch /api/connections/{id}',
    'delete /api/connections/{id}',
    'post /api/connections/{id}/rotate-token',
    'get /api/connections/{id}/status',
    'post /api/connections/{id}/reconcile',
    'post /api/connections/{id}/install',
    'delete /api/connections/{id}/install',
    'post /api/devices',
    'get /api/devices',
    'get /api/devices/{id}',
    'patch /api/devices/{id}',
    'delete /api/devices/{id}',
    'post /api/devices/bulk',
    'post /api/devices/{id}/sync',
    'post /api/devices/{id}/downlinks',
    'get /api/devices/{id}/downlinks',
    'post /api/codecs',
    'get /api/codecs',
    'get /api/codecs/{id}',
    'put /api/codecs/{id}',
    'delete /api/codecs/{id}',
    'post /api/codecs/{id}/test',
    'post /api/webhooks',
    'get /api/webhooks',
    'get /api/webhooks/{id}/deliveries',
    'post /api/webhooks/{id}/deliveries/{deliveryId}/retry',
    'post /ingest/helium/{connectionId}',
    'post /ingest/sigfox/{connectionId}/{kind}',
    'get /ingest/sigfox/{connectionId}/{kind}',
    'post /ingest/tts/{connectionId}',
    'get /api/events',
    'get /api/devices/{id}/events',
    'get /health/live',
    'get /health/ready',
    'get /metrics',
  ];

  it('describes every route, with the schemas that validate them', async () => {
    const response = await fetch(`${bridge.url}/docs-json`);
    expect(response.status).toBe(200);
    const doc = await response.json();
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`));
    for (const route of promised) expect(documented).toContain(route);
    expect(doc.paths['/api/connections'].post.requestBody.content['application/json'].schema.properties.id).toMatchObject({ type: 'string' });
    expect(doc.paths['/ingest/helium/{connectionId}'].post.requestBody.content['application/json'].schema.required).toContain('dev_eui');
    expect(doc.paths['/api/connections'].post.security).toEqual([{ apiKey: [] }]);
    expect(doc.paths['/health/live'].get.security).toBeUndefined();

    // Every route is described, and every body is documented by the schema that validates it.
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { summary: string }>>)) {
      for (const [method, op] of Object.entries(ops)) expect(`${method} ${path}: ${op.summary}`).not.toBe(`${method} ${path}: ${path}`);
    }
    const bodyOf = (method: string, path: string) => doc.paths[path][method].requestBody;
    for (const [method, path] of [['post', '/api/devices'], ['post', '/api/devices/bulk'], ['patch', '/api/devices/{id}'], ['post', '/api/devices/{id}/downlinks'], ['post', '/api/webhooks'], ['patch', '/api/webhooks/{id}']]) {
      expect(bodyOf(method, path)).toMatchObject({ required: true, content: { 'application/json': { schema: { type: 'object' } } } });
    }
    expect(bodyOf('post', '/api/webhooks/{id}/rotate-secret')).toMatchObject({ required: false });
    expect(bodyOf('post', '/api/connections/{id}/reconcile')).toMatchObject({ required: false });
    expect(bodyOf('post', '/api/devices/{id}/downlinks').content['application/json'].schema.properties).toHaveProperty('payloadHex');
  });

  it('documents only routes that exist: each answers something other than "route not found"', async () => {
    const doc = await (await fetch(`${bridge.url}/docs-json`)).json();
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(ops)) {
        const url = bridge.url + path.replace(/\{(\w+)\}/g, (_, name) => (name === 'kind' ? 'data' : '00000000-0000-7000-8000-000000000000'));
        const response = await fetch(url, { method: method.toUpperCase() });
        const body = await response.text();
        expect(`${method} ${path} ${response.status} ${body}`).not.toMatch(/Cannot (GET|POST|PATCH|DELETE|PUT)/);
      }
    }
  });

  it('refuses every management route without the API key, and with a wrong one', async () => {
    const doc = await (await fetch(`${bridge.url}/docs-json`)).json();
    let checked = 0;
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { security?: unknown }>>)) {
      for (const [method, op] of Object.entries(ops)) {
        if (!op.security) continue;
        const url = bridge.url + path.replace(/\{(\w+)\}/g, '00000000-0000-7000-8000-000000000000');
        for (const headers of [{}, { authorization: 'Bearer wrong-key' }] as Array<Record<string, string>>) {
          const withBody = method !== 'get' && method !== 'delete';
          const response = await fetch(url, { method: method.toUpperCase(), headers: withBody ? { ...headers, 'content-type': 'application/json' } : headers, body: withBody ? '{}' : undefined });
          expect(`${method} ${path} ${response.status}`).toBe(`${method} ${path} 401`);
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(25);
  });

  it('serves a page for people at /docs, with Swagger UI from the bridge itself (no CDN)', async () => {
    const response = await fetch(`${bridge.url}/docs`);
    expect(response.headers.get('content-type')).toMatch(/text\/html/);
    const page = await response.text();
    expect(page).toContain('docs-json');
    expect(page).not.toMatch(/https?:\/\//);
    const assets = [...page.matchAll(/(?:href|src)="(docs\/[^"]+)"/g)].map((match) => match[1]);
    expect(assets).toEqual(['docs/swagger-ui.css', 'docs/swagger-ui-bundle.js']);
    for (const asset of assets) {
      const file = await fetch(`${bridge.url}/${asset}`);
      expect(file.status).toBe(200);
      expect((await file.arrayBuffer()).byteLength).toBeGreaterThan(10_000);
    }
    expect((await fetch(`${bridge.url}/docs/..%2Fpackage.json`)).status).toBe(404);
  });
});

describe('queue dashboard', () => {
  let bridge: TestBridge;

  beforeAll(async () => {
    bridge = await TestBridge.start();
  });

  afterAll(async () => {
    await bridge.stop();
  });

  it('is behind the API key, as Bearer or as the Basic password a browser prompts for', async () => {
    const anonymous = await fetch(`${bridge.url}/admin/queues`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic/);
    const basic = await fetch(`${bridge.url}/admin/queues`, { headers: { authorization: `Basic ${Buffer.from('ops:test-api-key-0123456789').toString('base64')}` } });
    expect(basic.status).toBe(200);
    expect(await basic.text()).toMatch(/<html/i);
    const queues = await (await fetch(`${bridge.url}/admin/queues/api/queues`, { headers: { authorization: 'Bearer test-api-key-0123456789' } })).json();
    expect(queues.queues.map((q: { name: string }) => q.name).sort()).toEqual(['device-sync', 'downlinks', 'fanout', 'webhooks']);
  });
});

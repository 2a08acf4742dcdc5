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

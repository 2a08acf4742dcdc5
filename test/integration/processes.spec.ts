import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import heliumUplink from '../fixtures/helium-uplink.json';
import { BridgeProcess, freePort } from '../support/bridge-process';
import { TEST_API_KEY, TEST_DATABASE_URL, TEST_SECRETS_KEY, testSettings } from '../support/env';
import { MqttCollector, sleep } from '../support/mqtt-collector';

describe('the bridge as separate processes', () => {
  const shared = testSettings({ LOG_LEVEL: 'debug' });
  const processes: BridgeProcess[] = [];
  const start = (role: string) => {
    const bridge = BridgeProcess.spawn({ ...shared, BRIDGE_ROLE: role, PORT: freePort() });
    processes.push(bridge);
    return bridge;
  };
  const authed = { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' };

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGKILL')));
  });

  it('an api-only and a worker-only process together do the whole job, and keep secrets out of their logs', async () => {
    const mqtt = await MqttCollector.subscribe(`${shared.MQTT_TOPIC_PREFIX}/#`);
    const api = start('api');
    let worker = start('worker');
    await Promise.all([api.ready(), worker.ready()]);

    // The worker serves only health and metrics.
    expect((await fetch(`${worker.url}/api/connections`, { headers: authed })).status).toBe(404);
    expect((await fetch(`${worker.url}/metrics`)).status).toBe(200);

    const id = `proc-${randomBytes(3).toString('hex')}`;
    const networkKey = `NNSXS.${randomBytes(16).toString('hex').toUpperCase()}`;
    const created = await (
      await fetch(`${api.url}/api/connections`, {
        method: 'POST',
        headers: authed,
        body: JSON.stringify({ id, network: 'tts', name: 'p', settings: { baseUrl: 'http://127.0.0.1:9', applicationId: 'app1', apiKey: networkKey } }),
      })
    ).json();
    const token = created.ingestToken as string;
    expect(created.settings.apiKey).toBe('***');

    // Ingested through the api process, published by the worker process.
    const body = { end_device_ids: { device_id: 'd1', application_ids: { application_id: 'app1' }, dev_eui: '0004A30B001C0530' }, received_at: new Date().toISOString(), uplink_message: { f_port: 1, f_cnt: 7, frm_payload: 'AQ==' } };
    expect((await fetch(`${api.url}/ingest/tts/${id}?token=${token}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).status).toBe(200);
    const topic = `${shared.MQTT_TOPIC_PREFIX}/tts/0004A30B001C0530/event/up`;
    await mqtt.waitFor(() => mqtt.on(topic).length === 1);

    // With the worker gone nothing is published; a new worker publishes what waited.
    expect(await worker.stop('SIGKILL')).toBeNull();
    expect((await fetch(`${api.url}/ingest/tts/${id}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-bridge-token': token }, body: JSON.stringify({ ...body, uplink_message: { ...body.uplink_message, f_cnt: 8 } }) })).status).toBe(200);
    await sleep(1000);
    expect(mqtt.on(topic)).toHaveLength(1);
    worker = start('worker');
    await worker.ready();
    await mqtt.waitFor(() => mqtt.on(topic).length === 2, 20_000);
    await mqtt.close();

    // The ingest token (query and header), the network API key, the management key and the
    // secrets key never reach the logs, at debug level.
    await Promise.all([api.stop(), worker.stop()]);
    const logs = api.output.join('') + worker.output.join('');
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of [token, networkKey, TEST_API_KEY, TEST_SECRETS_KEY]) expect(logs).not.toContain(secret);

    // Encrypted at rest: the table holds an AES-GCM envelope, not the key.
    const db = new Client({ connectionString: TEST_DATABASE_URL });
    await db.connect();
    const { rows } = await db.query('SELECT row_to_json(c)::text AS row FROM connections c WHERE id = $1', [id]);
    await db.end();
    expect(rows[0].row).not.toContain(networkKey);
    expect(rows[0].row).not.toContain(token);
    expect(rows[0].row).toMatch(/"secrets":"v1\./);
  }, 60_000);

  it('stops at start with one clear line naming a bad setting', async () => {
    const bad = BridgeProcess.spawn({ ...shared, PORT: freePort(), SECRETS_KEY: 'too-short', MQTT_URL: 'not a url' });
    expect(await bad.exited()).toBe(1);
    const lines = bad.output.join('').trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/SECRETS_KEY/);
    expect(lines[0]).toMatch(/MQTT_URL/);
  });

  it('shuts down cleanly on SIGTERM', async () => {
    const bridge = start('all');
    await bridge.ready();
    const started = Date.now();
    expect(await bridge.stop('SIGTERM')).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

/** Quick checks of the fake network servers over real HTTP (see test/fakes). */
import { FakeHelium, HELIUM_API_KEY } from '../fakes/fake-helium';
import { FakeSigfox, SIGFOX_DEVICE_TYPE_ID, SIGFOX_LOGIN, SIGFOX_PASSWORD } from '../fakes/fake-sigfox';
import { applicationUp, FakeTts, TTS_API_KEY, TtsEvent, uplinkEvent } from '../fakes/fake-tts';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

async function call(url: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; body: Json }> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: Json = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, body };
}

/** Reads newline-delimited JSON messages from a streaming response until `count` arrived. */
async function readMessages(res: Response, count: number, timeoutMs = 1000): Promise<Json[]> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const messages: Json[] = [];
  let buffer = '';
  const deadline = Date.now() + timeoutMs;
  while (messages.length < count) {
    const chunk = await Promise.race([
      reader.read(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), Math.max(1, deadline - Date.now()))),
    ]);
    if (chunk.done) break;
    buffer += decoder.decode(chunk.value, { stream: true });
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    for (const line of lines) if (line.trim() !== '') messages.push(JSON.parse(line));
  }
  reader.releaseLock();
  return messages;
}

describe('FakeHelium', () => {
  const helium = new FakeHelium();
  let base = '';
  const headers = { key: HELIUM_API_KEY, 'content-type': 'application/json' };

  beforeAll(async () => {
    base = await helium.start();
  });
  afterAll(() => helium.stop());
  beforeEach(() => helium.reset());

  it('creates, finds, labels, deactivates and deletes a device', async () => {
    const label = await call(`${base}/api/v1/labels`, { method: 'POST', headers, body: JSON.stringify({ name: 'bridge' }) });
    expect(label.status).toBe(201);
    const created = await call(`${base}/api/v1/devices`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'd1', dev_eui: '0011223344556677', app_eui: '70B3D57ED0008E64', app_key: '30EACA8A2CAF0C5315D0E4A1B7F7B55B' }),
    });
    expect(created.status).toBe(201);
    expect(created.body.id).toMatch(/^[0-9a-f-]{36}$/);
    const id = created.body.id as string;

    const byEuis = await call(
      `${base}/api/v1/devices?dev_eui=0011223344556677&app_eui=70B3D57ED0008E64&app_key=30EACA8A2CAF0C5315D0E4A1B7F7B55B`,
      { headers },
    );
    expect(byEuis.body).toMatchObject({ id, name: 'd1', oui: 1 });

    expect((await call(`${base}/api/v1/devices/${id}/labels`, { method: 'POST', headers, body: JSON.stringify({ label: label.body.id }) })).status).toBe(200);
    expect((await call(`${base}/api/v1/devices/${id}`, { method: 'PUT', headers, body: JSON.stringify({ active: false }) })).status).toBe(200);
    const got = await call(`${base}/api/v1/devices/${id}`, { headers });
    expect(got.body).toMatchObject({ active: false, labels: [{ id: label.body.id, name: 'bridge' }] });

    const list = await call(`${base}/api/v1/devices`, { headers });
    expect(list.body).toHaveLength(1);
    expect((await call(`${base}/api/v1/devices/${id}`, { method: 'DELETE', headers })).body).toBe('Device deleted');
    expect((await call(`${base}/api/v1/devices/${id}`, { headers })).body).toEqual({ errors: { error: ['Device not found'] } });
  });

  it('creates an HTTP integration and a flow, and records downlinks sent to downlink_url', async () => {
    const integration = await call(`${base}/api/v1/integrations`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'bridge', type: 'http', endpoint: 'http://127.0.0.1:1/helium', method: 'post' }),
    });
    expect(integration.status).toBe(201);
    const device = helium.seedDevice({ name: 'd', dev_eui: '0011223344556677', app_eui: '70B3D57ED0008E64', app_key: '30EACA8A2CAF0C5315D0E4A1B7F7B55B' });
    const flow = await call(`${base}/api/v1/flows`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ integration_id: integration.body.id, device_id: device.id }),
    });
    expect(flow.body).toMatchObject({ integration_id: integration.body.id, device_id: device.id });
    expect((await call(`${base}/api/v1/flows?integration_id=${integration.body.id}`, { headers })).body).toHaveLength(1);

    const uplink = helium.uplinkBody({ device, integrationId: integration.body.id, fcnt: 7 });
    expect(uplink).toMatchObject({ id: device.id, dev_eui: '0011223344556677', fcnt: 7, payload_size: 5 });
    const down = await call(uplink.downlink_url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ payload_raw: 'AQI=', port: 2, confirmed: false }),
    });
    expect(down.status).toBe(200);
    expect(helium.downlinks).toMatchObject([{ deviceId: device.id, payload_raw: 'AQI=', port: 2, confirmed: false }]);

    expect((await call(`${base}/api/v1/integrations/${integration.body.id}`, { method: 'DELETE', headers })).status).toBe(200);
    expect(helium.flows.size).toBe(0);
  });

  it('refuses a missing key and plays scripted failures', async () => {
    expect((await call(`${base}/api/v1/devices`)).status).toBe(401);
    helium.failNext({ path: /^\/api\/v1\/devices/, status: 429, headers: { 'Retry-After': '2' } });
    const limited = await call(`${base}/api/v1/devices`, { headers });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect((await call(`${base}/api/v1/devices`, { headers })).status).toBe(200);
    expect(helium.requests.map((r) => r.path)).toEqual(['/api/v1/devices', '/api/v1/devices', '/api/v1/devices']);

    helium.failNext({ method: 'GET', status: 0, reset: true });
    await expect(fetch(`${base}/api/v1/labels`, { headers })).rejects.toThrow();
    helium.delayNext({ path: /labels/, ms: 60 });
    const started = Date.now();
    expect((await call(`${base}/api/v1/labels`, { headers })).body).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(50);
  });
});

describe('FakeSigfox', () => {
  const sigfox = new FakeSigfox({ defaultLimit: 2 });
  let base = '';
  const auth = `Basic ${Buffer.from(`${SIGFOX_LOGIN}:${SIGFOX_PASSWORD}`).toString('base64')}`;
  const headers = { authorization: auth, 'content-type': 'application/json' };

  beforeAll(async () => {
    base = await sigfox.start();
  });
  afterAll(() => sigfox.stop());
  beforeEach(() => sigfox.reset());

  it('registers, pages through and deletes devices', async () => {
    for (const id of ['1A2B3C', '1A2B3D', '1A2B3E']) {
      const res = await call(`${base}/v2/devices/`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ id, name: `dev ${id}`, deviceTypeId: SIGFOX_DEVICE_TYPE_ID, pac: '545CB3B17AC98BA4', prototype: false }),
      });
      expect(res).toMatchObject({ status: 201, body: { id } });
    }
    const dup = await call(`${base}/v2/devices/`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ id: '1A2B3C', name: 'again', deviceTypeId: SIGFOX_DEVICE_TYPE_ID, pac: '545CB3B17AC98BA4' }),
    });
    expect(dup.status).toBe(400);
    expect(typeof dup.body.message).toBe('string');

    const first = await call(`${base}/v2/devices/?deviceTypeId=${SIGFOX_DEVICE_TYPE_ID}`, { headers });
    expect(first.body.data.map((d: Json) => d.id)).toEqual(['1A2B3C', '1A2B3D']);
    const second = await call(first.body.paging.next, { headers });
    expect(second.body.data.map((d: Json) => d.id)).toEqual(['1A2B3E']);
    expect(second.body.paging.next).toBeUndefined();

    expect((await call(`${base}/v2/devices/1A2B3C`, { method: 'DELETE', headers })).status).toBe(204);
    expect((await call(`${base}/v2/devices/1A2B3C`, { headers })).status).toBe(404);
  });

  it('creates, lists and deletes device-type callbacks', async () => {
    const created = await call(`${base}/v2/device-types/${SIGFOX_DEVICE_TYPE_ID}/callbacks`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        channel: 'URL',
        callbackType: 0,
        callbackSubtype: 3,
        url: 'http://127.0.0.1:1/sigfox',
        httpMethod: 'POST',
        enabled: true,
        sendDuplicate: false,
        bodyTemplate: '{"device":"{device}","data":"{data}"}',
        contentType: 'application/json',
      }),
    });
    expect(created.status).toBe(201);
    const list = await call(`${base}/v2/device-types/${SIGFOX_DEVICE_TYPE_ID}/callbacks`, { headers });
    expect(list.body.data).toMatchObject([{ id: created.body.id, callbackSubtype: 3, url: 'http://127.0.0.1:1/sigfox' }]);
    const bad = await call(`${base}/v2/device-types/${SIGFOX_DEVICE_TYPE_ID}/callbacks`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ channel: 'URL', callbackType: 1, callbackSubtype: 3, url: 'http://x', httpMethod: 'POST' }),
    });
    expect(bad.status).toBe(400);
    expect(
      (await call(`${base}/v2/device-types/${SIGFOX_DEVICE_TYPE_ID}/callbacks/${created.body.id}`, { method: 'DELETE', headers })).status,
    ).toBe(204);
    expect(sigfox.callbacks.get(SIGFOX_DEVICE_TYPE_ID)).toEqual([]);
  });

  it('refuses wrong credentials', async () => {
    const res = await call(`${base}/v2/devices/`, { headers: { authorization: `Basic ${Buffer.from('x:y').toString('base64')}` } });
    expect(res).toMatchObject({ status: 401, body: { message: 'Unauthorized' } });
  });
});

describe('FakeTts', () => {
  const tts = new FakeTts();
  let base = '';
  const headers = { authorization: `Bearer ${TTS_API_KEY}`, 'content-type': 'application/json' };
  const app = 'app1';

  beforeAll(async () => {
    base = await tts.start();
  });
  afterAll(() => tts.stop());
  beforeEach(() => tts.reset());

  const stream = (body: object, accept = 'text/event-stream') =>
    fetch(`${base}/api/v3/events`, { method: 'POST', headers: { ...headers, accept }, body: JSON.stringify(body) });

  it('registers a device in IS, JS, NS and AS with field masks, lists it and deletes it', async () => {
    const ids = { device_id: 'dev1', dev_eui: '0011223344556677', join_eui: '70B3D57ED0008E64' };
    const created = await call(`${base}/api/v3/applications/${app}/devices`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ end_device: { ids, name: 'Dev 1' }, field_mask: { paths: ['name', 'ids.dev_eui', 'ids.join_eui'] } }),
    });
    expect(created.status).toBe(200);
    expect(created.body.ids).toEqual({ ...ids, application_ids: { application_id: app } });
    const again = await call(`${base}/api/v3/applications/${app}/devices`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ end_device: { ids } }),
    });
    expect(again.status).toBe(409);
    expect(again.body.message).toMatch(/^error:pkg\/identityserver\/store:end_device_id_taken/);

    const js = await call(`${base}/api/v3/js/applications/${app}/devices/dev1`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({
        end_device: { ids, root_keys: { app_key: { key: '30EACA8A2CAF0C5315D0E4A1B7F7B55B' } } },
        field_mask: { paths: ['ids.device_id', 'ids.dev_eui', 'ids.join_eui', 'root_keys.app_key.key'] },
      }),
    });
    expect(js.status).toBe(200);
    const nsMissing = await call(`${base}/api/v3/ns/applications/${app}/devices/dev1`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({ end_device: { ids, supports_join: true }, field_mask: { paths: ['supports_join'] } }),
    });
    expect(nsMissing.status).toBe(400);
    const ns = await call(`${base}/api/v3/ns/applications/${app}/devices/dev1`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({
        end_device: { ids, supports_join: true, lorawan_version: 'MAC_V1_0_2', lorawan_phy_version: 'PHY_V1_0_2_REV_B', frequency_plan_id: 'EU_863_870_TTN' },
        field_mask: { paths: ['supports_join', 'lorawan_version', 'lorawan_phy_version', 'frequency_plan_id'] },
      }),
    });
    expect(ns.status).toBe(200);
    const forbidden = await call(`${base}/api/v3/as/applications/${app}/devices/dev1`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({ end_device: { ids }, field_mask: { paths: ['root_keys.app_key.key'] } }),
    });
    expect(forbidden.status).toBe(400);
    expect(forbidden.body.message).toContain('forbidden path(s) in field mask');
    expect(tts.device('js', app, 'dev1')?.root_keys).toEqual({ app_key: { key: '30EACA8A2CAF0C5315D0E4A1B7F7B55B' } });

    const list = await call(`${base}/api/v3/applications/${app}/devices?field_mask=name&limit=1&page=1`, { headers });
    expect(list.headers.get('x-total-count')).toBe('1');
    expect(list.body.end_devices).toEqual([expect.objectContaining({ name: 'Dev 1', ids: expect.objectContaining({ device_id: 'dev1' }) })]);
    expect((await call(`${base}/api/v3/applications/${app}/devices?limit=1&page=2`, { headers })).body).toEqual({});

    expect((await call(`${base}/api/v3/ns/applications/${app}/devices/dev1`, { method: 'DELETE', headers })).body).toEqual({});
    const gone = await call(`${base}/api/v3/ns/applications/${app}/devices/dev1`, { method: 'DELETE', headers });
    expect(gone.status).toBe(404);
    expect(gone.body).toMatchObject({ code: 5, message: expect.stringMatching(/^error:/), details: expect.any(Array) });
  });

  it('refuses a missing key, rate-limits with X-Rate-Limit-* and records downlink pushes', async () => {
    expect((await call(`${base}/api/v3/applications/${app}/devices`)).status).toBe(401);
    tts.seedDevice(app, 'dev1', { dev_eui: '0011223344556677' });
    tts.rateLimitNext({ path: /\/down\/push$/, retrySeconds: 3 });
    const push = () =>
      call(`${base}/api/v3/as/applications/${app}/devices/dev1/down/push`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ downlinks: [{ f_port: 1, frm_payload: 'AQI=', confirmed: false, priority: 'NORMAL' }] }),
      });
    const limited = await push();
    expect(limited.status).toBe(429);
    expect(limited.headers.get('x-rate-limit-retry')).toBe('3');
    expect(limited.headers.get('x-rate-limit-available')).toBe('0');
    expect((await push()).body).toEqual({});
    expect(tts.downlinks).toMatchObject([{ deviceId: 'dev1', downlinks: [{ f_port: 1, frm_payload: 'AQI=' }] }]);
  });

  it('streams a start event, replays history after `after` capped by `tail`, then live events', async () => {
    const ref = { applicationId: app, deviceId: 'dev1', devEui: '0011223344556677' };
    const old: TtsEvent[] = [1, 2, 3, 4].map((fCnt) =>
      tts.pushEvent(uplinkEvent({ ...ref, fCnt, payloadBase64: 'AQ==', time: `2025-11-07T08:52:1${fCnt}.744360741Z` })),
    );
    tts.pushEvent(uplinkEvent({ ...ref, applicationId: 'other', fCnt: 9, payloadBase64: 'AQ==' }));

    const res = await stream({ identifiers: [{ application_ids: { application_id: app } }], after: '2025-11-07T08:52:11.744Z', tail: 2 });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const first = await readMessages(res, 3);
    expect(first[0].result.name).toBe('events.stream.start');
    expect(first.slice(1).map((m) => m.result.unique_id)).toEqual([old[2]!.unique_id, old[3]!.unique_id]);
    expect(tts.openStreams).toBe(1);

    const live = tts.pushEvent(uplinkEvent({ ...ref, fCnt: 5, payloadBase64: 'Ag==' }));
    const [next] = await readMessages(res, 1);
    expect(next.result.unique_id).toBe(live.unique_id);
    expect(next.result.data.uplink_message.settings.frequency).toBe('868100000');
    expect(applicationUp(live)).toMatchObject({ end_device_ids: { device_id: 'dev1' }, uplink_message: { f_cnt: 5 } });
    expect(applicationUp(live)['@type']).toBeUndefined();
    expect(tts.streamRequests[0]!.request.tail).toBe(2);

    tts.dropStreams();
    await expect(res.body!.getReader().read()).rejects.toThrow();
    expect(tts.openStreams).toBe(0);
  });

  it('uses newline separators without Accept: text/event-stream, rejects streams and ends them with an in-band error', async () => {
    tts.rejectStreams(403, undefined, { times: 1 });
    const refused = await stream({ identifiers: [{ application_ids: { application_id: app } }] });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as Json).error.code).toBe(7);

    const res = await stream({ identifiers: [{ application_ids: { application_id: app } }], names: ['/^as\\.up\\./'] }, 'application/json');
    expect(res.headers.get('content-type')).toBe('application/json');
    await tts.waitForStreams(1);
    tts.pushEvent({ name: 'as.down.data.receive', identifiers: [{ application_ids: { application_id: app } }] });
    tts.pushRaw('{"result": not json');
    tts.sendStreamError();
    const text = await res.text();
    const lines = text.split('\n');
    expect(lines.filter((l) => l !== '')).toHaveLength(3);
    expect(text).not.toContain('as.down.data.receive');
    expect(JSON.parse(lines[2]!).error.message).toMatch(/^error:/);
  });
});

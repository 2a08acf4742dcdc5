/**
 * Provisioning sync (SPEC §6) against the fake networks over HTTP: the exact calls, bodies,
 * headers and order for create, update and delete on each network, partial-failure cleanup,
 * rate limits, per-device ordering, per-connection concurrency, and reconcile.
 */
import { HELIUM_API_KEY } from '../fakes/fake-helium';
import { SIGFOX_DEVICE_TYPE_ID, SIGFOX_LOGIN, SIGFOX_PASSWORD } from '../fakes/fake-sigfox';
import { TTS_API_KEY } from '../fakes/fake-tts';
import { TestBridge } from '../support/bridge';
import { FakeNetworks, Json, randomEui, randomKey, settled, TTS_APP, waitFor } from '../support/networks';

const USER_AGENT = /^lpwan-bridge\//;
const JOIN_EUI = '70B3D57ED0008E64';

describe('provisioning sync to the networks', () => {
  let bridge: TestBridge;
  const fakes = new FakeNetworks();
  let conn: { helium: string; tts: string; sigfox: string };
  let labelId: string;

  beforeAll(async () => {
    await fakes.start();
    bridge = await TestBridge.start();
    const label = await fetch(`${fakes.helium.baseUrl}/api/v1/labels`, {
      method: 'POST',
      headers: { key: HELIUM_API_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'lpwan-bridge' }),
    });
    labelId = ((await label.json()) as Json).id;
    conn = await fakes.connect(bridge, { heliumLabelIds: [labelId] });
  });

  afterAll(async () => {
    await bridge.stop();
    await fakes.stop();
  });

  beforeEach(() => {
    fakes.helium.clear();
    fakes.tts.reset();
    fakes.sigfox.reset();
  });

  async function create(body: Record<string, unknown>): Promise<Json> {
    const response = await bridge.api('POST', '/api/devices', body);
    const device = (await response.json()) as Json;
    expect(response.status).toBe(201);
    expect(device.sync).toEqual({ state: 'pending', networkId: null, error: null, attempts: 0 });
    return device;
  }

  const calls = (requests: Array<{ method: string; path: string }>) => requests.map((r) => `${r.method} ${r.path}`);

  describe('Helium', () => {
    it('creates with the connection labels, deactivates, and deletes, with the key header', async () => {
      const devEui = randomEui();
      const appKey = randomKey();
      const device = await create({ connectionId: conn.helium, name: 'Basement Temp', devEui: devEui.toLowerCase(), appEui: JOIN_EUI, appKey });
      const synced = await settled(bridge, device.id);
      const heliumId = [...fakes.helium.devices.values()].find((d) => d.dev_eui === devEui)?.id;
      expect(synced.sync).toEqual({ state: 'synced', networkId: heliumId, error: null, attempts: 1 });

      expect(calls(fakes.helium.requests)).toEqual(['POST /api/v1/devices']);
      const [post] = fakes.helium.requests;
      expect(post.body).toEqual({ name: 'Basement Temp', dev_eui: devEui, app_eui: JOIN_EUI, app_key: appKey, label_ids: [labelId] });
      expect(post.headers).toMatchObject({ key: HELIUM_API_KEY, 'content-type': 'application/json', 'user-agent': expect.stringMatching(USER_AGENT) });
      expect(fakes.helium.devices.get(heliumId!)?.labels.map((l) => l.id)).toEqual([labelId]);

      fakes.helium.clear();
      const patched = (await (await bridge.api('PATCH', `/api/devices/${device.id}`, { active: false })).json()) as Json;
      expect(patched.sync.state).toBe('pending');
      expect((await settled(bridge, device.id)).sync.state).toBe('synced');
      expect(calls(fakes.helium.requests)).toEqual([`PUT /api/v1/devices/${heliumId}`]);
      expect(fakes.helium.requests[0].body).toEqual({ active: false });
      expect(fakes.helium.requests[0].headers.key).toBe(HELIUM_API_KEY);
      expect(fakes.helium.devices.get(heliumId!)?.active).toBe(false);

      fakes.helium.clear();
      expect((await bridge.api('DELETE', `/api/devices/${device.id}`)).status).toBe(204);
      await fakes.helium.waitForRequest((r) => r.method === 'DELETE');
      expect(calls(fakes.helium.requests)).toEqual([`DELETE /api/v1/devices/${heliumId}`]);
      expect(fakes.helium.requests[0].headers.key).toBe(HELIUM_API_KEY);
      await waitFor(() => !fakes.helium.devices.has(heliumId!), 'the Helium device to be deleted');
    });

    it('retries a 429 after the Retry-After it was given, then succeeds', async () => {
      fakes.helium.failNext({ method: 'POST', path: /^\/api\/v1\/devices$/, status: 429, headers: { 'Retry-After': '2' } });
      const device = await create({ connectionId: conn.helium, name: 'rate limited', devEui: randomEui(), joinEui: JOIN_EUI, appKey: randomKey() });

      const waiting = await waitFor(async () => {
        const d = (await (await bridge.api('GET', `/api/devices/${device.id}`)).json()) as Json;
        return d.sync.error ? d : undefined;
      }, 'the rate-limit error to be recorded');
      expect(waiting.sync).toMatchObject({ state: 'pending', attempts: 1, error: expect.stringContaining('HTTP 429') });
      // Another device of the same connection waits out the same rest.
      const other = await create({ connectionId: conn.helium, name: 'queued behind', devEui: randomEui(), joinEui: JOIN_EUI, appKey: randomKey() });

      const synced = await settled(bridge, device.id);
      expect(synced.sync).toMatchObject({ state: 'synced', attempts: 2, error: null });
      expect((await settled(bridge, other.id)).sync).toMatchObject({ state: 'synced', attempts: 1 });
      const posts = fakes.helium.requests.filter((r) => r.method === 'POST');
      expect(posts).toHaveLength(3);
      const waited = posts[1].at - posts[0].at;
      expect(waited).toBeGreaterThanOrEqual(1900);
      expect(waited).toBeLessThan(6000);
      expect(posts[2].at - posts[0].at).toBeGreaterThanOrEqual(1900);
    });

    it('fails at once on a 4xx other than 429, with the network message', async () => {
      // (A NUL in the network's message would not fit the device row: it is replaced.)
      fakes.helium.failNext({ method: 'POST', path: /^\/api\/v1\/devices$/, status: 422, body: { errors: { error: ['name: Name cannot be blank\u0000'] } } });
      const device = await create({ connectionId: conn.helium, name: 'refused', devEui: randomEui(), joinEui: JOIN_EUI, appKey: randomKey() });
      const failed = await settled(bridge, device.id);
      expect(failed.sync).toEqual({ state: 'failed', networkId: null, error: 'HTTP 422: name: Name cannot be blank\ufffd', attempts: 1 });
      // The 422 made the bridge look for a device it might have created before; there was none.
      expect(calls(fakes.helium.requests)).toEqual(['POST /api/v1/devices', 'GET /api/v1/devices']);

      // POST …/sync tries again.
      const retried = (await (await bridge.api('POST', `/api/devices/${device.id}/sync`)).json()) as Json;
      expect(retried.sync).toEqual({ state: 'pending', networkId: null, error: null, attempts: 0 });
      expect((await settled(bridge, device.id)).sync).toMatchObject({ state: 'synced', attempts: 1 });
    });
  });

  describe('The Things Stack', () => {
    const base = `/api/v3/applications/${TTS_APP}/devices`;
    const path = (registry: string, id: string) => (registry === 'is' ? `${base}/${id}` : `/api/v3/${registry}/applications/${TTS_APP}/devices/${id}`);

    it('registers an OTAA device in IS, JS, NS, AS exactly as reference 003 does', async () => {
      const devEui = randomEui();
      const appKey = randomKey();
      const deviceId = `eui-${devEui.toLowerCase()}`;
      const host = new URL(fakes.tts.baseUrl).host;
      const device = await create({ connectionId: conn.tts, name: 'Basement Temp', devEui, joinEui: JOIN_EUI, appKey });
      expect(device.deviceId).toBe(deviceId);
      const synced = await settled(bridge, device.id);
      expect(synced.sync).toEqual({ state: 'synced', networkId: deviceId, error: null, attempts: 1 });

      expect(calls(fakes.tts.requests)).toEqual([`POST ${base}`, `PUT ${path('js', deviceId)}`, `PUT ${path('ns', deviceId)}`, `PUT ${path('as', deviceId)}`]);
      const ids = { device_id: deviceId, dev_eui: devEui, join_eui: JOIN_EUI };
      const [is, js, ns, as] = fakes.tts.requests.map((r) => r.body);
      expect(is).toEqual({
        end_device: { ids, name: 'Basement Temp', join_server_address: host, network_server_address: host, application_server_address: host },
        field_mask: { paths: ['join_server_address', 'network_server_address', 'application_server_address', 'ids.dev_eui', 'ids.join_eui', 'name'] },
      });
      expect(js).toEqual({
        end_device: { ids, network_server_address: host, application_server_address: host, root_keys: { app_key: { key: appKey } } },
        field_mask: { paths: ['network_server_address', 'application_server_address', 'ids.device_id', 'ids.dev_eui', 'ids.join_eui', 'root_keys.app_key.key'] },
      });
      expect(ns).toEqual({
        end_device: { supports_join: true, lorawan_version: 'MAC_V1_0_3', ids, lorawan_phy_version: 'PHY_V1_0_3_REV_A', frequency_plan_id: 'EU_863_870_TTN' },
        field_mask: { paths: ['supports_join', 'lorawan_version', 'ids.device_id', 'ids.dev_eui', 'ids.join_eui', 'lorawan_phy_version', 'frequency_plan_id'] },
      });
      expect(as).toEqual({ end_device: { ids }, field_mask: { paths: ['ids.device_id', 'ids.dev_eui', 'ids.join_eui'] } });
      for (const request of fakes.tts.requests) {
        expect(request.headers).toMatchObject({ authorization: `Bearer ${TTS_API_KEY}`, 'user-agent': expect.stringMatching(USER_AGENT) });
      }
      expect(fakes.tts.device('js', TTS_APP, deviceId)?.root_keys).toEqual({ app_key: { key: appKey } });

      // A name change goes to the Identity Server with its field mask.
      fakes.tts.clear();
      await bridge.api('PATCH', `/api/devices/${device.id}`, { name: 'Cellar Temp' });
      expect((await settled(bridge, device.id)).sync.state).toBe('synced');
      expect(calls(fakes.tts.requests)).toEqual([`PUT ${path('is', deviceId)}`]);
      expect(fakes.tts.requests[0].body).toEqual({ end_device: { ids: { device_id: deviceId }, name: 'Cellar Temp' }, field_mask: { paths: ['name'] } });
      expect(fakes.tts.device('is', TTS_APP, deviceId)?.name).toBe('Cellar Temp');

      // Delete goes AS, NS, JS, IS.
      fakes.tts.clear();
      expect((await bridge.api('DELETE', `/api/devices/${device.id}`)).status).toBe(204);
      await fakes.tts.waitForRequest((r) => r.method === 'DELETE' && r.path === path('is', deviceId));
      expect(calls(fakes.tts.requests)).toEqual(['as', 'ns', 'js', 'is'].map((r) => `DELETE ${path(r, deviceId)}`));
      for (const registry of ['is', 'js', 'ns', 'as'] as const) expect(fakes.tts.device(registry, TTS_APP, deviceId)).toBeUndefined();
    });

    it('registers a LoRaWAN 1.0.x ABP device in IS, NS, AS exactly as reference 003 does', async () => {
      const devEui = randomEui();
      const nwkSKey = randomKey();
      const appSKey = randomKey();
      const device = await create({ connectionId: conn.tts, name: 'abp', deviceId: 'abp-sensor-1', devEui, devAddr: '260b1234', nwkSKey, appSKey });
      expect(device).toMatchObject({ deviceId: 'abp-sensor-1', activation: 'abp', devAddr: '260B1234', joinEui: null });
      expect((await settled(bridge, device.id)).sync).toMatchObject({ state: 'synced', networkId: 'abp-sensor-1' });

      const host = new URL(fakes.tts.baseUrl).host;
      const ids = { device_id: 'abp-sensor-1', dev_eui: devEui };
      expect(calls(fakes.tts.requests)).toEqual([`POST ${base}`, `PUT ${path('ns', 'abp-sensor-1')}`, `PUT ${path('as', 'abp-sensor-1')}`]);
      const [is, ns, as] = fakes.tts.requests.map((r) => r.body);
      expect(is).toEqual({
        end_device: { ids, name: 'abp', network_server_address: host, application_server_address: host },
        field_mask: { paths: ['network_server_address', 'application_server_address', 'ids.dev_eui', 'name'] },
      });
      expect(ns).toEqual({
        end_device: {
          supports_join: false,
          lorawan_version: 'MAC_V1_0_3',
          ids,
          session: { keys: { f_nwk_s_int_key: { key: nwkSKey } }, dev_addr: '260B1234' },
          mac_settings: {
            resets_f_cnt: true,
            factory_preset_frequencies: ['868100000', '868300000', '868500000', '867100000', '867300000', '867500000', '867700000', '867900000'],
          },
          lorawan_phy_version: 'PHY_V1_0_3_REV_A',
          frequency_plan_id: 'EU_863_870_TTN',
        },
        field_mask: {
          paths: [
            'supports_join',
            'lorawan_version',
            'ids.device_id',
            'ids.dev_eui',
            'session.keys.f_nwk_s_int_key.key',
            'session.dev_addr',
            'mac_settings.resets_f_cnt',
            'mac_settings.factory_preset_frequencies',
            'lorawan_phy_version',
            'frequency_plan_id',
          ],
        },
      });
      expect(as).toEqual({
        end_device: { ids, session: { keys: { app_s_key: { key: appSKey } }, dev_addr: '260B1234' }, skip_payload_crypto: false },
        field_mask: { paths: ['ids.device_id', 'ids.dev_eui', 'session.keys.app_s_key.key', 'session.dev_addr', 'skip_payload_crypto'] },
      });
      expect(fakes.tts.device('js', TTS_APP, 'abp-sensor-1')).toBeUndefined();
    });

    it('removes what it made when the Network Server refuses, and fails with the message', async () => {
      fakes.tts.failNext({ method: 'PUT', path: /^\/api\/v3\/ns\//, status: 400, body: { code: 3, message: 'error:pkg/networkserver:invalid_frequency_plan (frequency plan not found)', details: [] } });
      const devEui = randomEui();
      const deviceId = `eui-${devEui.toLowerCase()}`;
      const device = await create({ connectionId: conn.tts, name: 'no plan', devEui, joinEui: JOIN_EUI, appKey: randomKey() });
      const failed = await settled(bridge, device.id);
      expect(failed.sync).toEqual({
        state: 'failed',
        networkId: null,
        error: 'Network Server: HTTP 400: error:pkg/networkserver:invalid_frequency_plan (frequency plan not found)',
        attempts: 1,
      });
      expect(calls(fakes.tts.requests)).toEqual([
        `POST ${base}`,
        `PUT ${path('js', deviceId)}`,
        `PUT ${path('ns', deviceId)}`,
        `DELETE ${path('js', deviceId)}`,
        `DELETE ${path('is', deviceId)}`,
      ]);
      for (const registry of ['is', 'js', 'ns', 'as'] as const) expect(fakes.tts.registries[registry].size).toBe(0);
    });

    it('cleans up after a 500 from the Network Server, then retries the whole registration', async () => {
      fakes.tts.failNext({ method: 'PUT', path: /^\/api\/v3\/ns\//, status: 500 });
      const devEui = randomEui();
      const deviceId = `eui-${devEui.toLowerCase()}`;
      const device = await create({ connectionId: conn.tts, name: 'flaky', devEui, joinEui: JOIN_EUI, appKey: randomKey() });
      const synced = await settled(bridge, device.id);
      expect(synced.sync).toMatchObject({ state: 'synced', networkId: deviceId, error: null, attempts: 2 });
      expect(calls(fakes.tts.requests)).toEqual([
        `POST ${base}`,
        `PUT ${path('js', deviceId)}`,
        `PUT ${path('ns', deviceId)}`,
        `DELETE ${path('js', deviceId)}`,
        `DELETE ${path('is', deviceId)}`,
        `POST ${base}`,
        `PUT ${path('js', deviceId)}`,
        `PUT ${path('ns', deviceId)}`,
        `PUT ${path('as', deviceId)}`,
      ]);
    });

    it('waits out X-Rate-Limit-Retry on a 429', async () => {
      fakes.tts.rateLimitNext({ method: 'POST', path: /devices$/, retrySeconds: 1 });
      const device = await create({ connectionId: conn.tts, name: 'limited', devEui: randomEui(), joinEui: JOIN_EUI, appKey: randomKey() });
      expect((await settled(bridge, device.id)).sync).toMatchObject({ state: 'synced', attempts: 2 });
      const posts = fakes.tts.requests.filter((r) => r.method === 'POST');
      expect(posts[1].at - posts[0].at).toBeGreaterThanOrEqual(900);
    });

    it('runs the operations of one device in order: a delete during its registration undoes it', async () => {
      fakes.tts.delayNext({ method: 'PUT', path: /^\/api\/v3\/js\//, ms: 400 });
      const devEui = randomEui();
      const deviceId = `eui-${devEui.toLowerCase()}`;
      const device = await create({ connectionId: conn.tts, name: 'short-lived', devEui, joinEui: JOIN_EUI, appKey: randomKey() });
      await fakes.tts.waitForRequest((r) => r.path.startsWith('/api/v3/js/'));
      expect((await bridge.api('DELETE', `/api/devices/${device.id}`)).status).toBe(204);
      await fakes.tts.waitForRequest((r) => r.method === 'DELETE' && r.path === path('is', deviceId));
      expect(calls(fakes.tts.requests)).toEqual([
        `POST ${base}`,
        `PUT ${path('js', deviceId)}`,
        `PUT ${path('ns', deviceId)}`,
        `PUT ${path('as', deviceId)}`,
        ...['as', 'ns', 'js', 'is'].map((r) => `DELETE ${path(r, deviceId)}`),
      ]);
      for (const registry of ['is', 'js', 'ns', 'as'] as const) expect(fakes.tts.registries[registry].size).toBe(0);
    });

    it('deletes the old registration before registering the same DevEUI again', async () => {
      const devEui = randomEui();
      const deviceId = `eui-${devEui.toLowerCase()}`;
      const body = { connectionId: conn.tts, name: 'again', devEui, joinEui: JOIN_EUI, appKey: randomKey() };
      const first = await create(body);
      expect((await settled(bridge, first.id)).sync.state).toBe('synced');
      fakes.tts.clear();
      // The Application Server is slow to delete: the new registration must still wait for the whole delete.
      fakes.tts.delayNext({ method: 'DELETE', path: /^\/api\/v3\/as\//, ms: 400 });
      expect((await bridge.api('DELETE', `/api/devices/${first.id}`)).status).toBe(204);
      const second = await create(body);
      expect((await settled(bridge, second.id)).sync).toMatchObject({ state: 'synced', networkId: deviceId });
      expect(calls(fakes.tts.requests)).toEqual([
        ...['as', 'ns', 'js', 'is'].map((r) => `DELETE ${path(r, deviceId)}`),
        `POST ${base}`,
        ...['js', 'ns', 'as'].map((r) => `PUT ${path(r, deviceId)}`),
      ]);
    });

    it('applies a rename made while the device is being registered', async () => {
      fakes.tts.delayNext({ method: 'POST', path: /devices$/, ms: 400 });
      const device = await create({ connectionId: conn.tts, name: 'first name', devEui: randomEui(), joinEui: JOIN_EUI, appKey: randomKey() });
      await fakes.tts.waitForRequest((r) => r.method === 'POST');
      await bridge.api('PATCH', `/api/devices/${device.id}`, { name: 'second name' });
      const synced = await waitFor(async () => {
        const d = await settled(bridge, device.id);
        return fakes.tts.device('is', TTS_APP, d.deviceId)?.name === 'second name' ? d : undefined;
      }, 'the rename to reach the Identity Server');
      expect(synced.sync.state).toBe('synced');
    });
  });

  describe('Sigfox', () => {
    it('registers in the device type with HTTP Basic, renames, and deletes', async () => {
      const device = await create({ connectionId: conn.sigfox, name: 'Tracker', sigfoxId: '1a2b3c', pac: '0123456789abcdef' });
      expect(device).toMatchObject({ externalId: '1A2B3C', sigfoxId: '1A2B3C', devEui: null });
      expect((await settled(bridge, device.id)).sync).toEqual({ state: 'synced', networkId: '1A2B3C', error: null, attempts: 1 });
      const basic = `Basic ${Buffer.from(`${SIGFOX_LOGIN}:${SIGFOX_PASSWORD}`).toString('base64')}`;

      expect(calls(fakes.sigfox.requests)).toEqual(['POST /v2/devices/']);
      expect(fakes.sigfox.requests[0].body).toEqual({ id: '1A2B3C', name: 'Tracker', deviceTypeId: SIGFOX_DEVICE_TYPE_ID, pac: '0123456789ABCDEF', prototype: false });
      expect(fakes.sigfox.requests[0].headers).toMatchObject({ authorization: basic, 'user-agent': expect.stringMatching(USER_AGENT) });
      expect(fakes.sigfox.devices.get('1A2B3C')).toMatchObject({ name: 'Tracker', deviceType: { id: SIGFOX_DEVICE_TYPE_ID }, pac: '0123456789ABCDEF' });

      fakes.sigfox.clear();
      await bridge.api('PATCH', `/api/devices/${device.id}`, { name: 'Tracker 2' });
      expect((await settled(bridge, device.id)).sync.state).toBe('synced');
      expect(calls(fakes.sigfox.requests)).toEqual(['PUT /v2/devices/1A2B3C']);
      expect(fakes.sigfox.requests[0].body).toEqual({ name: 'Tracker 2' });

      fakes.sigfox.clear();
      expect((await bridge.api('DELETE', `/api/devices/${device.id}`)).status).toBe(204);
      await fakes.sigfox.waitForRequest((r) => r.method === 'DELETE');
      expect(calls(fakes.sigfox.requests)).toEqual(['DELETE /v2/devices/1A2B3C']);
      expect(fakes.sigfox.requests[0].headers.authorization).toBe(basic);
      await waitFor(() => !fakes.sigfox.devices.has('1A2B3C'), 'the Sigfox device to be deleted');
    });

    it('registers a zero-padded sigfoxId under its id without leading zeros, in the bridge and in Sigfox', async () => {
      const device = await create({ connectionId: conn.sigfox, name: 'Padded', sigfoxId: '00ab12', pac: '0123456789abcdef' });
      expect(device).toMatchObject({ externalId: 'AB12', sigfoxId: 'AB12' });
      expect((await settled(bridge, device.id)).sync).toMatchObject({ state: 'synced', networkId: 'AB12' });
      expect(calls(fakes.sigfox.requests)).toEqual(['POST /v2/devices/']);
      expect(fakes.sigfox.requests[0].body).toMatchObject({ id: 'AB12' });
      const again = await bridge.api('POST', '/api/devices', { connectionId: conn.sigfox, name: 'Padded again', sigfoxId: '0000AB12', pac: '0123456789abcdef' });
      expect(again.status).toBe(409);
    });

    it('runs at most 4 operations at once against one connection', async () => {
      fakes.sigfox.latencyMs = 300;
      try {
        const devices = Array.from({ length: 12 }, (_, i) => ({ connectionId: conn.sigfox, name: `bulk ${i}`, sigfoxId: `B000${i.toString(16)}`, pac: randomKey().slice(0, 16) }));
        const response = (await (await bridge.api('POST', '/api/devices/bulk', { devices })).json()) as Json;
        expect(response.results.map((r: Json) => r.status)).toEqual(devices.map(() => 201));
        for (const r of response.results) expect((await settled(bridge, r.device.id, 20_000)).sync.state).toBe('synced');
        // Each call holds its slot for at least 300 ms, so no 250 ms window can see more than 4 start.
        const starts = fakes.sigfox.requests.map((r) => r.at).sort((a, b) => a - b);
        const busiest = Math.max(...starts.map((t) => starts.filter((s) => s >= t && s < t + 250).length));
        expect(busiest).toBeLessThanOrEqual(4);
        expect(fakes.sigfox.devices.size).toBe(12);
      } finally {
        fakes.sigfox.latencyMs = 0;
      }
    });
  });

  describe('reconcile', () => {
    // Fresh connections: the devices earlier tests left in the bridge are not in the reset fakes.
    beforeEach(async () => {
      conn = await fakes.connect(bridge, { heliumLabelIds: [labelId] });
    });

    it('reports devices only in the network, only in the bridge, and different; apply imports and re-provisions', async () => {
      // In both, the same.
      const same = await create({ connectionId: conn.sigfox, name: 'same', sigfoxId: 'AA01', pac: '00000000000000A1' });
      // In both, renamed in the network.
      const renamed = await create({ connectionId: conn.sigfox, name: 'bridge name', sigfoxId: 'AA02', pac: '00000000000000A2' });
      // Registered by the bridge, then removed from the network behind its back.
      const vanished = await create({ connectionId: conn.sigfox, name: 'vanished', sigfoxId: 'AA03', pac: '00000000000000A3' });
      for (const d of [same, renamed, vanished]) expect((await settled(bridge, d.id)).sync.state).toBe('synced');
      fakes.sigfox.devices.get('AA02')!.name = 'network name';
      fakes.sigfox.devices.delete('AA03');
      // Only in the network: three, so the listing takes two pages of two.
      for (const id of ['BB01', 'BB02', 'BB03']) fakes.sigfox.seedDevice({ id, name: `seeded ${id}`, pac: `00000000000000${id.slice(2)}` });
      fakes.sigfox.clear();

      const drift = (await (await bridge.api('POST', `/api/connections/${conn.sigfox}/reconcile`)).json()) as Json;
      expect(drift.onlyInNetwork.map((d: Json) => d.externalId)).toEqual(['BB01', 'BB02', 'BB03']);
      expect(drift.onlyInNetwork[0]).toEqual({ externalId: 'BB01', networkId: 'BB01', name: 'seeded BB01', devEui: null, joinEui: null });
      expect(drift.onlyInBridge).toEqual([{ id: vanished.id, externalId: 'AA03', name: 'vanished', syncState: 'synced' }]);
      expect(drift.different).toEqual([{ id: renamed.id, externalId: 'AA02', fields: { name: { bridge: 'bridge name', network: 'network name' } } }]);
      expect(drift.applied).toBeUndefined();
      expect(fakes.sigfox.requests.every((r) => r.method === 'GET')).toBe(true);
      expect(JSON.stringify(drift)).not.toMatch(/00000000000000/);

      const applied = (await (await bridge.api('POST', `/api/connections/${conn.sigfox}/reconcile`, { apply: true })).json()) as Json;
      expect(applied.applied).toEqual({ imported: 3, reprovisioned: 1 });
      expect((await settled(bridge, vanished.id)).sync.state).toBe('synced');
      expect(fakes.sigfox.devices.get('AA03')).toMatchObject({ name: 'vanished', pac: '00000000000000A3' });
      const imported = (await (await bridge.api('GET', `/api/devices?connectionId=${conn.sigfox}&externalId=bb02`)).json()) as Json;
      expect(imported.data).toEqual([
        expect.objectContaining({ externalId: 'BB02', name: 'seeded BB02', origin: 'imported', sync: { state: 'synced', networkId: 'BB02', error: null, attempts: 0 } }),
      ]);

      const after = (await (await bridge.api('POST', `/api/connections/${conn.sigfox}/reconcile`, {})).json()) as Json;
      expect(after).toEqual({ onlyInNetwork: [], onlyInBridge: [], different: [{ id: renamed.id, externalId: 'AA02', fields: { name: { bridge: 'bridge name', network: 'network name' } } }] });

      // An imported device is managed like any other: deleting it deletes it in the network.
      expect((await bridge.api('DELETE', `/api/devices/${imported.data[0].id}`)).status).toBe(204);
      await waitFor(() => !fakes.sigfox.devices.has('BB02'), 'the imported device to be deleted from Sigfox');
    });

    it('takes a Sigfox device the network lists zero-padded for the bridge device of that id', async () => {
      const device = await create({ connectionId: conn.sigfox, name: 'padded', sigfoxId: 'AA04', pac: '00000000000000A4' });
      expect((await settled(bridge, device.id)).sync.state).toBe('synced');
      // Sigfox's documents write ids padded ("002C"): its listing may too.
      fakes.sigfox.devices.get('AA04')!.id = '0000AA04';
      fakes.sigfox.seedDevice({ id: '00BB04', name: 'seeded padded', pac: '00000000000000B4' });

      const drift = (await (await bridge.api('POST', `/api/connections/${conn.sigfox}/reconcile`)).json()) as Json;
      expect(drift).toEqual({
        onlyInNetwork: [{ externalId: 'BB04', networkId: 'BB04', name: 'seeded padded', devEui: null, joinEui: null }],
        onlyInBridge: [],
        different: [],
      });
    });

    it('follows the TTS and Helium listings and compares ids, EUIs and keys', async () => {
      const devEui = randomEui();
      const tts = await create({ connectionId: conn.tts, name: 'tts', devEui, joinEui: JOIN_EUI, appKey: randomKey() });
      expect((await settled(bridge, tts.id)).sync.state).toBe('synced');
      // 201 more in the network than fit one page of the Identity Server list.
      for (let i = 0; i < 201; i++) fakes.tts.seedDevice(TTS_APP, `seeded-${i}`, { dev_eui: `00000000000${(0x10000 + i).toString(16)}`.slice(-16), join_eui: JOIN_EUI, name: `seeded ${i}` });
      fakes.tts.clear();
      const ttsDrift = (await (await bridge.api('POST', `/api/connections/${conn.tts}/reconcile`)).json()) as Json;
      expect(ttsDrift.onlyInNetwork).toHaveLength(201);
      expect(ttsDrift.onlyInBridge).toEqual([]);
      expect(ttsDrift.different).toEqual([]);
      expect(fakes.tts.requests.map((r) => r.query)).toEqual([
        { field_mask: 'name', limit: '200', page: '1' },
        { field_mask: 'name', limit: '200', page: '2' },
      ]);

      const heliumEui = randomEui();
      const helium = await create({ connectionId: conn.helium, name: 'helium', devEui: heliumEui, joinEui: JOIN_EUI, appKey: randomKey() });
      expect((await settled(bridge, helium.id)).sync.state).toBe('synced');
      const inConsole = [...fakes.helium.devices.values()].find((d) => d.dev_eui === heliumEui)!;
      inConsole.app_key = randomKey();
      inConsole.active = false;
      const heliumDrift = (await (await bridge.api('POST', `/api/connections/${conn.helium}/reconcile`)).json()) as Json;
      expect(heliumDrift.different).toEqual([
        { id: helium.id, externalId: heliumEui, fields: { active: { bridge: true, network: false }, appKey: { bridge: '***', network: '***' } } },
      ]);
      expect(JSON.stringify(heliumDrift)).not.toContain(inConsole.app_key);
    });
  });
});

/**
 * The devices API (SPEC §6): registration per network, validation, conflicts, listing, changes,
 * bulk, and keys that are encrypted in Postgres and never answered.
 */
import { Client } from 'pg';
import heliumUplink from '../fixtures/helium-uplink.json';
import { TestBridge } from '../support/bridge';
import { TEST_DATABASE_URL } from '../support/env';
import { FakeNetworks, Json, randomEui, randomKey, settled, TTS_APP } from '../support/networks';

const JOIN_EUI = '70B3D57ED0008E64';

describe('devices API', () => {
  let bridge: TestBridge;
  const fakes = new FakeNetworks();
  let conn: { helium: string; tts: string; sigfox: string };
  const db = new Client({ connectionString: TEST_DATABASE_URL });
  /** Every API answer of this file, to check that no key ever appears in one. */
  const answers: string[] = [];
  /** Every key given to the API in this file. */
  const keys: string[] = [];

  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
    const response = await bridge.api(method, path, body);
    const text = await response.text();
    answers.push(text);
    return { status: response.status, body: text ? (JSON.parse(text) as Json) : undefined };
  }

  function otaa(connectionId: string, extra: Record<string, unknown> = {}) {
    const appKey = randomKey();
    keys.push(appKey);
    return { connectionId, name: 'Basement Temp', devEui: randomEui(), joinEui: JOIN_EUI, appKey, ...extra };
  }

  function sigfox(extra: Record<string, unknown> = {}) {
    const pac = randomKey().slice(0, 16);
    keys.push(pac);
    const sigfoxId = randomKey().slice(0, 8);
    return { connectionId: conn.sigfox, name: 'Tracker', sigfoxId, pac, ...extra };
  }

  beforeAll(async () => {
    await fakes.start();
    await db.connect();
    bridge = await TestBridge.start();
    conn = await fakes.connect(bridge);
  });

  afterAll(async () => {
    await bridge.stop();
    await fakes.stop();
    await db.end();
    // Nothing any test answered carries a key, in any case.
    const all = answers.join('\n').toUpperCase();
    for (const key of keys) expect(all).not.toContain(key.toUpperCase());
  });

  describe('POST /api/devices', () => {
    it('stores a Helium OTAA device at once as pending and answers it without its key', async () => {
      const input = otaa(conn.helium, { devEui: 'aabbccdd00112233', labels: ['floor-1', 'floor-1', 'cellar'], attributes: { room: 'basement', level: -1 } });
      const { status, body } = await call('POST', '/api/devices', input);
      expect(status).toBe(201);
      expect(body).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        connectionId: conn.helium,
        network: 'helium',
        externalId: 'AABBCCDD00112233',
        name: 'Basement Temp',
        devEui: 'AABBCCDD00112233',
        joinEui: JOIN_EUI,
        labels: ['floor-1', 'cellar'],
        attributes: { room: 'basement', level: -1 },
        active: true,
        codecId: null,
        codecOverrides: null,
        origin: 'registered',
        sync: { state: 'pending', networkId: null, error: null, attempts: 0 },
        lastSeenAt: null,
        lastUplink: null,
        battery: null,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      });
      expect((await settled(bridge, body.id)).sync.state).toBe('synced');
      expect((await call('GET', `/api/devices/${body.id}`)).body).toMatchObject({ sync: { state: 'synced', networkId: expect.any(String) } });
    });

    it('takes appEui as the old name of joinEui, and a TTS deviceId or its default', async () => {
      const helium = otaa(conn.helium, { joinEui: undefined, appEui: JOIN_EUI.toLowerCase() });
      expect((await call('POST', '/api/devices', helium)).body).toMatchObject({ joinEui: JOIN_EUI });

      const tts = otaa(conn.tts);
      const byDefault = await call('POST', '/api/devices', tts);
      expect(byDefault.status).toBe(201);
      expect(byDefault.body).toMatchObject({ network: 'tts', deviceId: `eui-${tts.devEui.toLowerCase()}`, activation: 'otaa' });
      const named = await call('POST', '/api/devices', otaa(conn.tts, { deviceId: 'cellar-sensor' }));
      expect(named.body).toMatchObject({ deviceId: 'cellar-sensor' });
    });

    it('stores a Sigfox device with its payloadConfig, under its id without leading zeros', async () => {
      const { status, body } = await call('POST', '/api/devices', sigfox({ sigfoxId: '00c0ffee', payloadConfig: 'temp::int:16:little-endian' }));
      expect(status).toBe(201);
      expect(body).toMatchObject({ network: 'sigfox', externalId: 'C0FFEE', sigfoxId: 'C0FFEE', devEui: null, joinEui: null, payloadConfig: 'temp::int:16:little-endian' });
      expect((await settled(bridge, body.id)).sync).toMatchObject({ state: 'synced', networkId: 'C0FFEE' });
      // The same device typed another way is the same device.
      const again = await call('POST', '/api/devices', sigfox({ sigfoxId: 'C0FFEE' }));
      expect(again.status).toBe(409);
      expect(again.body.message).toContain(body.id);
    });

    it('keeps the keys encrypted in the table', async () => {
      const input = otaa(conn.tts);
      const abp = { connectionId: conn.tts, name: 'abp', devEui: randomEui(), devAddr: '26011234', nwkSKey: randomKey(), appSKey: randomKey() };
      keys.push(abp.nwkSKey, abp.appSKey);
      const pacDevice = sigfox();
      const ids: string[] = [];
      for (const body of [input, abp, pacDevice]) ids.push((await call('POST', '/api/devices', body)).body.id);
      const { rows } = await db.query('SELECT row_to_json(d)::text AS row, secrets FROM devices d WHERE id = ANY($1::uuid[])', [ids]);
      expect(rows).toHaveLength(3);
      for (const { row, secrets } of rows) {
        expect(secrets).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
        for (const key of [input.appKey, abp.nwkSKey, abp.appSKey, pacDevice.pac]) {
          expect(row.toUpperCase()).not.toContain(key);
        }
      }
    });

    describe('refuses bad input with a 400 naming the field', () => {
      const cases: Array<[string, () => Record<string, unknown>, RegExp]> = [
        ['a DevEUI of 15 digits', () => otaa(conn.helium, { devEui: '00112233445566' + '7' }), /devEui: must be an EUI-64/],
        ['a DevEUI that is not hex', () => otaa(conn.tts, { devEui: '00112233445566ZZ' }), /devEui/],
        ['an appKey of 31 digits', () => otaa(conn.helium, { appKey: randomKey().slice(1) }), /appKey: must be a 128-bit AES key/],
        ['a missing appKey', () => otaa(conn.helium, { appKey: undefined }), /appKey/],
        ['a missing joinEui', () => otaa(conn.tts, { joinEui: undefined }), /joinEui: is required/],
        ['two different joinEui and appEui', () => otaa(conn.tts, { appEui: '0000000000000001' }), /appEui: differs from joinEui/],
        ['an upper-case TTS device id', () => otaa(conn.tts, { deviceId: 'Cellar' }), /deviceId: must be a TTS device id/],
        ['a TTS device id with a double dash', () => otaa(conn.tts, { deviceId: 'a--b' }), /deviceId/],
        ['a TTS device id of 37 characters', () => otaa(conn.tts, { deviceId: 'a'.repeat(37) }), /deviceId/],
        ['ABP without appSKey', () => ({ connectionId: conn.tts, name: 'x', devEui: randomEui(), devAddr: '26011234', nwkSKey: randomKey() }), /appSKey: is required for ABP/],
        ['ABP with an appKey', () => ({ connectionId: conn.tts, name: 'x', devEui: randomEui(), devAddr: '26011234', nwkSKey: randomKey(), appSKey: randomKey(), appKey: randomKey() }), /appKey: is for OTAA/],
        ['a devAddr of 6 digits', () => ({ connectionId: conn.tts, name: 'x', devEui: randomEui(), devAddr: '260112', nwkSKey: randomKey(), appSKey: randomKey() }), /devAddr/],
        ['a Sigfox id of 9 digits', () => sigfox({ sigfoxId: '123456789' }), /sigfoxId: must be a Sigfox device id/],
        ['a PAC of 15 digits', () => sigfox({ pac: '0123456789ABCDE' }), /pac: must be a Sigfox PAC/],
        ['a bad payloadConfig', () => sigfox({ payloadConfig: 'temp::float:99' }), /payloadConfig: invalid at position/],
        ['EUIs on a Sigfox device', () => sigfox({ devEui: randomEui() }), /Unrecognized key/],
        ['an unknown field', () => otaa(conn.helium, { appkey: randomKey() }), /Unrecognized key/],
        ['no name', () => otaa(conn.helium, { name: undefined }), /name/],
        ['a name of 51 characters', () => otaa(conn.helium, { name: 'n'.repeat(51) }), /name/],
        ['a name with a NUL character', () => otaa(conn.helium, { name: 'a\u0000b' }), /body: NUL characters/],
        ['a label with a space', () => otaa(conn.helium, { labels: ['floor 1'] }), /labels\.0/],
        ['a nested attribute', () => otaa(conn.helium, { attributes: { room: { floor: 1 } } }), /attributes\.room/],
        ['an unknown connection', () => otaa('no-such-connection'), /connectionId: no connection "no-such-connection"/],
      ];
      it.each(cases)('%s', async (_, body, message) => {
        const before = await db.query('SELECT count(*)::int AS n FROM devices');
        const { status, body: answer } = await call('POST', '/api/devices', body());
        expect(status).toBe(400);
        expect(answer).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.stringMatching(message) });
        expect((await db.query('SELECT count(*)::int AS n FROM devices')).rows[0].n).toBe(before.rows[0].n);
      });

      it('a connection without the credentials provisioning needs', async () => {
        const id = `helium-nokey-${Date.now().toString(36)}`;
        await bridge.createConnection({ id, network: 'helium' });
        const { status, body } = await call('POST', '/api/devices', otaa(id));
        expect(status).toBe(400);
        expect(body.message).toMatch(/settings\.apiKey/);
      });
    });

    it('answers 409 for the same connection and DevEUI twice, and names a discovered device', async () => {
      const input = otaa(conn.helium);
      expect((await call('POST', '/api/devices', input)).status).toBe(201);
      const again = await call('POST', '/api/devices', { ...input, devEui: input.devEui.toLowerCase(), name: 'other' });
      expect(again.status).toBe(409);
      expect(again.body).toEqual({ statusCode: 409, error: 'Conflict', message: expect.stringContaining(`device ${input.devEui} already exists`) });
      // The same DevEUI in another connection is another device.
      expect((await call('POST', '/api/devices', { ...input, connectionId: conn.tts })).status).toBe(201);

      const id = `helium-disc-${Date.now().toString(36)}`;
      const { ingestToken } = await bridge.createConnection({ id, network: 'helium', settings: { apiKey: 'k' } });
      expect((await bridge.post(`/ingest/helium/${id}`, heliumUplink, { 'x-bridge-token': ingestToken })).status).toBe(200);
      const discovered = await call('POST', '/api/devices', otaa(id, { devEui: heliumUplink.dev_eui }));
      expect(discovered.status).toBe(409);
      expect(discovered.body.message).toMatch(/discovered from its events/);
      const listed = await call('GET', `/api/devices?connectionId=${id}`);
      expect(listed.body.data).toEqual([expect.objectContaining({ origin: 'discovered', sync: { state: 'none', networkId: null, error: null, attempts: 0 } })]);
      expect((await call('POST', `/api/devices/${listed.body.data[0].id}/sync`)).status).toBe(409);
    });
  });

  describe('GET /api/devices', () => {
    it('filters by connection, network, externalId, label and syncState, and pages with a cursor', async () => {
      const mine = `helium-list-${Date.now().toString(36)}`;
      await bridge.createConnection({ id: mine, network: 'helium', settings: { baseUrl: fakes.helium.baseUrl, apiKey: 'wrong-key' } });
      const created: Json[] = [];
      for (let i = 0; i < 5; i++) created.push((await call('POST', '/api/devices', otaa(mine, { labels: i % 2 ? ['odd'] : ['even'] }))).body);

      const pages: Json[] = [];
      let cursor: string | null = null;
      do {
        const page: Json = (await call('GET', `/api/devices?connectionId=${mine}&limit=2${cursor ? `&cursor=${cursor}` : ''}`)).body;
        pages.push(page);
        cursor = page.nextCursor;
      } while (cursor);
      expect(pages.map((p) => p.data.length)).toEqual([2, 2, 1]);
      expect(pages.flatMap((p) => p.data.map((d: Json) => d.id))).toEqual(created.map((d) => d.id));

      expect((await call('GET', `/api/devices?connectionId=${mine}&label=odd`)).body.data.map((d: Json) => d.id)).toEqual([created[1].id, created[3].id]);
      const byEui = await call('GET', `/api/devices?externalId=${created[2].devEui.toLowerCase()}&network=helium`);
      expect(byEui.body.data.map((d: Json) => d.id)).toEqual([created[2].id]);
      expect((await call('GET', `/api/devices?connectionId=${mine}&network=tts`)).body.data).toEqual([]);

      // The wrong API key makes Helium refuse with 401: not retried, failed at once.
      for (const d of created) expect((await settled(bridge, d.id)).sync).toMatchObject({ state: 'failed', error: 'HTTP 401: Invalid API key', attempts: 1 });
      expect((await call('GET', `/api/devices?connectionId=${mine}&syncState=failed`)).body.data).toHaveLength(5);
      expect((await call('GET', `/api/devices?connectionId=${mine}&syncState=synced`)).body.data).toHaveLength(0);
    });

    it('refuses bad filters and a limit above 1000', async () => {
      expect((await call('GET', '/api/devices?limit=1001')).status).toBe(400);
      expect((await call('GET', '/api/devices?syncState=lost')).status).toBe(400);
      expect((await call('GET', '/api/devices?network=lorawan')).status).toBe(400);
      expect((await call('GET', '/api/devices?cursor=not-a-uuid')).status).toBe(400);
      expect((await call('GET', '/api/devices?externalId=%00')).status).toBe(400);
      expect((await call('GET', '/api/devices?label=%00')).status).toBe(400);
      expect((await call('GET', '/api/devices?limit=1000')).status).toBe(200);
    });

    it('answers 404 for an unknown device and 400 for an id that is not one', async () => {
      expect((await call('GET', '/api/devices/0193a6d2-7c1e-7b2a-9a55-0c9a0f8c2f11')).status).toBe(404);
      expect((await call('GET', '/api/devices/nope')).status).toBe(400);
    });

    it('leaves GET /api/devices/{id}/events to the event history', async () => {
      const { body } = await call('POST', '/api/devices', otaa(conn.helium));
      const events = await call('GET', `/api/devices/${body.id}/events`);
      expect(events).toEqual({ status: 200, body: { data: [], nextCursor: null } });
      const unknown = await call('GET', '/api/devices/0193a6d2-7c1e-7b2a-9a55-0c9a0f8c2f11/events');
      expect(unknown).toMatchObject({ status: 404, body: { message: expect.stringContaining('0193a6d2-7c1e-7b2a-9a55-0c9a0f8c2f11') } });
    });
  });

  describe('PATCH and DELETE /api/devices/{id}', () => {
    it('changes name, labels, attributes and active', async () => {
      const { body } = await call('POST', '/api/devices', otaa(conn.helium, { labels: ['a'], attributes: { x: 1 } }));
      await settled(bridge, body.id);
      const { status, body: patched } = await call('PATCH', `/api/devices/${body.id}`, { name: 'Renamed', labels: ['b', 'c'], attributes: { y: 'z' }, active: false });
      expect(status).toBe(200);
      expect(patched).toMatchObject({ name: 'Renamed', labels: ['b', 'c'], attributes: { y: 'z' }, active: false, sync: { state: 'pending' } });
      expect(await settled(bridge, body.id)).toMatchObject({ name: 'Renamed', active: false, sync: { state: 'synced' } });

      // Only bridge-side fields: nothing to push, the device stays synced.
      const labelsOnly = await call('PATCH', `/api/devices/${body.id}`, { labels: [] });
      expect(labelsOnly.body).toMatchObject({ labels: [], sync: { state: 'synced' } });
    });

    it('sets and removes a Sigfox payloadConfig, and refuses it elsewhere', async () => {
      const { body } = await call('POST', '/api/devices', sigfox());
      const set = await call('PATCH', `/api/devices/${body.id}`, { payloadConfig: 'battery::uint:8' });
      expect(set.body).toMatchObject({ payloadConfig: 'battery::uint:8' });
      const bad = await call('PATCH', `/api/devices/${body.id}`, { payloadConfig: 'battery::nope' });
      expect(bad.status).toBe(400);
      expect(bad.body.message).toMatch(/payloadConfig/);
      const removed = await call('PATCH', `/api/devices/${body.id}`, { payloadConfig: null });
      expect(removed.body).toMatchObject({ payloadConfig: null });

      const helium = (await call('POST', '/api/devices', otaa(conn.helium))).body;
      expect((await call('PATCH', `/api/devices/${helium.id}`, { payloadConfig: 'battery::uint:8' })).status).toBe(400);
      expect((await call('PATCH', `/api/devices/${helium.id}`, { name: '' })).status).toBe(400);
      expect((await call('PATCH', `/api/devices/${helium.id}`, { appKey: randomKey() })).status).toBe(400);
    });

    it('deletes: 204, then 404', async () => {
      const { body } = await call('POST', '/api/devices', otaa(conn.tts));
      await settled(bridge, body.id);
      expect((await call('DELETE', `/api/devices/${body.id}`)).status).toBe(204);
      expect((await call('GET', `/api/devices/${body.id}`)).status).toBe(404);
      expect((await call('DELETE', `/api/devices/${body.id}`)).status).toBe(404);
      await fakes.tts.waitForRequest((r) => r.method === 'DELETE' && r.path === `/api/v3/applications/${TTS_APP}/devices/${body.deviceId}`);
    });
  });

  describe('POST /api/devices/bulk', () => {
    it('answers a result per device: created, refused, duplicate', async () => {
      const first = otaa(conn.tts);
      const devices = [first, otaa(conn.tts, { devEui: 'nope' }), { ...first, name: 'copy' }, sigfox(), 'not an object'];
      const { status, body } = await call('POST', '/api/devices/bulk', { devices });
      expect(status).toBe(200);
      expect(body.results).toEqual([
        { index: 0, status: 201, device: expect.objectContaining({ externalId: first.devEui, sync: expect.objectContaining({ state: 'pending' }) }) },
        { index: 1, status: 400, error: expect.stringMatching(/devEui/) },
        { index: 2, status: 409, error: expect.stringContaining('already exists') },
        { index: 3, status: 201, device: expect.objectContaining({ network: 'sigfox' }) },
        { index: 4, status: 400, error: expect.any(String) },
      ]);
      for (const result of body.results.filter((r: Json) => r.status === 201)) expect((await settled(bridge, result.device.id)).sync.state).toBe('synced');
    });

    it('refuses more than 1000 devices, and none', async () => {
      const tooMany = await call('POST', '/api/devices/bulk', { devices: Array.from({ length: 1001 }, () => ({})) });
      expect(tooMany.status).toBe(400);
      expect(tooMany.body.message).toMatch(/devices: at most 1000/);
      expect((await call('POST', '/api/devices/bulk', { devices: [] })).status).toBe(400);
    });
  });
});

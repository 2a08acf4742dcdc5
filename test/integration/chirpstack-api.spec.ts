/*
 * ChirpStack through its gRPC API (the fake ChirpStack): provisioning with rollback, retries and
 * reconcile; downlinks enqueued and settled by txack/ack/log events; install and uninstall of the
 * application's HTTP integration.
 */
import * as grpc from '@grpc/grpc-js';
import mqtt from 'mqtt';
import { randomBytes } from 'node:crypto';
import { ackEvent, logEvent, txAckEvent, upEvent } from '../fakes/chirpstack-events';
import { CHIRPSTACK_API_TOKEN, FakeChirpstack } from '../fakes/fake-chirpstack';
import { TestBridge } from '../support/bridge';
import { TEST_MQTT_URL } from '../support/env';
import { eventually, MqttCollector } from '../support/mqtt-collector';
import { Json, randomEui, randomKey, settled } from '../support/networks';

describe('ChirpStack gRPC API', () => {
  const chirpstack = new FakeChirpstack();
  const connectionId = `cs-api-${randomBytes(3).toString('hex')}`;
  let bridge: TestBridge;
  let token: string;

  beforeAll(async () => {
    await chirpstack.start();
    bridge = await TestBridge.start({ PUBLIC_URL: 'https://bridge.example.com' });
    token = (
      await bridge.createConnection({
        id: connectionId,
        network: 'chirpstack',
        settings: { apiUrl: chirpstack.apiUrl, apiToken: CHIRPSTACK_API_TOKEN, applicationId: chirpstack.applicationId, deviceProfileId: chirpstack.deviceProfileId },
      })
    ).ingestToken;
  });

  afterAll(async () => {
    await bridge.stop();
    await chirpstack.stop();
  });

  async function createDevice(fields: Json): Promise<Json> {
    const response = await bridge.api('POST', '/api/devices', { connectionId, name: 'Basement Temp', ...fields });
    expect(response.status).toBe(201);
    return response.json() as Promise<Json>;
  }

  const ingest = (event: string, body: unknown) =>
    fetch(`${bridge.url}/ingest/chirpstack/${connectionId}?token=${token}&event=${event}`, {
      method: 'POST',
      headers: { 'content-type': Buffer.isBuffer(body) ? 'application/octet-stream' : 'application/json' },
      body: Buffer.isBuffer(body) ? new Uint8Array(body) : JSON.stringify(body),
    });

  describe('provisioning', () => {
    it('OTAA: Create (attributes as tags) then CreateKeys with the AppKey in nwk_key, bearer token in the metadata', async () => {
      const devEui = randomEui();
      const appKey = randomKey();
      const created = await createDevice({ devEui, joinEui: '70B3D57ED0008E64', appKey, attributes: { room: 'basement', floor: 1 } });
      expect(created.sync.state).toBe('pending');
      const device = await settled(bridge, created.id);
      expect(device.sync).toEqual({ state: 'synced', networkId: devEui.toLowerCase(), error: null, attempts: expect.any(Number) });
      expect(chirpstack.devices.get(devEui.toLowerCase())).toMatchObject({
        name: 'Basement Temp',
        applicationId: chirpstack.applicationId,
        deviceProfileId: chirpstack.deviceProfileId,
        joinEui: '70b3d57ed0008e64',
        isDisabled: false,
        tags: { room: 'basement', floor: '1' },
        keys: { nwkKey: appKey.toLowerCase(), appKey: '0'.repeat(32) },
      });
      expect(chirpstack.callsOf('Create').at(-1)?.authorization).toBe(`Bearer ${CHIRPSTACK_API_TOKEN}`);
      expect(JSON.stringify(device)).not.toContain(appKey);
    });

    it('ABP: Activate with the NwkSKey in all three network session keys', async () => {
      const devEui = randomEui();
      const [nwkSKey, appSKey] = [randomKey(), randomKey()];
      const device = await settled(bridge, (await createDevice({ devEui, devAddr: '26011234', nwkSKey, appSKey })).id);
      expect(device).toMatchObject({ sync: { state: 'synced' }, activation: 'abp', devAddr: '26011234' });
      expect(chirpstack.devices.get(devEui.toLowerCase())?.activation).toEqual({
        devAddr: '26011234',
        appSKey: appSKey.toLowerCase(),
        nwkSEncKey: nwkSKey.toLowerCase(),
        sNwkSIntKey: nwkSKey.toLowerCase(),
        fNwkSIntKey: nwkSKey.toLowerCase(),
      });
    });

    it('rolls back: a CreateKeys that fails deletes the device Create made', async () => {
      const devEui = randomEui();
      chirpstack.failNext('CreateKeys', grpc.status.INTERNAL, 'Invalid string length');
      const device = await settled(bridge, (await createDevice({ devEui, appKey: randomKey() })).id);
      expect(device.sync).toMatchObject({ state: 'failed', error: expect.stringMatching(/CreateKeys: INTERNAL: Invalid string length/), attempts: 1 });
      expect(chirpstack.devices.has(devEui.toLowerCase())).toBe(false);
      expect(chirpstack.callsOf('Delete').some((c) => c.request.devEui === devEui.toLowerCase())).toBe(true);
    });

    it('retries UNAVAILABLE, DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED; not INVALID_ARGUMENT', async () => {
      const devEui = randomEui();
      chirpstack.failNext('Create', grpc.status.UNAVAILABLE, 'connection refused');
      chirpstack.failNext('CreateKeys', grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded');
      chirpstack.failNext('CreateKeys', grpc.status.RESOURCE_EXHAUSTED, 'Received message larger than max');
      const device = await settled(bridge, (await createDevice({ devEui, appKey: randomKey() })).id, 20_000);
      expect(device.sync).toMatchObject({ state: 'synced', attempts: 4 });
      expect(chirpstack.devices.get(devEui.toLowerCase())?.keys).toBeDefined();

      const refused = randomEui();
      chirpstack.failNext('Create', grpc.status.INVALID_ARGUMENT, 'Not allowed (Max number of devices exceeded for tenant)');
      const failed = await settled(bridge, (await createDevice({ devEui: refused, appKey: randomKey() })).id);
      expect(failed.sync).toMatchObject({ state: 'failed', attempts: 1, error: expect.stringMatching(/INVALID_ARGUMENT: Not allowed/) });
    });

    it('a device that already exists in the application (INTERNAL duplicate key) is taken as created; one of another application is not', async () => {
      const devEui = randomEui();
      chirpstack.addDevice(devEui, { name: 'made in the console' });
      const device = await settled(bridge, (await createDevice({ devEui, appKey: randomKey() })).id);
      expect(device.sync.state).toBe('synced');
      expect(chirpstack.devices.get(devEui.toLowerCase())?.keys).toBeDefined();

      const foreign = randomEui();
      chirpstack.addDevice(foreign, { applicationId: '00000000-0000-4000-8000-000000000000' });
      const refused = await settled(bridge, (await createDevice({ devEui: foreign, appKey: randomKey() })).id);
      expect(refused.sync).toMatchObject({ state: 'failed', error: expect.stringMatching(/another ChirpStack application/) });
      expect(chirpstack.devices.get(foreign.toLowerCase())?.applicationId).toBe('00000000-0000-4000-8000-000000000000');
    });

    it('update reads then writes (Update replaces every field): what the bridge does not manage is kept', async () => {
      const devEui = randomEui();
      const created = await settled(bridge, (await createDevice({ devEui, appKey: randomKey(), attributes: { room: 'a' } })).id);
      Object.assign(chirpstack.devices.get(devEui.toLowerCase())!, { description: 'set in the console', variables: { threshold: '5' } });
      const patched = await bridge.api('PATCH', `/api/devices/${created.id}`, { name: 'Renamed', active: false, attributes: { room: 'b' } });
      expect(patched.status).toBe(200);
      await settled(bridge, created.id);
      expect(chirpstack.devices.get(devEui.toLowerCase())).toMatchObject({
        name: 'Renamed',
        isDisabled: true,
        tags: { room: 'b' },
        description: 'set in the console',
        variables: { threshold: '5' },
      });
      // Attributes alone are pushed too: they are the device's tags in ChirpStack.
      await bridge.api('PATCH', `/api/devices/${created.id}`, { attributes: { room: 'c' } });
      await eventually('tags updated', () => chirpstack.devices.get(devEui.toLowerCase())?.tags, (tags) => tags?.room === 'c');
    });

    it('delete removes it; a device already gone (NOT_FOUND, or UNAUTHENTICATED with a tenant key) counts as deleted', async () => {
      const devEui = randomEui();
      const created = await settled(bridge, (await createDevice({ devEui, appKey: randomKey() })).id);
      expect((await bridge.api('DELETE', `/api/devices/${created.id}`)).status).toBe(204);
      await eventually('deleted in ChirpStack', () => chirpstack.devices.has(devEui.toLowerCase()), (has) => !has);

      for (const tenantKey of [false, true]) {
        const gone = randomEui();
        const device = await settled(bridge, (await createDevice({ devEui: gone, appKey: randomKey() })).id);
        chirpstack.devices.delete(gone.toLowerCase());
        chirpstack.tenantKey = tenantKey;
        const deletes = chirpstack.callsOf('Delete').length;
        expect((await bridge.api('DELETE', `/api/devices/${device.id}`)).status).toBe(204);
        await eventually('the delete tried', () => chirpstack.callsOf('Delete').length, (n) => n > deletes);
        // With a tenant key, the bridge makes sure the key itself still works before taking it as gone.
        if (tenantKey) await eventually('the key checked', () => chirpstack.callsOf('ApplicationGet').length, (n) => n > 0);
        expect((await bridge.api('GET', `/api/devices/${device.id}`)).status).toBe(404);
        chirpstack.tenantKey = false;
      }
    });

    it('bulk: one result per device, each provisioned', async () => {
      const devices = Array.from({ length: 5 }, (_, i) => ({ connectionId, name: `bulk ${i}`, devEui: randomEui(), appKey: randomKey() }));
      const response = (await (await bridge.api('POST', '/api/devices/bulk', { devices: [...devices, { connectionId, name: 'bad', devEui: 'xyz', appKey: randomKey() }] })).json()) as Json;
      expect(response.results.map((r: Json) => r.status)).toEqual([201, 201, 201, 201, 201, 400]);
      for (const r of response.results.slice(0, 5)) expect((await settled(bridge, r.device.id)).sync.state).toBe('synced');
      for (const d of devices) expect(chirpstack.devices.has(d.devEui.toLowerCase())).toBe(true);
    });

    it('reconcile lists every page (limit/offset) and imports what is only in ChirpStack', async () => {
      const seeded = Array.from({ length: 260 }, () => randomEui());
      for (const devEui of seeded) chirpstack.addDevice(devEui, { name: `seeded ${devEui}` });
      const lists = chirpstack.callsOf('List').length;
      const drift = (await (await bridge.api('POST', `/api/connections/${connectionId}/reconcile`)).json()) as Json;
      expect(chirpstack.callsOf('List').length - lists).toBeGreaterThanOrEqual(2);
      const onlyInNetwork = drift.onlyInNetwork.map((d: Json) => d.externalId);
      for (const devEui of seeded) expect(onlyInNetwork).toContain(devEui);
      expect(drift.onlyInNetwork.find((d: Json) => d.externalId === seeded[0])).toEqual({ externalId: seeded[0], networkId: seeded[0].toLowerCase(), name: `seeded ${seeded[0]}`, devEui: seeded[0], joinEui: null });
      const applied = (await (await bridge.api('POST', `/api/connections/${connectionId}/reconcile`, { apply: true })).json()) as Json;
      expect(applied.applied.imported).toBe(drift.onlyInNetwork.length);
      const after = (await (await bridge.api('POST', `/api/connections/${connectionId}/reconcile`)).json()) as Json;
      expect(after.onlyInNetwork).toEqual([]);
    });
  });

  describe('downlinks', () => {
    let device: Json;
    const spec = () => ({ devEui: device.externalId, applicationId: chirpstack.applicationId });
    const now = () => ({ date: new Date() });

    beforeAll(async () => {
      device = await settled(bridge, (await createDevice({ devEui: randomEui(), appKey: randomKey(), name: 'Valve' })).id);
    });

    async function downlink(body: Json): Promise<Json> {
      const response = await bridge.api('POST', `/api/devices/${device.id}/downlinks`, body);
      expect(response.status).toBe(202);
      return response.json() as Promise<Json>;
    }
    const stateOf = async (id: string): Promise<Json> =>
      ((await (await bridge.api('GET', `/api/devices/${device.id}/downlinks?limit=100`)).json()) as Json).data.find((d: Json) => d.id === id);
    const queueItemOf = (payloadHex: string) =>
      eventually('enqueued in ChirpStack', () => chirpstack.devices.get(device.externalId.toLowerCase())?.queue.find((q) => q.data === payloadHex), (q) => q !== undefined);

    it('Enqueue, then txack makes it sent (final for an unconfirmed downlink); lifecycle events are published', async () => {
      const collector = await MqttCollector.subscribe(`${bridge.topicPrefix}/chirpstack/${device.externalId}/event/#`);
      const queued = await downlink({ port: 10, payloadHex: '0102', confirmed: false });
      const item = await queueItemOf('0102');
      expect(item).toMatchObject({ fPort: 10, confirmed: false });
      // Enqueued is not sent: ChirpStack holds it until the device's next receive window.
      await eventually('still queued', () => stateOf(queued.id), (d) => d.state === 'queued');
      expect((await ingest('txack', txAckEvent(spec(), now(), item!.id).protobuf())).status).toBe(200);
      await eventually('sent', () => stateOf(queued.id), (d) => d.state === 'sent');
      await collector.waitFor((m) => m.some((x) => x.topic.endsWith('/event/down/sent')));
      const sent = collector.messages.filter((m) => m.topic.endsWith('/event/down/sent'));
      expect(sent).toHaveLength(1);
      expect(sent[0].payload).toMatchObject({ type: 'downlink.sent', ack: { downlinkId: queued.id } });
      await collector.close();
    });

    it('a confirmed downlink: ack acknowledged → acked; not acknowledged → failed', async () => {
      const acked = await downlink({ port: 11, payloadHex: 'a1', confirmed: true });
      const ackedItem = await queueItemOf('a1');
      await ingest('txack', txAckEvent(spec(), now(), ackedItem!.id).json());
      await ingest('ack', ackEvent(spec(), now(), ackedItem!.id, true).json());
      await eventually('acked', () => stateOf(acked.id), (d) => d.state === 'acked');

      const nacked = await downlink({ port: 11, payloadHex: 'a2', confirmed: true });
      const nackedItem = await queueItemOf('a2');
      await ingest('ack', ackEvent(spec(), now(), nackedItem!.id, false).protobuf());
      const failed = await eventually('failed', () => stateOf(nacked.id), (d) => d.state === 'failed');
      expect(failed.error).toMatch(/not acknowledged/);
    });

    it('a log ERROR naming the queue item fails it; ChirpStack refusing the Enqueue fails it at once', async () => {
      const expired = await downlink({ port: 12, payloadHex: 'b1' });
      const item = await queueItemOf('b1');
      await ingest('log', logEvent(spec(), now(), { level: 'ERROR', code: 'EXPIRED', description: 'Queue item has expired', context: { queue_item_id: item!.id } }).json());
      expect((await eventually('failed', () => stateOf(expired.id), (d) => d.state === 'failed')).error).toBe('ERROR EXPIRED: Queue item has expired');

      chirpstack.failNext('Enqueue', grpc.status.INVALID_ARGUMENT, 'Validation error: FPort must be between 1 - 255');
      const refused = await downlink({ port: 13, payloadHex: 'b2' });
      expect((await eventually('failed', () => stateOf(refused.id), (d) => d.state === 'failed')).error).toMatch(/FPort must be between/);

      chirpstack.failNext('Enqueue', grpc.status.UNAVAILABLE, 'proxy restarting');
      const retried = await downlink({ port: 13, payloadHex: 'b3' });
      expect(await queueItemOf('b3')).toBeDefined();
      expect((await stateOf(retried.id)).state).toBe('queued');
    });

    it('a txack that comes before the Enqueue answer still makes the downlink sent', async () => {
      chirpstack.beforeEnqueueAnswer = async (queueItemId) => {
        expect((await ingest('txack', txAckEvent(spec(), now(), queueItemId).json())).status).toBe(200);
      };
      try {
        const early = await downlink({ port: 14, payloadHex: 'e1' });
        const settledDownlink = await eventually('sent', () => stateOf(early.id), (d) => d.state === 'sent');
        expect(settledDownlink.sentAt).not.toBeNull();
      } finally {
        chirpstack.beforeEnqueueAnswer = undefined;
      }
    });

    it('the MQTT command topic enqueues like REST', async () => {
      const publisher = await mqtt.connectAsync(TEST_MQTT_URL);
      await publisher.publishAsync(`${bridge.topicPrefix}/chirpstack/${device.externalId.toLowerCase()}/command/down`, JSON.stringify({ port: 20, payloadHex: 'c0ffee' }), { qos: 1 });
      expect(await queueItemOf('c0ffee')).toMatchObject({ fPort: 20 });
      await publisher.endAsync();
    });

    it('an uplink still arrives as an uplink for the same device', async () => {
      const up = upEvent({ device: spec(), time: now(), fCnt: 5, fPort: 1, data: Buffer.from('01', 'hex'), gateways: [{ gatewayId: '0016c001f153a14c', rssi: -60, snr: 5 }], frequency: 868100000 });
      expect((await ingest('up', up.json())).status).toBe(200);
      const events = (await (await bridge.api('GET', `/api/devices/${device.id}/events?type=uplink`)).json()) as Json;
      expect(events.data).toHaveLength(1);
    });
  });

  describe('install', () => {
    const install = async () => (await bridge.api('POST', `/api/connections/${connectionId}/install`)).json() as Promise<Json>;
    const uninstall = async () => (await bridge.api('DELETE', `/api/connections/${connectionId}/install`)).json() as Promise<Json>;
    const url = `https://bridge.example.com/ingest/chirpstack/${connectionId}`;
    const integration = () => chirpstack.httpIntegrations.get(chirpstack.applicationId);

    it('creates the HTTP integration (JSON, token in ?token=) and removes it on uninstall', async () => {
      const answer = await install();
      expect(answer).toMatchObject({ network: 'chirpstack', installed: [{ kind: 'http-integration', id: chirpstack.applicationId, url, detail: 'created, JSON encoding' }], ingestToken: expect.any(String) });
      expect(integration()).toEqual({ headers: {}, encoding: 0, eventEndpointUrl: `${url}?token=${encodeURIComponent(answer.ingestToken)}` });
      // The URL ChirpStack now posts to (with &event= added) is accepted.
      const up = upEvent({ device: { devEui: randomEui(), applicationId: chirpstack.applicationId }, time: { date: new Date() }, fCnt: 1, fPort: 1, data: Buffer.from('01', 'hex'), gateways: [{ gatewayId: 'aa', rssi: -1, snr: 1 }], frequency: 1 });
      const posted = await fetch(`${integration()!.eventEndpointUrl.replace('https://bridge.example.com', bridge.url)}&event=up`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(up.json()) });
      expect(posted.status).toBe(200);
      token = answer.ingestToken;

      expect(await uninstall()).toEqual({ network: 'chirpstack', removed: [{ kind: 'http-integration', id: chirpstack.applicationId, url, detail: 'removed' }] });
      expect(integration()).toBeUndefined();
      expect((await uninstall()).removed).toEqual([]);
    });

    it('extends an existing integration, replaces its own URL on reinstall, and restores it on uninstall', async () => {
      const own = { headers: { authorization: 'Bearer theirs' }, encoding: 1, eventEndpointUrl: 'https://their.app/chirpstack, https://backup.app/cs' };
      chirpstack.httpIntegrations.set(chirpstack.applicationId, { ...own });
      const first = await install();
      expect(first.installed[0].detail).toBe('extended: 2 other endpoint(s) kept');
      expect(first.note).toMatch(/Protobuf/);
      const second = await install();
      token = second.ingestToken;
      expect(integration()).toEqual({ ...own, eventEndpointUrl: `https://their.app/chirpstack,https://backup.app/cs,${url}?token=${encodeURIComponent(second.ingestToken)}` });
      const removed = await uninstall();
      expect(removed.removed[0].detail).toMatch(/2 other endpoint\(s\) kept/);
      expect(integration()).toEqual({ ...own, eventEndpointUrl: 'https://their.app/chirpstack,https://backup.app/cs' });
      chirpstack.httpIntegrations.delete(chirpstack.applicationId);
    });

    it('a refused call is a 502 naming ChirpStack\'s answer, and the working token stays', async () => {
      chirpstack.failNext('GetHttpIntegration', grpc.status.UNAUTHENTICATED, 'InvalidSignature');
      const response = await bridge.api('POST', `/api/connections/${connectionId}/install`);
      expect(response.status).toBe(502);
      expect(((await response.json()) as Json).message).toMatch(/UNAUTHENTICATED: InvalidSignature/);
      const up = upEvent({ device: { devEui: randomEui(), applicationId: chirpstack.applicationId }, time: { date: new Date() }, fCnt: 1, fPort: 1, data: Buffer.from('01', 'hex'), gateways: [{ gatewayId: 'aa', rssi: -1, snr: 1 }], frequency: 1 });
      expect((await ingest('up', up.json())).status).toBe(200);
    });
  });

  it('keeps the API token and MQTT password secret, and a PATCH without them keeps them', async () => {
    const id = `cs-sec-${randomBytes(3).toString('hex')}`;
    const created = await bridge.api('POST', '/api/connections', {
      id,
      network: 'chirpstack',
      name: id,
      settings: { apiUrl: chirpstack.apiUrl, apiToken: 'secret-token', applicationId: chirpstack.applicationId, mqtt: { url: 'mqtt://127.0.0.1:1', username: 'u', password: 'secret-password' } },
    });
    const body = (await created.json()) as Json;
    expect(body.settings).toMatchObject({ apiToken: '***', mqtt: { url: 'mqtt://127.0.0.1:1', username: 'u', password: '***', eventTopic: 'application/{{application_id}}/device/{{dev_eui}}/event/{{event}}' } });
    const patched = (await (await bridge.api('PATCH', `/api/connections/${id}`, { settings: { mqtt: { url: 'mqtt://127.0.0.1:2', username: 'u' } } })).json()) as Json;
    expect(patched.settings.mqtt).toMatchObject({ url: 'mqtt://127.0.0.1:2', password: '***' });
    expect(JSON.stringify(patched)).not.toMatch(/secret-/);
    const bad = await bridge.api('POST', '/api/connections', { id: `${id}x`, network: 'chirpstack', name: 'x', settings: { apiUrl: 'grpc://x', applicationId: 'nope', mqtt: { url: 'mqtt://x', eventTopic: 'a/{{dev_eui}}' } } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as Json).message).toMatch(/apiUrl.*applicationId.*eventTopic/);
    await bridge.api('DELETE', `/api/connections/${id}`);
  });
});

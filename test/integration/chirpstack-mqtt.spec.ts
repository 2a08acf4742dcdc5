import Redis from 'ioredis';
import mqtt, { MqttClient } from 'mqtt';
import { randomBytes, randomUUID } from 'node:crypto';
import { upEvent } from '../fakes/chirpstack-events';
import { TestBridge } from '../support/bridge';
import { BridgeProcess, freePort } from '../support/bridge-process';
import { TEST_MQTT_URL, TEST_REDIS_URL, testSettings } from '../support/env';
import { eventually } from '../support/mqtt-collector';
import type { Json } from '../support/networks';
import { randomEui } from '../support/networks';

/*
 * The real Mosquitto stands in for ChirpStack's broker; each connection gets a topic prefix of its
 * own, and this file's bridges share a REDIS_PREFIX (their client ids and share group) and a
 * SECRETS_KEY so that other files' bridges never open its connections.
 */
const SETTINGS = { SECRETS_KEY: randomBytes(32).toString('hex'), REDIS_PREFIX: `cs-mqtt-${randomBytes(3).toString('hex')}`, CHIRPSTACK_MQTT_LEASE_MS: '1000' };

describe('ChirpStack MQTT integration', () => {
  const applicationId = randomUUID();
  let chirpstack: MqttClient;
  const bridges: TestBridge[] = [];

  beforeAll(async () => {
    chirpstack = await mqtt.connectAsync(TEST_MQTT_URL, { clientId: `fake-chirpstack-${randomBytes(3).toString('hex')}` });
  });

  afterAll(async () => {
    await chirpstack.endAsync();
    await Promise.all(bridges.map((b) => b.stop().catch(() => undefined)));
  });

  async function startBridge(): Promise<TestBridge> {
    const bridge = await TestBridge.start(SETTINGS);
    bridges.push(bridge);
    return bridge;
  }

  async function stopBridge(bridge: TestBridge): Promise<void> {
    await bridge.stop();
    bridges.splice(bridges.indexOf(bridge), 1);
  }

  /** A connection consuming `<root>/application/{{application_id}}/device/{{dev_eui}}/event/{{event}}`. */
  async function connect(bridge: TestBridge, root: string) {
    const id = `cs-mq-${randomBytes(3).toString('hex')}`;
    const eventTopic = `${root}/application/{{application_id}}/device/{{dev_eui}}/event/{{event}}`;
    const created = await bridge.createConnection({ id, network: 'chirpstack', settings: { apiUrl: 'http://127.0.0.1:1', applicationId, mqtt: { url: TEST_MQTT_URL, eventTopic } } });
    return { id, token: created.ingestToken };
  }

  const status = async (bridge: TestBridge, id: string): Promise<Json> => (await bridge.api('GET', `/api/connections/${id}/status`)).json() as Promise<Json>;
  const subscribed = (bridge: TestBridge, id: string) => eventually('the subscription', () => status(bridge, id), (s) => s.stream?.state === 'subscribed');
  const events = async (bridge: TestBridge, id: string): Promise<Json[]> =>
    (((await (await bridge.api('GET', `/api/events?connectionId=${id}&limit=1000`)).json()) as { data: Json[] }).data);

  function uplink(devEui: string, fCnt: number) {
    return upEvent({
      device: { devEui, applicationId },
      time: { date: new Date() },
      fCnt,
      fPort: 1,
      data: Buffer.from([fCnt & 0xff]),
      gateways: [{ gatewayId: '0016c001f153a14c', rssi: -70, snr: 6.5 }],
      frequency: 868100000,
    });
  }

  /** As ChirpStack publishes with `qos = 1`: the DevEUI lower-case in the topic. */
  const publish = (root: string, devEui: string, event: string, payload: Buffer | string, app = applicationId) =>
    chirpstack.publishAsync(`${root}/application/${app}/device/${devEui.toLowerCase()}/event/${event}`, payload, { qos: 1 });

  it('stores JSON and Protobuf events, skips what it cannot read, and shows the subscription in the status', async () => {
    const bridge = await startBridge();
    const root = `cs-${randomBytes(4).toString('hex')}`;
    const { id, token } = await connect(bridge, root);
    const state = await subscribed(bridge, id);
    expect(state.stream).toEqual({ state: 'subscribed', error: null, position: null });
    const devEui = randomEui();

    await publish(root, devEui, 'up', JSON.stringify(uplink(devEui, 1).json()));
    await publish(root, devEui, 'up', Buffer.from('not an event at all'));
    await publish(root, devEui, 'up', '{"truncated": ');
    await publish(root, devEui, 'status', JSON.stringify(uplink(devEui, 9).json()));
    // Another application's events on the global integration are not this connection's.
    await publish(root, devEui, 'up', JSON.stringify(uplink(devEui, 8).json()), randomUUID());
    await publish(root, devEui, 'up', uplink(devEui, 2).protobuf());
    const stored = await eventually('two uplinks', () => events(bridge, id), (e) => e.length === 2);
    expect(stored.map((e) => [e.type, e.uplink.fcnt, e.device.externalId])).toEqual([
      ['uplink', 2, devEui],
      ['uplink', 1, devEui],
    ]);

    // The same uplink by HTTP and by MQTT is one event.
    const both = uplink(devEui, 3);
    const answer = (await (await bridge.post(`/ingest/chirpstack/${id}?event=up&token=${token}`, both.json())).json()) as Json;
    await publish(root, devEui, 'up', both.protobuf());
    await publish(root, devEui, 'up', JSON.stringify(uplink(devEui, 4).json()));
    const after = await eventually('the uplink after', () => events(bridge, id), (e) => e.some((x) => x.uplink.fcnt === 4));
    expect(after.filter((e) => e.uplink.fcnt === 3).map((e) => e.id)).toEqual([answer.id]);
    const metrics = await (await fetch(`${bridge.url}/metrics`)).text();
    expect(metrics).toContain(`lpwan_chirpstack_mqtt_skipped_total{connection="${id}"} 3`);
    expect(metrics).toContain(`lpwan_chirpstack_mqtt_state{connection="${id}",state="subscribed"} 1`);
    // The status says when the last message came.
    await eventually('the position', () => status(bridge, id), (s) => s.stream.position !== null && Date.parse(s.stream.position) > Date.now() - 60_000);
    await stopBridge(bridge);
  });

  it('a message published while the bridge is stopped arrives after its restart (persistent session, QoS 1)', async () => {
    const first = await startBridge();
    const root = `cs-${randomBytes(4).toString('hex')}`;
    const { id } = await connect(first, root);
    await subscribed(first, id);
    await stopBridge(first);
    expect((await status(await startApiBridge(), id)).stream.state).toBe('stopped');

    const devEui = randomEui();
    await publish(root, devEui, 'up', JSON.stringify(uplink(devEui, 41).json()));
    await publish(root, devEui, 'up', uplink(devEui, 42).protobuf());
    const restarted = await startBridge();
    const stored = await eventually('the uplinks sent while stopped', () => events(restarted, id), (e) => e.length === 2);
    expect(stored.map((e) => e.uplink.fcnt).sort()).toEqual([41, 42]);
    await subscribed(restarted, id);
    await stopBridge(restarted);
  });

  it('two instances share the subscription, each under its own client id: each message is stored once', async () => {
    const [a, b] = [await startBridge(), await startBridge()];
    const root = `cs-${randomBytes(4).toString('hex')}`;
    const { id } = await connect(a, root);
    await subscribed(a, id);
    // Each instance holds its own slot, so the broker sees two client ids of one share group.
    await eventually('both instances holding a slot', () => heldSlots(id), (n) => n === 2);
    const devEui = randomEui();
    for (let fCnt = 1; fCnt <= 20; fCnt++) await publish(root, devEui, 'up', JSON.stringify(uplink(devEui, fCnt).json()));
    const stored = await eventually('20 uplinks', () => events(a, id), (e) => e.length >= 20);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await events(b, id)).map((e) => e.uplink.fcnt).sort((x, y) => x - y)).toEqual([...Array(20).keys()].map((i) => i + 1));
    expect(stored).toHaveLength(20);
    await stopBridge(a);
    await stopBridge(b);
  });

  it('scaled down from two instances to one, nothing is left in the session of the one gone: it is drained', async () => {
    const [a, b] = [await startBridge(), await startBridge()];
    const root = `cs-${randomBytes(4).toString('hex')}`;
    const { id } = await connect(a, root);
    await eventually('both instances holding a slot', () => heldSlots(id), (n) => n === 2);
    await subscribed(a, id);
    await stopBridge(b);
    // The broker goes on handing every other message to the stopped instance's session.
    const devEui = randomEui();
    for (let fCnt = 1; fCnt <= 10; fCnt++) await publish(root, devEui, 'up', JSON.stringify(uplink(devEui, fCnt).json()));
    const stored = await eventually('all 10 uplinks', () => events(a, id), (e) => e.length === 10, 20_000);
    expect(stored.map((e) => e.uplink.fcnt).sort((x, y) => x - y)).toEqual([...Array(10).keys()].map((i) => i + 1));
    await stopBridge(a);
  });

  it('a worker killed with -9 loses nothing: the next one resumes its session, or drains it once the dead one\'s lease ran out', async () => {
    // Its own process (the production build): the in-process bridges of this file would consume too.
    const deployment = testSettings({ ...SETTINGS, SECRETS_KEY: randomBytes(32).toString('hex') });
    const api = await TestBridge.start({ ...deployment, BRIDGE_ROLE: 'api' });
    const worker = BridgeProcess.spawn({ ...deployment, BRIDGE_ROLE: 'worker', PORT: freePort() });
    let restarted: BridgeProcess | undefined;
    try {
      const root = `cs-${randomBytes(4).toString('hex')}`;
      const { id } = await connect(api, root);
      await worker.ready();
      await subscribed(api, id);
      expect(await worker.stop('SIGKILL')).toBeNull();
      const devEui = randomEui();
      for (let fCnt = 1; fCnt <= 6; fCnt++) await publish(root, devEui, 'up', uplink(devEui, fCnt).protobuf());
      restarted = BridgeProcess.spawn({ ...deployment, BRIDGE_ROLE: 'worker', PORT: freePort() });
      const stored = await eventually('the 6 uplinks sent while no worker ran', () => events(api, id), (e) => e.length === 6, 20_000);
      expect(stored.map((e) => e.uplink.fcnt).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6]);
    } finally {
      await worker.stop('SIGKILL');
      await restarted?.stop('SIGKILL');
      await api.stop();
    }
  }, 60_000);

  /** A bridge in the api role: it reads the status but consumes nothing. */
  async function startApiBridge(): Promise<TestBridge> {
    const bridge = await TestBridge.start({ ...SETTINGS, BRIDGE_ROLE: 'api' });
    bridges.push(bridge);
    return bridge;
  }

  /** How many instances hold a slot (a client id) of the connection. */
  async function heldSlots(connectionId: string): Promise<number> {
    const redis = new Redis(TEST_REDIS_URL);
    const keys = await redis.keys(`${SETTINGS.REDIS_PREFIX}:chirpstack-mqtt:${connectionId}:slot:*`);
    await redis.quit();
    return keys.length;
  }
});

import { randomBytes, randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import heliumUplink from '../fixtures/helium-uplink.json';
import { TestBridge } from '../support/bridge';
import { BridgeProcess, freePort } from '../support/bridge-process';
import { TEST_API_KEY, testSettings } from '../support/env';
import { LiveReader } from '../support/live-reader';
import { eventually } from '../support/mqtt-collector';
import { LiveEventBus } from '../../src/live/live-event-bus.service';
import { liveEventOf } from '../../src/live/live-message';
import type { NormalizedEvent } from '../../src/events/normalized-event';

const auth = { authorization: `Bearer ${TEST_API_KEY}` };
const HEARTBEAT_MS = 300;
const CLIENT_BUFFER_BYTES = 1024 * 1024;

describe('GET /api/events/live', () => {
  let bridge: TestBridge;
  const run = randomBytes(3).toString('hex');
  const connectionId = `helium-live-${run}`;
  const otherConnectionId = `helium-live2-${run}`;
  const tokens: Record<string, string> = {};
  const readers: LiveReader[] = [];
  let fcnt = 1;

  beforeAll(async () => {
    bridge = await TestBridge.start({ LIVE_HEARTBEAT_MS: String(HEARTBEAT_MS), LIVE_CLIENT_BUFFER_BYTES: String(CLIENT_BUFFER_BYTES) });
    for (const id of [connectionId, otherConnectionId]) tokens[id] = (await bridge.createConnection({ id, network: 'helium' })).ingestToken;
  });

  afterAll(async () => {
    for (const reader of readers) reader.close();
    await bridge.stop();
  });

  const open = async (query = '', on = bridge.url) => {
    const reader = await LiveReader.open(`${on}/api/events/live${query}`, auth);
    readers.push(reader);
    return reader;
  };

  /** A new uplink (its own Helium id and fcnt) on a connection; resolves with its fcnt. */
  const ingestUplink = async (id = connectionId, on = bridge.url, token = tokens[id]) => {
    const count = fcnt++;
    const response = await fetch(`${on}/ingest/helium/${id}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-bridge-token': token },
      body: JSON.stringify({ ...heliumUplink, id: randomUUID(), fcnt: count, reported_at: Date.now() }),
    });
    expect(response.status).toBe(200);
    return count;
  };

  it('streams a published uplink as a Server-Sent Event, without raw', async () => {
    const reader = await open();
    expect(reader.status).toBe(200);
    expect(reader.header('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(reader.header('cache-control')).toBe('no-cache, no-transform');
    expect(reader.header('x-accel-buffering')).toBe('no');

    const count = await ingestUplink();
    await reader.waitFor('the uplink', (r) => r.events.some((e) => (e.uplink as { fcnt: number } | null)?.fcnt === count));
    const frame = reader.frames.find((f) => f.event === 'event' && (JSON.parse(f.data!) as NormalizedEvent).uplink?.fcnt === count)!;
    const event = JSON.parse(frame.data!) as NormalizedEvent;
    expect(frame.text).toBe(`id: ${event.id}\nevent: event\ndata: ${frame.data}\n\n`);
    expect(event).toMatchObject({ type: 'uplink', network: 'helium', connectionId, device: { externalId: '008000000401261D' }, uplink: { port: 1, payloadHex: '0a1b2c' } });
    expect(event).not.toHaveProperty('raw');

    // The same document as history holds (less raw).
    const stored = (await (await bridge.api('GET', `/api/events?connectionId=${connectionId}&limit=1`)).json()) as { data: NormalizedEvent[] };
    const { raw: _raw, ...storedWithoutRaw } = stored.data[0];
    expect(event).toEqual(storedWithoutRaw);
  });

  it('serializes a published event once, for MQTT and the live streams both', async () => {
    const reader = await open(`?connectionId=${connectionId}`);
    const stringify = jest.spyOn(JSON, 'stringify');
    try {
      const count = await ingestUplink();
      await reader.waitFor('the uplink', (r) => r.events.some((e) => (e.uplink as { fcnt: number } | null)?.fcnt === count));
      // Calls on the whole event (as stored or as read back), whatever part of the bridge made them.
      const ofTheEvent = stringify.mock.calls.filter(([value]) => {
        const event = value as Partial<NormalizedEvent> | null;
        return typeof event === 'object' && event !== null && event.connectionId === connectionId && event.device !== undefined && event.uplink?.fcnt === count;
      });
      expect(ofTheEvent).toHaveLength(1);
    } finally {
      stringify.mockRestore();
    }
  });

  it('sends only the events matching its filters', async () => {
    const everything = await open();
    const deviceId = (everything.events[0]?.device as { id: string } | undefined)?.id;
    const byConnection = await open(`?connectionId=${otherConnectionId}`);
    const byNetworkAndType = await open(`?network=helium&type=uplink&connectionId=${otherConnectionId}`);
    const byOtherNetwork = await open('?network=sigfox');
    const byType = await open(`?type=join&connectionId=${connectionId}`);

    // An uplink on the first connection: seen by the unfiltered stream, by no filtered one.
    const first = await ingestUplink(connectionId);
    await everything.waitFor('the first uplink', (r) => r.events.some((e) => (e.uplink as { fcnt: number }).fcnt === first));
    // Then one on the other connection: the first event the connection filters let through.
    const second = await ingestUplink(otherConnectionId);
    await byConnection.waitFor('the second uplink', (r) => r.events.length > 0);
    await byNetworkAndType.waitFor('the second uplink', (r) => r.events.length > 0);
    for (const reader of [byConnection, byNetworkAndType]) {
      expect(reader.events.map((e) => (e.uplink as { fcnt: number }).fcnt)).toEqual([second]);
    }
    await everything.waitFor('the second uplink', (r) => r.events.some((e) => (e.uplink as { fcnt: number }).fcnt === second));
    expect(byOtherNetwork.events).toEqual([]);
    expect(byType.events).toEqual([]);

    // A device filter: the device's uplink, after one of another device was seen by all.
    const device = everything.events.find((e) => (e.uplink as { fcnt: number }).fcnt === first)!.device as { id: string };
    expect(deviceId === undefined || deviceId === device.id).toBe(true);
    const byDevice = await open(`?deviceId=${device.id}`);
    const byOtherDevice = await open(`?deviceId=${randomUUID()}`);
    const third = await ingestUplink(connectionId);
    await byDevice.waitFor('the device uplink', (r) => r.events.some((e) => (e.uplink as { fcnt: number }).fcnt === third));
    expect(byOtherDevice.events).toEqual([]);
  });

  it('sends heartbeats to keep proxies from closing an idle stream', async () => {
    const reader = await open('?network=sigfox');
    await reader.waitFor('two heartbeats', (r) => r.frames.filter((f) => f.text === ': heartbeat\n\n').length >= 2);
    expect(reader.events).toEqual([]);
  });

  it('refuses a missing or wrong API key, and bad filters with 400 naming them', async () => {
    const missing = await fetch(`${bridge.url}/api/events/live`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('content-type')).toMatch(/json/);
    const wrong = await fetch(`${bridge.url}/api/events/live`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);

    for (const [query, named] of [
      ['?network=lorawan', 'network'],
      ['?type=uplinks', 'type'],
      ['?deviceId=42', 'deviceId'],
    ]) {
      const response = await fetch(`${bridge.url}/api/events/live${query}`, { headers: auth });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { message: string }).message).toMatch(new RegExp(`^${named}:`));
    }
  });

  it('drops a stalled client once it is LIVE_CLIENT_BUFFER_BYTES behind, and keeps serving the others', async () => {
    const lane = `slow-${run}`;
    const reading = await open(`?connectionId=${lane}`);
    // A client that sends its request and then never reads.
    const stalled = connect(Number(new URL(bridge.url).port), '127.0.0.1');
    let stalledClosed = false;
    stalled.on('close', () => (stalledClosed = true));
    stalled.on('error', () => undefined);
    stalled.write(`GET /api/events/live?connectionId=${lane} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TEST_API_KEY}\r\n\r\n`);
    await new Promise((resolve) => stalled.once('data', resolve));
    stalled.pause();
    await eventually('the stalled stream to open', () => metric('lpwan_live_clients'), (open) => open >= 2);
    const droppedBefore = await metric('lpwan_live_clients_dropped_total');

    // ~32 MB of events, 320 kB a batch: far more than the socket buffers hold. The reading client
    // takes each batch before the next is published; the stalled one falls behind.
    const stored = (await (await bridge.api('GET', `/api/events?connectionId=${connectionId}&limit=1`)).json()) as { data: NormalizedEvent[] };
    const template = stored.data[0];
    const bus = bridge.app.get(LiveEventBus);
    const filler = 'x'.repeat(32 * 1024);
    const total = 1000;
    for (let batch = 0; batch < total / 10; batch++) {
      bus.publish(
        Array.from({ length: 10 }, (_, i) => {
          const event = { ...template, id: randomUUID(), type: 'uplink', connectionId: lane, uplink: { fcnt: batch * 10 + i, decoded: filler } } as unknown as NormalizedEvent;
          return liveEventOf(event, JSON.stringify(event));
        }),
      );
      await reading.waitFor(`batch ${batch}`, (r) => r.frames.filter((f) => f.event === 'event').length === (batch + 1) * 10);
    }
    expect(reading.events.map((e) => (e.uplink as { fcnt: number }).fcnt)).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(await metric('lpwan_live_clients_dropped_total')).toBe(droppedBefore + 1);

    stalled.resume();
    await eventually('the stalled connection to be closed', () => stalledClosed, (closed) => closed);
    expect(reading.ended).toBe(false);
  }, 60_000);

  async function metric(name: string): Promise<number> {
    const text = await (await fetch(`${bridge.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return Number(line?.split(' ')[1] ?? NaN);
  }

  it('streams, from an api process, the events a worker process publishes', async () => {
    const shared = testSettings();
    const api = BridgeProcess.spawn({ ...shared, BRIDGE_ROLE: 'api', PORT: freePort() });
    const worker = BridgeProcess.spawn({ ...shared, BRIDGE_ROLE: 'worker', PORT: freePort() });
    try {
      await Promise.all([api.ready(), worker.ready()]);
      const id = `helium-split-${run}`;
      const created = await (
        await fetch(`${api.url}/api/connections`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ id, network: 'helium', name: id, settings: {} }) })
      ).json();
      const reader = await open(`?connectionId=${id}`, api.url);
      const count = await ingestUplink(id, api.url, created.ingestToken as string);
      await reader.waitFor('the uplink via the worker', (r) => r.events.some((e) => (e.uplink as { fcnt: number }).fcnt === count), 20_000);
      expect(reader.events[0]).toMatchObject({ connectionId: id, type: 'uplink' });
      // The worker process serves no stream of its own.
      expect((await fetch(`${worker.url}/api/events/live`, { headers: auth })).status).toBe(404);
      reader.close();
    } finally {
      await Promise.all([api.stop(), worker.stop()]);
    }
  }, 60_000);
});

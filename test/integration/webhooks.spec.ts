import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { Client } from 'pg';
import { PrismaService } from '../../src/database/prisma.service';
import { WebhookQueue } from '../../src/fanout/webhooks/webhook-queue.service';
import heliumUplink from '../fixtures/helium-uplink.json';
import { TestBridge } from '../support/bridge';
import { MqttCollector, sleep } from '../support/mqtt-collector';

interface ReceivedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** A webhook consumer on 127.0.0.1 that records every request and answers as it is told. */
class Receiver {
  readonly requests: ReceivedRequest[] = [];
  /** Statuses for the next requests, in order; after them, `status`. */
  failures: number[] = [];
  status = 200;
  failureBody = 'receiver says no';
  delayMs = 0;
  answered = 0;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<Receiver> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const receiver = new Receiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', async () => {
        receiver.requests.push({ path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
        if (receiver.delayMs) await sleep(receiver.delayMs);
        const status = receiver.failures.shift() ?? receiver.status;
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : receiver.failureBody);
        receiver.answered++;
      });
    });
    return receiver;
  }

  forEvent(eventId: string, path?: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.headers['webhook-id'] === eventId && (path === undefined || r.path === path));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface WebhookBody {
  id: string;
  url: string;
  events: string[];
  networks: string[];
  connectionIds: string[];
  includeRaw: boolean;
  active: boolean;
  secret?: string;
}

interface DeliveryBody {
  id: string;
  webhookId: string;
  eventId: string;
  status: string;
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
}

/** Polls until `check` gives a truthy value, and returns it. */
async function waitUntil<T>(check: () => T | Promise<T>, what: string, timeoutMs = 10_000): Promise<Exclude<T, false | null | undefined>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as Exclude<T, false | null | undefined>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** Standard Webhooks verification as a consumer writes it, without the bridge's code. */
function expectValidSignature(secret: string, request: ReceivedRequest): void {
  const id = request.headers['webhook-id'] as string;
  const timestamp = request.headers['webhook-timestamp'] as string;
  const key = Buffer.from(secret.split('_')[1], 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${request.body}`).digest('base64');
  // Standard Webhooks: space-separated signatures, valid if any one matches.
  expect((request.headers['webhook-signature'] as string).split(' ')).toContain(`v1,${expected}`);
}

const RETRY_BASE_MS = 200;

describe('Signed webhooks', () => {
  let bridge: TestBridge;
  let mqtt: MqttCollector;
  let receiver: Receiver;
  const run = randomBytes(3).toString('hex');
  const connectionId = `helium-wh-${run}`;
  const otherConnectionId = `helium-wh2-${run}`;
  const tokens: Record<string, string> = {};
  /** Removed at the end, so no later test's events are delivered to them. */
  const created: string[] = [];
  let fcnt = 1000;

  beforeAll(async () => {
    bridge = await TestBridge.start({
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_RETRY_BASE_MS: String(RETRY_BASE_MS),
      WEBHOOK_RETRY_WINDOW_MS: '2500',
    });
    mqtt = await MqttCollector.subscribe(`${bridge.topicPrefix}/#`);
    receiver = await Receiver.start();
    for (const id of [connectionId, otherConnectionId]) tokens[id] = (await bridge.createConnection({ id, network: 'helium' })).ingestToken;
  });

  afterAll(async () => {
    for (const id of created) await bridge.api('DELETE', `/api/webhooks/${id}`);
    await mqtt.close();
    await bridge.stop();
    await receiver.close();
  });

  async function createWebhook(body: Record<string, unknown>, on = bridge): Promise<WebhookBody & { secret: string }> {
    const response = await on.api('POST', '/api/webhooks', body);
    if (response.status !== 201) throw new Error(`create webhook: ${response.status} ${await response.text()}`);
    const webhook = (await response.json()) as WebhookBody & { secret: string };
    created.push(webhook.id);
    return webhook;
  }

  /** Ingests a fresh Helium uplink (new fcnt, so a new event) and returns its event id. */
  async function ingestUplink(connection = connectionId, on = bridge, extra: Record<string, unknown> = {}): Promise<{ id: string; fcnt: number }> {
    const uplink = { ...heliumUplink, fcnt: ++fcnt, ...extra };
    const response = await on.post(`/ingest/helium/${connection}`, uplink, { 'x-bridge-token': tokens[connection] });
    expect(response.status).toBe(200);
    return { id: ((await response.json()) as { id: string }).id, fcnt: uplink.fcnt };
  }

  async function deliveries(webhookId: string, query = '', on = bridge): Promise<DeliveryBody[]> {
    const response = await on.api('GET', `/api/webhooks/${webhookId}/deliveries${query}`);
    expect(response.status).toBe(200);
    return ((await response.json()) as { data: DeliveryBody[] }).data;
  }

  async function deliveryOf(webhookId: string, eventId: string): Promise<DeliveryBody | undefined> {
    return (await deliveries(webhookId, '?limit=1000')).find((d) => d.eventId === eventId);
  }

  it('requires the API key', async () => {
    const get = await fetch(`${bridge.url}/api/webhooks`);
    expect(get.status).toBe(401);
    const post = await fetch(`${bridge.url}/api/webhooks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: receiver.url, events: ['uplink'] }),
    });
    expect(post.status).toBe(401);
    expect(await post.json()).toMatchObject({ statusCode: 401, error: 'Unauthorized' });
  });

  describe('refuses bad input with a 400 naming the field', () => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['an ftp URL', { url: 'ftp://example.com/hook', events: ['uplink'] }, /url/],
      ['a file URL', { url: 'file:///etc/passwd', events: ['uplink'] }, /url/],
      ['a javascript URL', { url: 'javascript:alert(1)', events: ['uplink'] }, /url/],
      ['no URL', { events: ['uplink'] }, /url/],
      ['an unknown event type', { url: 'https://example.com/hook', events: ['uplink', 'nope'] }, /events/],
      ['no event type', { url: 'https://example.com/hook', events: [] }, /events/],
      ['an unknown network', { url: 'https://example.com/hook', events: ['uplink'], networks: ['lorawan'] }, /networks/],
      ['a malformed connection id', { url: 'https://example.com/hook', events: ['uplink'], connectionIds: ['Not An Id'] }, /connectionIds/],
      ['includeRaw that is not a boolean', { url: 'https://example.com/hook', events: ['uplink'], includeRaw: 'yes' }, /includeRaw/],
      ['a secret of its own', { url: 'https://example.com/hook', events: ['uplink'], secret: 'whsec_mine' }, /secret/],
    ];
    it.each(cases)('%s', async (_name, body, message) => {
      const response = await bridge.api('POST', '/api/webhooks', body);
      expect(response.status).toBe(400);
      const error = (await response.json()) as { statusCode: number; error: string; message: string };
      expect(error).toMatchObject({ statusCode: 400, error: 'Bad Request' });
      expect(error.message).toMatch(message);
    });
  });

  it('creates, lists, reads, updates and deletes webhooks; the secret is shown only on create and rotation', async () => {
    const webhook = await createWebhook({ url: `${receiver.url}/crud`, events: ['uplink', 'join', 'uplink'], connectionIds: ['no-such-conn'] });
    expect(webhook).toMatchObject({
      url: `${receiver.url}/crud`,
      events: ['uplink', 'join'],
      networks: [],
      connectionIds: ['no-such-conn'],
      includeRaw: false,
      active: true,
    });
    expect(webhook.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(Buffer.from(webhook.secret.slice(6), 'base64')).toHaveLength(24);

    const read = (await (await bridge.api('GET', `/api/webhooks/${webhook.id}`)).json()) as WebhookBody;
    const { secret: _secret, ...withoutSecret } = webhook;
    expect(read).toEqual(withoutSecret);
    expect(read).not.toHaveProperty('secret');

    const second = await createWebhook({ url: `${receiver.url}/crud2`, events: ['*'], connectionIds: ['no-such-conn'] });
    const pages: WebhookBody[] = [];
    let cursor: string | null = null;
    do {
      const page = (await (await bridge.api('GET', `/api/webhooks?limit=1${cursor ? `&cursor=${cursor}` : ''}`)).json()) as {
        data: WebhookBody[];
        nextCursor: string | null;
      };
      pages.push(...page.data);
      cursor = page.nextCursor;
    } while (cursor);
    expect(pages.map((w) => w.id)).toEqual(expect.arrayContaining([webhook.id, second.id]));
    expect(pages.every((w) => !('secret' in w))).toBe(true);

    const patched = await bridge.api('PATCH', `/api/webhooks/${webhook.id}`, { events: ['status'], networks: ['sigfox'], includeRaw: true, active: false });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ events: ['status'], networks: ['sigfox'], includeRaw: true, active: false });
    expect((await bridge.api('PATCH', `/api/webhooks/${webhook.id}`, { url: 'gopher://example.com' })).status).toBe(400);
    expect((await bridge.api('PATCH', `/api/webhooks/${webhook.id}`, { secret: 'x' })).status).toBe(400);

    const rotated = await bridge.api('POST', `/api/webhooks/${webhook.id}/rotate-secret`);
    expect(rotated.status).toBe(200);
    const { secret: newSecret } = (await rotated.json()) as { secret: string };
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(webhook.secret);

    expect((await bridge.api('DELETE', `/api/webhooks/${webhook.id}`)).status).toBe(204);
    const gone = await bridge.api('GET', `/api/webhooks/${webhook.id}`);
    expect(gone.status).toBe(404);
    expect(await gone.json()).toMatchObject({ statusCode: 404, message: expect.stringContaining(webhook.id) });
    expect((await bridge.api('GET', '/api/webhooks/not-a-uuid')).status).toBe(400);
  });

  it('delivers an ingested uplink as the normalized event, signed as Standard Webhooks do', async () => {
    const webhook = await createWebhook({ url: `${receiver.url}/signed`, events: ['uplink'], connectionIds: [connectionId] });
    const event = await ingestUplink();

    const [request] = await waitUntil(() => receiver.forEvent(event.id, '/signed').length > 0 && receiver.forEvent(event.id, '/signed'), 'the delivery');
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['webhook-id']).toBe(event.id);
    expect(Math.abs(Number(request.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
    expect(request.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+={0,2}$/);
    expectValidSignature(webhook.secret, request);

    // The same document as MQTT and the history, without `raw`.
    const topic = `${bridge.topicPrefix}/helium/008000000401261D/event/up`;
    await mqtt.waitFor(() => mqtt.on(topic).some((m) => m.payload.id === event.id));
    const body = JSON.parse(request.body) as Record<string, unknown>;
    expect(body).toEqual(mqtt.on(topic).find((m) => m.payload.id === event.id)!.payload);
    expect(body).not.toHaveProperty('raw');
    expect(body).toMatchObject({ id: event.id, type: 'uplink', network: 'helium', connectionId, uplink: { fcnt: event.fcnt } });

    // A signature made with another secret does not verify.
    const forged = createHmac('sha256', randomBytes(24)).update(`${event.id}.${request.headers['webhook-timestamp']}.${request.body}`).digest('base64');
    expect(request.headers['webhook-signature']).not.toBe(`v1,${forged}`);

    const delivery = await waitUntil(async () => (await deliveryOf(webhook.id, event.id))?.status === 'succeeded' && deliveryOf(webhook.id, event.id), 'success');
    expect(delivery).toMatchObject({ webhookId: webhook.id, status: 'succeeded', attempts: 1, lastStatusCode: 200, lastError: null, nextAttemptAt: null });
    expect(delivery.deliveredAt).toEqual(expect.any(String));
    expect(receiver.forEvent(event.id)).toHaveLength(1);
  });

  it('signs with the old secret too for the overlap a rotation asks (a day by default), so receivers can switch', async () => {
    const webhook = await createWebhook({ url: `${receiver.url}/rotating`, events: ['uplink'], connectionIds: [connectionId] });
    const rotate = async (body?: unknown) => {
      const response = await bridge.api('POST', `/api/webhooks/${webhook.id}/rotate-secret`, body);
      expect(response.status).toBe(200);
      return (await response.json()) as { secret: string; previousSecretSignsUntil: string | null };
    };
    const deliveryOf = async () => {
      const event = await ingestUplink();
      return (await waitUntil(() => receiver.forEvent(event.id, '/rotating')[0], 'the delivery')) as ReceivedRequest;
    };

    const first = await rotate();
    expect(Date.parse(first.previousSecretSignsUntil!) - Date.now()).toBeGreaterThan(86_400_000 - 60_000);
    const during = await deliveryOf();
    expect((during.headers['webhook-signature'] as string).split(' ')).toHaveLength(2);
    expectValidSignature(webhook.secret, during);
    expectValidSignature(first.secret, during);

    const second = await rotate({ overlapSeconds: 0 });
    expect(second.previousSecretSignsUntil).toBeNull();
    const after = await deliveryOf();
    expect(after.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+={0,2}$/);
    expectValidSignature(second.secret, after);

    const refused = await bridge.api('POST', `/api/webhooks/${webhook.id}/rotate-secret`, { overlapSeconds: -1 });
    expect(refused.status).toBe(400);
    expect((await refused.json()).message).toMatch(/overlapSeconds/);
    await bridge.api('DELETE', `/api/webhooks/${webhook.id}`);
  });

  it('includes raw only for a webhook with includeRaw', async () => {
    await createWebhook({ url: `${receiver.url}/raw`, events: ['uplink'], connectionIds: [connectionId], includeRaw: true });
    await createWebhook({ url: `${receiver.url}/no-raw`, events: ['uplink'], connectionIds: [connectionId] });
    const event = await ingestUplink();
    const [withRaw] = await waitUntil(() => receiver.forEvent(event.id, '/raw').length > 0 && receiver.forEvent(event.id, '/raw'), 'the raw delivery');
    const [withoutRaw] = await waitUntil(() => receiver.forEvent(event.id, '/no-raw').length > 0 && receiver.forEvent(event.id, '/no-raw'), 'the other delivery');
    expect(JSON.parse(withRaw.body).raw).toEqual({ ...heliumUplink, fcnt: event.fcnt });
    expect(JSON.parse(withoutRaw.body)).not.toHaveProperty('raw');
    const { raw: _raw, ...rest } = JSON.parse(withRaw.body) as Record<string, unknown>;
    expect(rest).toEqual(JSON.parse(withoutRaw.body));
  });

  it('delivers only to webhooks whose event type, network and connection filters match', async () => {
    const hook = (path: string, filters: Record<string, unknown>) => createWebhook({ url: `${receiver.url}/${path}`, events: ['uplink'], ...filters });
    const match = await hook('match', { networks: ['helium'], connectionIds: [connectionId] });
    const star = await hook('star', { events: ['*'], connectionIds: [connectionId] });
    const otherType = await hook('other-type', { events: ['join', 'status'], connectionIds: [connectionId] });
    const otherNetwork = await hook('other-network', { networks: ['sigfox', 'tts'], connectionIds: [connectionId] });
    const otherConnection = await hook('other-connection', { connectionIds: [otherConnectionId] });
    const inactive = await hook('inactive', { connectionIds: [connectionId] });
    expect((await bridge.api('PATCH', `/api/webhooks/${inactive.id}`, { active: false })).status).toBe(200);

    const event = await ingestUplink();
    await waitUntil(() => receiver.forEvent(event.id, '/match').length === 1 && receiver.forEvent(event.id, '/star').length === 1, 'the matching deliveries');
    // All of an event's deliveries are created together, so the missing ones were never made.
    for (const webhook of [otherType, otherNetwork, otherConnection, inactive]) {
      expect(await deliveryOf(webhook.id, event.id)).toBeUndefined();
    }
    const paths = ['/match', '/star', '/other-type', '/other-network', '/other-connection', '/inactive'];
    expect(receiver.forEvent(event.id).filter((r) => paths.includes(r.path)).map((r) => r.path).sort()).toEqual(['/match', '/star']);

    const onOther = await ingestUplink(otherConnectionId);
    await waitUntil(() => receiver.forEvent(onOther.id, '/other-connection').length === 1, 'the other connection delivery');
    expect(await deliveryOf(match.id, onOther.id)).toBeUndefined();
    expect(await deliveryOf(star.id, onOther.id)).toBeUndefined();
  });

  it('retries a failing receiver with growing delays and logs the attempts', async () => {
    const flaky = await Receiver.start();
    try {
      flaky.failures = [503, 503, 503];
      // Kept in the delivery log, where Postgres takes no NUL.
      flaky.failureBody = 'busy\u0000now';
      const webhook = await createWebhook({ url: flaky.url, events: ['uplink'], connectionIds: [connectionId] });
      const event = await ingestUplink();

      // While it fails, the log says so and when the next attempt is.
      const failing = await waitUntil(async () => {
        const delivery = await deliveryOf(webhook.id, event.id);
        return delivery && delivery.attempts >= 1 && delivery.status === 'pending' && delivery;
      }, 'a failed attempt');
      expect(failing).toMatchObject({ lastStatusCode: 503, lastError: 'HTTP 503: busy\ufffdnow', nextAttemptAt: expect.any(String) });

      const delivery = await waitUntil(async () => {
        const current = await deliveryOf(webhook.id, event.id);
        return current?.status === 'succeeded' && current;
      }, 'success after retries');
      expect(delivery).toMatchObject({ attempts: 4, lastStatusCode: 200, lastError: null });
      expect(await deliveries(webhook.id, '?status=succeeded')).toEqual([delivery]);
      expect(await deliveries(webhook.id, '?status=failed')).toEqual([]);

      const attempts = flaky.forEvent(event.id);
      expect(attempts).toHaveLength(4);
      expect(new Set(attempts.map((a) => a.body)).size).toBe(1);
      for (const attempt of attempts) expectValidSignature(webhook.secret, attempt);
      // Exponential: each wait is at least the jittered lower bound of base·2^(n-1).
      attempts.slice(1).forEach((attempt, i) => expect(attempt.at - attempts[i].at).toBeGreaterThanOrEqual(RETRY_BASE_MS * 2 ** i * 0.8 - 50));
    } finally {
      await flaky.close();
    }
  });

  it('keeps a delivery failed after the retry window, and the retry endpoint replays it', async () => {
    const down = await Receiver.start();
    try {
      down.status = 500;
      const webhook = await createWebhook({ url: down.url, events: ['uplink'], connectionIds: [connectionId] });
      const event = await ingestUplink();

      const failed = await waitUntil(async () => {
        const delivery = await deliveryOf(webhook.id, event.id);
        return delivery?.status === 'failed' && delivery;
      }, 'the delivery to fail', 15_000);
      expect(failed.attempts).toBeGreaterThanOrEqual(4);
      expect(failed).toMatchObject({ lastStatusCode: 500, lastError: 'HTTP 500: receiver says no', nextAttemptAt: null, deliveredAt: null });
      expect(await deliveries(webhook.id, '?status=failed')).toEqual([failed]);
      await sleep(RETRY_BASE_MS * 3);
      expect(down.forEvent(event.id)).toHaveLength(failed.attempts);

      down.status = 204;
      const retry = await bridge.api('POST', `/api/webhooks/${webhook.id}/deliveries/${failed.id}/retry`);
      expect(retry.status).toBe(202);
      expect(await retry.json()).toMatchObject({ id: failed.id, status: 'pending', attempts: failed.attempts });
      const replayed = await waitUntil(async () => {
        const delivery = await deliveryOf(webhook.id, event.id);
        return delivery?.status === 'succeeded' && delivery;
      }, 'the replay');
      expect(replayed).toMatchObject({ attempts: failed.attempts + 1, lastStatusCode: 204, lastError: null });
      expect(down.forEvent(event.id)).toHaveLength(failed.attempts + 1);
      expectValidSignature(webhook.secret, down.forEvent(event.id).at(-1)!);

      const again = await bridge.api('POST', `/api/webhooks/${webhook.id}/deliveries/${failed.id}/retry`);
      expect(again.status).toBe(409);
      expect(((await again.json()) as { message: string }).message).toMatch(/succeeded/);
      const unknown = await bridge.api('POST', `/api/webhooks/${webhook.id}/deliveries/${event.id}/retry`);
      expect(unknown.status).toBe(404);
    } finally {
      await down.close();
    }
  });

  it('lets neither a slow receiver hold up MQTT nor another webhook', async () => {
    const slow = await Receiver.start();
    try {
      slow.delayMs = 5000;
      const slowHook = await createWebhook({ url: slow.url, events: ['uplink'], connectionIds: [connectionId] });
      await createWebhook({ url: `${receiver.url}/fast`, events: ['uplink'], connectionIds: [connectionId] });
      const topic = `${bridge.topicPrefix}/helium/008000000401261D/event/up`;

      const first = await ingestUplink();
      await waitUntil(() => slow.forEvent(first.id).length === 1, 'the slow receiver to be called');
      const second = await ingestUplink();
      await waitUntil(() => receiver.forEvent(first.id, '/fast').length === 1 && receiver.forEvent(second.id, '/fast').length === 1, 'the fast deliveries');
      await mqtt.waitFor(() => [first.id, second.id].every((id) => mqtt.on(topic).some((m) => m.payload.id === id)));
      // All of that happened while the slow receiver was still holding its first request.
      expect(slow.answered).toBe(0);

      await waitUntil(async () => (await deliveries(slowHook.id)).filter((d) => d.status === 'succeeded').length === 2, 'the slow deliveries', 15_000);

      // The delivery log pages newest first.
      type Page = { data: DeliveryBody[]; nextCursor: string | null };
      const page1 = (await (await bridge.api('GET', `/api/webhooks/${slowHook.id}/deliveries?limit=1`)).json()) as Page;
      expect(page1.data.map((d) => d.eventId)).toEqual([second.id]);
      const page2 = (await (await bridge.api('GET', `/api/webhooks/${slowHook.id}/deliveries?limit=1&cursor=${page1.nextCursor}`)).json()) as Page;
      expect(page2).toEqual({ data: [expect.objectContaining({ eventId: first.id })], nextCursor: null });
      expect((await bridge.api('GET', `/api/webhooks/${slowHook.id}/deliveries?status=lost`)).status).toBe(400);
    } finally {
      await slow.close();
    }
  });

  it('sends a pending delivery whose queue job was lost (the sweeper re-queues it)', async () => {
    const event = await ingestUplink();
    // A webhook that matches nothing, with a delivery row as if its job had vanished from Redis.
    const webhook = await createWebhook({ url: `${receiver.url}/swept`, events: ['uplink'], connectionIds: ['nothing-matches'] });
    const lost = await bridge.app.get(PrismaService).webhookDelivery.create({
      data: { id: randomUUID(), webhookId: webhook.id, eventId: event.id, eventTime: new Date(heliumUplink.reported_at), status: 'pending', nextAttemptAt: new Date(Date.now() - 60_000) },
    });
    const [request] = await waitUntil(() => receiver.forEvent(event.id, '/swept').length > 0 && receiver.forEvent(event.id, '/swept'), 'the swept delivery', 15_000);
    expectValidSignature(webhook.secret, request);
    await waitUntil(async () => (await deliveryOf(webhook.id, event.id))?.status === 'succeeded', 'the swept delivery to be recorded');
    expect(await deliveryOf(webhook.id, event.id)).toMatchObject({ id: lost.id, attempts: 1 });
  });

  it("reads a delivery in its event's week only (its job carries the event's time), and still runs a job without it", async () => {
    const event = await ingestUplink(connectionId, bridge, { reported_at: Date.now() });
    const webhook = await createWebhook({ url: `${receiver.url}/one-week`, events: ['uplink'], connectionIds: ['nothing-matches'] });
    const prisma = bridge.app.get(PrismaService);
    const stored = (await prisma.event.findFirst({ where: { id: event.id }, select: { time: true } }))!;
    const newDelivery = () => prisma.webhookDelivery.create({ data: { id: randomUUID(), webhookId: webhook.id, eventId: event.id, eventTime: stored.time, status: 'pending', nextAttemptAt: new Date() } });
    const queue = bridge.app.get(WebhookQueue);

    // Every other week of webhook_deliveries locked, as dropping or attaching a partition locks it.
    const db = new Client({ connectionString: bridge.settings.DATABASE_URL });
    await db.connect();
    try {
      const delivery = await newDelivery();
      const { rows } = await db.query<{ partition: string }>(
        `SELECT c.relname AS partition FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = 'webhook_deliveries'::regclass AND c.oid <> (SELECT tableoid FROM webhook_deliveries WHERE id = $1)`,
        [delivery.id],
      );
      expect(rows.length).toBeGreaterThan(0);
      await db.query('BEGIN');
      for (const { partition } of rows) await db.query(`LOCK TABLE "${partition}" IN ACCESS EXCLUSIVE MODE`);
      await queue.enqueue([{ id: delivery.id, attempts: 0, eventTime: delivery.eventTime }]);
      await waitUntil(() => receiver.forEvent(event.id, '/one-week').length === 1, 'the delivery while the other weeks are locked');
      await waitUntil(async () => (await db.query(`SELECT status FROM webhook_deliveries WHERE id = $1 AND event_time = $2`, [delivery.id, delivery.eventTime])).rows[0]?.status === 'succeeded', 'its success');
    } finally {
      await db.query('ROLLBACK').catch(() => undefined);
      await db.end();
    }

    // A job queued by an older version (no event time) finds its delivery all the same.
    await prisma.webhookDelivery.deleteMany({ where: { webhookId: webhook.id } });
    const older = await newDelivery();
    await queue.queue.add('deliver', { deliveryId: older.id, attempt: 0 }, { jobId: `${older.id}.0` });
    await waitUntil(() => receiver.forEvent(event.id, '/one-week').length === 2, 'the delivery of the older job');
    await waitUntil(async () => (await deliveryOf(webhook.id, event.id))?.status === 'succeeded', 'its success');
  });

  it('refuses private and loopback receivers unless WEBHOOK_ALLOW_PRIVATE', async () => {
    const guarded = await TestBridge.start({ WEBHOOK_ALLOW_PRIVATE: 'false' });
    try {
      for (const url of ['http://127.0.0.1:9/hook', 'http://[::1]/hook', 'http://169.254.169.254/latest/meta-data', 'http://10.1.2.3/', 'http://localhost:9/']) {
        const response = await guarded.api('POST', '/api/webhooks', { url, events: ['uplink'] });
        expect([url, response.status]).toEqual([url, 400]);
        expect(((await response.json()) as { message: string }).message).toMatch(/url: .*private/);
      }

      // A host name is checked where it is resolved, at delivery: this machine's name resolves to a loopback or private address.
      const guardedConnection = `helium-wh3-${run}`;
      tokens[guardedConnection] = (await guarded.createConnection({ id: guardedConnection, network: 'helium' })).ingestToken;
      const named = await createWebhook({ url: `http://${hostname()}:${new URL(receiver.url).port}/guarded`, events: ['uplink'], connectionIds: [guardedConnection] }, guarded);
      const event = await ingestUplink(guardedConnection, guarded);
      const refused = await waitUntil(async () => {
        const delivery = await deliveryOf(named.id, event.id);
        return delivery && delivery.attempts === 1 && delivery;
      }, 'the refused attempt');
      expect(refused).toMatchObject({ status: 'pending', lastStatusCode: null, lastError: expect.stringMatching(/resolves only to private addresses .*WEBHOOK_ALLOW_PRIVATE/) });
      expect(receiver.forEvent(event.id)).toHaveLength(0);
    } finally {
      await guarded.stop();
    }
  });
});

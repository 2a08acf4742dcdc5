import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { MqttClient } from 'mqtt';
import { Client } from 'pg';
import { BridgeProcess, freePort } from '../support/bridge-process';
import { TEST_API_KEY, TEST_DATABASE_URL, TEST_MQTT_URL, testSettings } from '../support/env';
import { PrivateServices, startMosquitto, startPostgres, startRedis, stopMosquitto, stopPostgres, stopRedis } from './private-services';

/**
 * npm run test:faults — under steady traffic on all three networks, each request sent once and
 * never retried (as the networks do), one fault at a time: Redis, Mosquitto and Postgres
 * restarted, the worker killed, Postgres stopped for 20 s, an api process killed (kill -9) in the
 * middle of that outage, the journal's disk full. Counted: delivered, answered 2xx, stored, stored
 * twice, published on MQTT, delivered to a webhook. Everything runs on the suite's own services.
 */
const services = JSON.parse(process.env.FAULT_SERVICES as string) as PrivateServices;
const DRAIN_TIMEOUT_MS = 120_000;
const CODEC = 'function decodeUplink(input) { return { data: { bytes: input.bytes.length } } }';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Rig {
  apis: ApiProcess[];
  restartWorker: () => Promise<void>;
}

interface Fault {
  loadSeconds: number;
  inject: (rig: Rig) => Promise<void>;
  /** Whether every delivery must be answered 2xx (false where the fault is that nothing can be made durable). */
  allAnswered: boolean;
  /** Whether the fault takes Postgres away long enough that ingest must go to the journals. */
  journals?: boolean;
  /** Settings of the api processes. */
  apiSettings?: () => Record<string, string>;
}

const FAULTS: Record<string, Fault> = {
  'restart Redis': {
    loadSeconds: 10,
    allAnswered: true,
    inject: async () => {
      await sleep(3000);
      stopRedis(services);
      await sleep(1500);
      startRedis(services);
    },
  },
  'restart Mosquitto': {
    loadSeconds: 10,
    allAnswered: true,
    inject: async () => {
      await sleep(3000);
      stopMosquitto(services);
      await sleep(1500);
      startMosquitto(services);
    },
  },
  'restart Postgres': {
    loadSeconds: 10,
    allAnswered: true,
    inject: async () => {
      await sleep(3000);
      stopPostgres(services, 'fast');
      startPostgres(services);
    },
  },
  'kill -9 the worker': {
    loadSeconds: 10,
    allAnswered: true,
    inject: async ({ restartWorker }) => {
      await sleep(3000);
      await restartWorker();
    },
  },
  'stop Postgres 20 s': {
    loadSeconds: 30,
    allAnswered: true,
    journals: true,
    inject: async () => {
      await sleep(3000);
      stopPostgres(services, 'immediate');
      await sleep(20_000);
      startPostgres(services);
    },
  },
  'kill -9 an api in the outage': {
    loadSeconds: 30,
    allAnswered: true,
    journals: true,
    inject: async ({ apis }) => {
      await sleep(3000);
      stopPostgres(services, 'immediate');
      await sleep(5000);
      // The load balancer stops sending to it first: the kill then loses no request in flight.
      const [victim] = apis;
      await victim.drain();
      const left = await victim.journalMetric('lpwan_journal_depth');
      expect(left).toBeGreaterThan(0);
      await victim.kill9();
      // It starts again while Postgres is still down with what it journaled before the kill, takes
      // traffic into its journal again, and replays it all once Postgres is back.
      await victim.start();
      expect(await victim.journalMetric('lpwan_journal_depth')).toBeGreaterThanOrEqual(left);
      await sleep(8000);
      startPostgres(services);
    },
  },
  'journal disk full': {
    loadSeconds: 14,
    allAnswered: false,
    journals: true,
    apiSettings: () => ({ JOURNAL_DIR: smallDisk() }),
    inject: async () => {
      await sleep(3000);
      stopPostgres(services, 'immediate');
      await sleep(6000);
      startPostgres(services);
    },
  },
};

interface Outcome {
  fault: string;
  delivered: number;
  answered2xx: number;
  non2xx: number;
  /** Ingests the api processes wrote to their journals (since their last start). */
  journaled: number;
  stored: number;
  storedTwice: number;
  /** Stored with the codec's result. */
  decoded: number;
  published: number;
  webhooks: number;
  lost: number;
  /** The processes' error lines (a refused replay, say): printed when something went missing. */
  errorLines: string[];
}

describe('fault suite', () => {
  const outcomes: Outcome[] = [];

  afterAll(() => {
    const columns: Array<[string, keyof Outcome]> = [['delivered', 'delivered'], ['2xx', 'answered2xx'], ['non-2xx', 'non2xx'], ['journaled', 'journaled'], ['stored', 'stored'], ['twice', 'storedTwice'], ['decoded', 'decoded'], ['published', 'published'], ['webhook', 'webhooks'], ['lost', 'lost']];
    console.log(
      [`${'fault'.padEnd(30)}${columns.map(([title]) => title.padStart(10)).join('')}`]
        .concat(outcomes.map((o) => `${o.fault.padEnd(30)}${columns.map(([, key]) => String(o[key]).padStart(10)).join('')}`))
        .join('\n'),
    );
  });

  it('runs on its own services, not the machine\'s', () => {
    expect(new URL(TEST_DATABASE_URL).port).toBe(String(services.postgres.port));
    expect(new URL(TEST_MQTT_URL).port).toBe(String(services.mosquitto.port));
  });

  for (const [name, fault] of Object.entries(FAULTS)) {
    it(`${name}: ${fault.allAnswered ? 'every delivery answered 2xx, ' : ''}nothing accepted lost or stored twice`, async () => {
      const outcome = await runScenario(name, fault);
      outcomes.push(outcome);
      if (outcome.lost || outcome.stored !== outcome.answered2xx) console.log(`${name}: error lines of the processes\n${outcome.errorLines.join('\n')}`);
      expect(outcome.answered2xx).toBeGreaterThan(100);
      if (fault.journals) expect(outcome.journaled).toBeGreaterThan(0);
      if (fault.allAnswered) expect(outcome.non2xx).toBe(0);
      else expect(outcome.non2xx).toBeGreaterThan(0);
      expect(outcome.storedTwice).toBe(0);
      expect(outcome.stored).toBe(outcome.answered2xx);
      expect(outcome.published).toBe(outcome.answered2xx);
      expect(outcome.decoded).toBe(outcome.stored);
      expect(outcome.lost).toBe(0);
    }, 300_000);
  }
});

/** An api process behind a pretend load balancer: `drain` takes it out of rotation. */
class ApiProcess {
  process!: BridgeProcess;
  /** Every process it ran, the killed ones too. */
  readonly runs: BridgeProcess[] = [];
  inRotation = false;
  private inFlight = 0;
  exitedUnexpectedly = false;

  constructor(private readonly settings: Record<string, string>) {}

  async start(): Promise<void> {
    this.process = BridgeProcess.spawn(this.settings);
    this.runs.push(this.process);
    const spawned = this.process;
    void spawned.exited().then((code) => {
      if (code !== null && spawned === this.process) this.exitedUnexpectedly = true;
    });
    // Ready with Postgres down too, while the journal takes the load.
    await this.process.ready('/health/ready', 30_000);
    this.inRotation = true;
  }

  get url(): string {
    return this.process.url;
  }

  async send(request: { url: string; headers: Record<string, string>; body: string }): Promise<boolean> {
    this.inFlight += 1;
    try {
      const response = await fetch(this.url + request.url, { method: 'POST', headers: request.headers, body: request.body });
      return response.ok;
    } catch {
      return false;
    } finally {
      this.inFlight -= 1;
    }
  }

  async journalMetric(name: string): Promise<number> {
    const metrics = await (await fetch(`${this.url}/metrics`)).text();
    return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(metrics)?.[1] ?? 0);
  }

  async drain(): Promise<void> {
    this.inRotation = false;
    while (this.inFlight > 0) await sleep(10);
  }

  async kill9(): Promise<void> {
    const killed = this.process;
    this.process = undefined as never;
    await killed.stop('SIGKILL');
  }

  async stop(): Promise<void> {
    this.inRotation = false;
    await this.process?.stop('SIGKILL');
  }
}

async function runScenario(fault: string, { loadSeconds, inject, apiSettings }: Fault): Promise<Outcome> {
  const settings = testSettings({ DEDUP_WINDOW_MS: '50', INGEST_RATE_LIMIT: '0', WEBHOOK_RETRY_BASE_MS: '500', LOG_LEVEL: 'error', JOURNAL_STORE_TIMEOUT_MS: '1000' });
  // Two api processes, each with its own journal; one worker.
  const apis = [0, 1].map(() => new ApiProcess({ ...settings, JOURNAL_DIR: mkdtempSync(join(tmpdir(), 'lpwan-journal-')), BRIDGE_ROLE: 'api', PORT: freePort(), ...apiSettings?.() }));
  let worker = BridgeProcess.spawn({ ...settings, BRIDGE_ROLE: 'worker', PORT: freePort() });
  const receiver = await webhookReceiver();
  const subscriber = await mqttSubscriber(`${settings.MQTT_TOPIC_PREFIX}/+/+/event/up`);
  try {
    await Promise.all([...apis.map((api) => api.start()), worker.ready('/health/live')]);
    const suffix = randomBytes(3).toString('hex');
    const authed = { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' };
    const tokens: Record<string, string> = {};
    // Every uplink is decoded, after it is stored and before it is published, whatever the fault.
    const codecId = `fault-codec-${suffix}`;
    await fetch(`${apis[0].url}/api/codecs`, { method: 'POST', headers: authed, body: JSON.stringify({ id: codecId, name: codecId, script: CODEC }) });
    for (const [network, extra] of [['helium', {}], ['sigfox', {}], ['tts', { baseUrl: 'http://127.0.0.1:9', applicationId: 'faults' }]] as const) {
      const response = await fetch(`${apis[0].url}/api/connections`, { method: 'POST', headers: authed, body: JSON.stringify({ id: `fault-${network}-${suffix}`, network, name: network, settings: { ...extra, codecId } }) });
      tokens[network] = (await response.json()).ingestToken;
    }
    await fetch(`${apis[0].url}/api/webhooks`, { method: 'POST', headers: authed, body: JSON.stringify({ url: receiver.url, events: ['uplink'], connectionIds: Object.keys(tokens).map((n) => `fault-${n}-${suffix}`) }) });

    const delivered = new Set<string>();
    const answered = new Set<string>();
    let non2xx = 0;
    let counter = 0;
    const deadline = Date.now() + loadSeconds * 1000;
    const faultDone = inject({
      apis,
      restartWorker: async () => {
        await worker.stop('SIGKILL');
        worker = BridgeProcess.spawn({ ...settings, BRIDGE_ROLE: 'worker', PORT: freePort() });
      },
    });
    // Like the networks: each message is sent once, to one api in rotation, and never again.
    const sender = async () => {
      while (Date.now() < deadline) {
        const n = ++counter;
        const live = apis.filter((api) => api.inRotation);
        const request = ingestRequest(suffix, tokens, n);
        delivered.add(request.key);
        if (await live[n % live.length].send(request)) answered.add(request.key);
        else non2xx += 1;
        await sleep(20);
      }
    };
    await Promise.all([sender(), sender(), sender(), sender(), faultDone]);

    const drained = Date.now() + DRAIN_TIMEOUT_MS;
    const done = () => [...answered].every((key) => subscriber.seen.has(key) && receiver.seen.has(key));
    while (!done() && Date.now() < drained) await sleep(500);

    const db = new Client({ connectionString: TEST_DATABASE_URL });
    await db.connect();
    const { rows } = await db.query<{ n: number; keys: number; decoded: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT dedup_key)::int AS keys,
              count(*) FILTER (WHERE body->'uplink'->'decoded'->>'bytes' = '2' AND body->'uplink'->'decodeErrors' = '[]'::jsonb)::int AS decoded
       FROM events WHERE connection_id LIKE $1 AND type = 'uplink'`,
      [`fault-%-${suffix}`],
    );
    await db.end();
    for (const api of apis) expect(api.exitedUnexpectedly).toBe(false);
    return {
      fault,
      delivered: delivered.size,
      answered2xx: answered.size,
      non2xx,
      journaled: (await Promise.all(apis.map((api) => api.journalMetric('lpwan_journal_appended_total')))).reduce((a, b) => a + b, 0),
      stored: rows[0].n,
      storedTwice: rows[0].n - rows[0].keys,
      decoded: rows[0].decoded,
      published: [...answered].filter((key) => subscriber.seen.has(key)).length,
      webhooks: [...answered].filter((key) => receiver.seen.has(key)).length,
      lost: [...answered].filter((key) => !subscriber.seen.has(key) || !receiver.seen.has(key)).length,
      errorLines: [...apis.flatMap((api) => api.runs), worker]
        .flatMap((run) => run.output.join('').split('\n'))
        .filter((line) => /"level":(50|60)/.test(line)),
    };
  } finally {
    await Promise.all([...apis.map((api) => api.stop()), worker.stop('SIGKILL')]);
    await subscriber.close();
    receiver.server.close();
    unmountSmallDisks();
  }
}

const smallDisks: string[] = [];

/** A file system with room for a few dozen journaled events: then writes fail with ENOSPC. */
function smallDisk(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lpwan-small-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
  smallDisks.push(dir);
  writeFileSync(join(dir, 'filler'), Buffer.alloc(40 * 1024));
  mkdirSync(join(dir, 'journal'));
  return join(dir, 'journal');
}

function unmountSmallDisks(): void {
  for (const dir of smallDisks.splice(0)) execFileSync('umount', [dir]);
}

/** One uplink per n, cycling through the networks; `key` is what its published event identifies. */
function ingestRequest(suffix: string, tokens: Record<string, string>, n: number) {
  const devEui = `FA${(n % 50).toString(16).padStart(14, '0')}`.toUpperCase();
  switch (n % 3) {
    case 0:
      return {
        key: `helium:${devEui}:${n}`,
        url: `/ingest/helium/fault-helium-${suffix}`,
        headers: { 'content-type': 'application/json', 'x-bridge-token': tokens.helium },
        body: JSON.stringify({ dev_eui: devEui, devaddr: '01', fcnt: n, port: 1, payload: 'AQI=', reported_at: Date.now(), hotspots: [{ id: 'h1', rssi: -80, snr: 5 }] }),
      };
    case 1: {
      // Written as the bridge names Sigfox devices (no leading zero), so the key matches the event's.
      const device = ((n % 50) + 1).toString(16).toUpperCase() + 'F';
      return {
        key: `sigfox:${device}:${n % 4096}`,
        url: `/ingest/sigfox/fault-sigfox-${suffix}/data`,
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-bridge-token': tokens.sigfox },
        body: new URLSearchParams({ device, time: String(1_700_000_000 + n), data: '0102', seqNumber: String(n % 4096), station: 'AB12', rssi: '-120' }).toString(),
      };
    }
    default:
      return {
        key: `tts:${devEui}:${n}`,
        url: `/ingest/tts/fault-tts-${suffix}`,
        headers: { 'content-type': 'application/json', 'x-bridge-token': tokens.tts },
        body: JSON.stringify({ end_device_ids: { device_id: `d${n % 50}`, application_ids: { application_id: 'faults' }, dev_eui: devEui }, correlation_ids: [`as:up:${suffix}${n}`], received_at: new Date().toISOString(), uplink_message: { f_port: 1, f_cnt: n, frm_payload: 'AQI=' } }),
      };
  }
}

function keyOf(event: { network: string; device: { externalId: string }; uplink: { fcnt: number } }): string {
  return `${event.network}:${event.device.externalId}:${event.uplink.fcnt}`;
}

/** A persistent MQTT session, so messages published while it reconnects wait at the broker. */
async function mqttSubscriber(filter: string): Promise<{ seen: Set<string>; close: () => Promise<void> }> {
  const client: MqttClient = await mqtt.connectAsync(TEST_MQTT_URL, { clientId: `faults-${randomBytes(4).toString('hex')}`, clean: false, reconnectPeriod: 500 });
  const seen = new Set<string>();
  client.on('message', (_topic, payload) => seen.add(keyOf(JSON.parse(payload.toString()))));
  await client.subscribeAsync(filter, { qos: 1 });
  return { seen, close: () => client.endAsync(true) };
}

async function webhookReceiver(): Promise<{ server: Server; url: string; seen: Set<string> }> {
  const seen = new Set<string>();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      seen.add(keyOf(JSON.parse(body)));
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, seen, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook` };
}

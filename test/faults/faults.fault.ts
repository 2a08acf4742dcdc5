import { execSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, Server } from 'node:http';
import mqtt, { MqttClient } from 'mqtt';
import { Client } from 'pg';
import { BridgeProcess, freePort } from '../support/bridge-process';
import { TEST_API_KEY, TEST_DATABASE_URL, TEST_MQTT_URL, testSettings } from '../support/env';

/**
 * npm run test:faults — under a steady stream of ingests on all three networks, restart Redis,
 * Mosquitto and Postgres and kill the worker (kill -9), one at a time; then check that every
 * accepted event is stored once, was published on MQTT and delivered to a webhook at least once.
 * Restarts use the machine's own service commands (see the env notes in the README).
 */
const LOAD_SECONDS = 10;
const FAULT_AT_SECONDS = 3;
const DRAIN_TIMEOUT_MS = 120_000;
const PG_VERSION = execSync('ls /etc/postgresql').toString().trim().split('\n')[0];

const FAULTS: Record<string, (ctx: { restartWorker: () => Promise<void> }) => Promise<void>> = {
  'restart Redis': async () => {
    execSync('redis-cli -h 127.0.0.1 shutdown nosave || true');
    await sleep(1500);
    execSync(`redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log`);
  },
  'restart Mosquitto': async () => {
    execSync('pkill -TERM -x mosquitto || true');
    await sleep(1500);
    execSync('mosquitto -d -c /etc/mosquitto/mosquitto.conf');
  },
  'restart Postgres': async () => {
    execSync(`pg_ctlcluster --skip-systemctl-redirect ${PG_VERSION} main restart -m fast`);
  },
  'kill -9 the worker': async ({ restartWorker }) => restartWorker(),
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Outcome {
  fault: string;
  sent: number;
  accepted: number;
  stored: number;
  duplicated: number;
  published: number;
  delivered: number;
  lost: number;
}

describe('fault suite', () => {
  const outcomes: Outcome[] = [];

  afterAll(() => {
    console.log(
      ['fault                 sent  accepted  stored  dup  published  webhook  lost']
        .concat(outcomes.map((o) => `${o.fault.padEnd(20)} ${[o.sent, o.accepted, o.stored, o.duplicated, o.published, o.delivered, o.lost].map((n, i) => String(n).padStart([5, 9, 7, 4, 10, 8, 5][i])).join(' ')}`))
        .join('\n'),
    );
  });

  for (const [fault, inject] of Object.entries(FAULTS)) {
    it(`${fault}: nothing accepted is lost or stored twice`, async () => {
      const outcome = await runScenario(fault, inject);
      outcomes.push(outcome);
      expect(outcome.accepted).toBeGreaterThan(100);
      expect(outcome.duplicated).toBe(0);
      expect(outcome.stored).toBe(outcome.accepted);
      expect(outcome.lost).toBe(0);
    }, 240_000);
  }
});

async function runScenario(fault: string, inject: (typeof FAULTS)[string]): Promise<Outcome> {
  const settings = testSettings({ DEDUP_WINDOW_MS: '50', INGEST_RATE_LIMIT: '0', WEBHOOK_RETRY_BASE_MS: '500', LOG_LEVEL: 'error' });
  const api = BridgeProcess.spawn({ ...settings, BRIDGE_ROLE: 'api', PORT: freePort() });
  let worker = BridgeProcess.spawn({ ...settings, BRIDGE_ROLE: 'worker', PORT: freePort() });
  const receiver = await webhookReceiver();
  const subscriber = await mqttSubscriber(`${settings.MQTT_TOPIC_PREFIX}/+/+/event/up`);
  try {
    await Promise.all([api.ready('/health/live'), worker.ready('/health/live')]);
    const suffix = randomBytes(3).toString('hex');
    const authed = { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' };
    const tokens: Record<string, string> = {};
    for (const [network, extra] of [['helium', {}], ['sigfox', {}], ['tts', { baseUrl: 'http://127.0.0.1:9', applicationId: 'faults' }]] as const) {
      const response = await fetch(`${api.url}/api/connections`, { method: 'POST', headers: authed, body: JSON.stringify({ id: `fault-${network}-${suffix}`, network, name: network, settings: extra }) });
      tokens[network] = (await response.json()).ingestToken;
    }
    await fetch(`${api.url}/api/webhooks`, { method: 'POST', headers: authed, body: JSON.stringify({ url: receiver.url, events: ['uplink'], connectionIds: Object.keys(tokens).map((n) => `fault-${n}-${suffix}`) }) });

    const sent = new Set<string>();
    const accepted = new Set<string>();
    let counter = 0;
    const deadline = Date.now() + LOAD_SECONDS * 1000;
    const faultTimer = sleep(FAULT_AT_SECONDS * 1000).then(() =>
      inject({
        restartWorker: async () => {
          await worker.stop('SIGKILL');
          worker = BridgeProcess.spawn({ ...settings, BRIDGE_ROLE: 'worker', PORT: freePort() });
        },
      }),
    );
    // Like the networks, a sender retries what was not accepted (503 while the store is down).
    const sender = async () => {
      while (Date.now() < deadline) {
        const n = ++counter;
        const request = ingestRequest(api.url, suffix, tokens, n);
        sent.add(request.key);
        for (let attempt = 0; attempt < 60; attempt++) {
          const ok = await fetch(request.url, { method: 'POST', headers: request.headers, body: request.body }).then((r) => r.ok, () => false);
          if (ok) {
            accepted.add(request.key);
            break;
          }
          await sleep(500);
        }
        await sleep(20);
      }
    };
    await Promise.all([sender(), sender(), sender(), sender(), faultTimer]);

    const drained = Date.now() + DRAIN_TIMEOUT_MS;
    const done = () => [...accepted].every((key) => subscriber.seen.has(key) && receiver.seen.has(key));
    while (!done() && Date.now() < drained) await sleep(500);

    const db = new Client({ connectionString: TEST_DATABASE_URL });
    await db.connect();
    const { rows } = await db.query<{ n: number; keys: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT dedup_key)::int AS keys FROM events WHERE connection_id LIKE $1 AND type = 'uplink'`,
      [`fault-%-${suffix}`],
    );
    await db.end();
    const missing = [...accepted].filter((key) => !subscriber.seen.has(key) || !receiver.seen.has(key));
    return {
      fault,
      sent: sent.size,
      accepted: accepted.size,
      stored: rows[0].n,
      duplicated: rows[0].n - rows[0].keys,
      published: [...accepted].filter((key) => subscriber.seen.has(key)).length,
      delivered: [...accepted].filter((key) => receiver.seen.has(key)).length,
      lost: missing.length,
    };
  } finally {
    await Promise.all([api.stop('SIGKILL'), worker.stop('SIGKILL')]);
    await subscriber.close();
    receiver.server.close();
  }
}

/** One uplink per n, cycling through the networks; `key` is what its published event identifies. */
function ingestRequest(base: string, suffix: string, tokens: Record<string, string>, n: number) {
  const devEui = `FA${(n % 50).toString(16).padStart(14, '0')}`.toUpperCase();
  switch (n % 3) {
    case 0:
      return {
        key: `helium:${devEui}:${n}`,
        url: `${base}/ingest/helium/fault-helium-${suffix}`,
        headers: { 'content-type': 'application/json', 'x-bridge-token': tokens.helium },
        body: JSON.stringify({ dev_eui: devEui, devaddr: '01', fcnt: n, port: 1, payload: 'AQI=', reported_at: Date.now(), hotspots: [{ id: 'h1', rssi: -80, snr: 5 }] }),
      };
    case 1: {
      // Written as the bridge names Sigfox devices (no leading zero), so the key matches the event's.
      const device = ((n % 50) + 1).toString(16).toUpperCase() + 'F';
      return {
        key: `sigfox:${device}:${n % 4096}`,
        url: `${base}/ingest/sigfox/fault-sigfox-${suffix}/data`,
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-bridge-token': tokens.sigfox },
        body: new URLSearchParams({ device, time: String(1_700_000_000 + n), data: '0102', seqNumber: String(n % 4096), station: 'AB12', rssi: '-120' }).toString(),
      };
    }
    default:
      return {
        key: `tts:${devEui}:${n}`,
        url: `${base}/ingest/tts/fault-tts-${suffix}`,
        headers: { 'content-type': 'application/json', 'x-bridge-token': tokens.tts },
        body: JSON.stringify({ end_device_ids: { device_id: `d${n % 50}`, application_ids: { application_id: 'faults' }, dev_eui: devEui }, received_at: new Date().toISOString(), uplink_message: { f_port: 1, f_cnt: n, frm_payload: 'AQI=' } }),
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

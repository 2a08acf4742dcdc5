#!/usr/bin/env node
/**
 * The least a correct Helium → Postgres → MQTT pipeline must do, as the yardstick of issue 12:
 * plain Fastify, the ingest token checked in constant time, the bridge's own Helium schema and
 * mapping (dist/), the events of concurrent requests inserted in one statement into a table of the
 * events table's shape (same indexes, and a unique dedup key; a multi-buy copy merges its gateways
 * into the first), 200 only after commit, then a QoS 1 publish from memory and one coalesced
 * "published" mark; a sweeper publishes what a failed publish left behind. No framework, no queue.
 *
 *   node bench/bare-pipeline.js   (env: PORT, DATABASE_URL, MQTT_URL, MQTT_TOPIC_PREFIX, BARE_TOKEN)
 *
 * Answers GET /health/ready once its tables exist and MQTT is connected.
 */
const { createHash, timingSafeEqual } = require('node:crypto');
const { join } = require('node:path');
const Fastify = require('fastify');
const mqtt = require('mqtt');
const { Pool } = require('pg');

const DIST = join(__dirname, '..', 'dist');
const { heliumIntegrationSchema } = require(join(DIST, 'networks/helium/helium.schema'));
const { mapHeliumIntegration } = require(join(DIST, 'networks/helium/helium.mapper'));
const { uuid7 } = require(join(DIST, 'common/uuid7'));

const PORT = Number(process.env.PORT ?? 3990);
const PREFIX = process.env.MQTT_TOPIC_PREFIX ?? 'bare';
const TOKEN_HASH = createHash('sha256').update(process.env.BARE_TOKEN ?? 'bare-token').digest();
const CONNECTION_ID = 'bare-helium';

const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
// A connection Postgres ends (restart, the bench dropping its database) is replaced by the pool.
pool.on('error', () => undefined);
const broker = mqtt.connect(process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883', { clientId: `bare-${process.pid}`, reconnectPeriod: 1000 });

/** While one batch is in flight the next items gather; each resolves with its result. */
function coalesce(run) {
  let pending = [];
  let running = false;
  const drain = async () => {
    running = true;
    while (pending.length) {
      const batch = pending.splice(0, 500);
      try {
        const results = await run(batch.map((p) => p.item));
        batch.forEach((p, i) => p.resolve(results[i]));
      } catch (error) {
        for (const p of batch) p.reject(error);
      }
    }
    running = false;
  };
  return (item) =>
    new Promise((resolve, reject) => {
      pending.push({ item, resolve, reject });
      if (!running) void drain();
    });
}

const devices = new Map();
/** Registers a device on first sight, as the bridge's directory does; cached after. */
async function deviceId(identity) {
  let id = devices.get(identity.externalId);
  if (!id) {
    const { rows } = await pool.query({
      name: 'bare-device',
      text: `INSERT INTO bare_devices (id, connection_id, external_id, name, dev_eui, join_eui, origin, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'discovered', now())
             ON CONFLICT (connection_id, external_id) DO UPDATE SET external_id = EXCLUDED.external_id RETURNING id`,
      values: [uuid7(), CONNECTION_ID, identity.externalId, identity.name, identity.devEui, identity.joinEui],
    });
    id = rows[0].id;
    devices.set(identity.externalId, id);
  }
  return id;
}

/**
 * One statement per batch. Copies within a batch are merged first (ON CONFLICT cannot touch a row
 * twice); a copy of a stored event adds its gateways to it. Answers per row whether it was new.
 */
const insert = coalesce(async (rows) => {
  const byKey = new Map();
  for (const row of rows) {
    const first = byKey.get(row.dedup_key);
    if (!first) byKey.set(row.dedup_key, row);
    else if (first.body.radio && row.body.radio) {
      const known = new Set(first.body.radio.gateways.map((g) => g.id));
      first.body.radio.gateways.push(...row.body.radio.gateways.filter((g) => !known.has(g.id)));
    }
  }
  const { rows: written } = await pool.query({
    name: 'bare-insert',
    text: `INSERT INTO bare_events AS e (id, connection_id, device_id, network, type, external_id, dedup_key, time, received_at, body, raw)
           SELECT id, connection_id, device_id, network, type, external_id, dedup_key, time, received_at, body, raw
           FROM jsonb_to_recordset($1::jsonb) AS b(id uuid, connection_id text, device_id uuid, network text, type text,
                external_id text, dedup_key text, time timestamptz, received_at timestamptz, body jsonb, raw jsonb)
           ON CONFLICT (connection_id, dedup_key) DO UPDATE SET body = jsonb_set(e.body, '{radio,gateways}',
             (SELECT coalesce(jsonb_agg(g), '[]') FROM (SELECT DISTINCT ON (g->>'id') g
                FROM jsonb_array_elements(coalesce(e.body->'radio'->'gateways', '[]') || coalesce(EXCLUDED.body->'radio'->'gateways', '[]')) g) x))
           RETURNING id, dedup_key, xmax = 0 AS inserted`,
    values: [JSON.stringify([...byKey.values()])],
  });
  const outcome = new Map(written.map((w) => [w.dedup_key, w]));
  return rows.map((row) => {
    const w = outcome.get(row.dedup_key);
    return { id: w.id, isNew: w.inserted && w.id === row.id };
  });
});

const markPublished = coalesce(async (ids) => {
  await pool.query({ name: 'bare-mark', text: 'UPDATE bare_events SET published_at = now() WHERE id = ANY($1::uuid[]) AND published_at IS NULL', values: [ids] });
  return ids.map(() => undefined);
});

async function publish(event) {
  await broker.publishAsync(`${PREFIX}/helium/${event.device.externalId}/event/up`, JSON.stringify(event), { qos: 1 });
  await markPublished(event.id);
}

/** What a failed publish left unpublished, after a grace period. */
async function sweep() {
  const { rows } = await pool.query(
    `SELECT id, connection_id, network, type, time, received_at, body FROM bare_events WHERE published_at IS NULL AND received_at < now() - interval '10 seconds' ORDER BY received_at LIMIT 500`,
  );
  for (const row of rows) {
    const { device, ...rest } = row.body;
    await publish({ id: row.id, type: row.type, network: row.network, connectionId: row.connection_id, device, time: row.time.toISOString(), receivedAt: row.received_at.toISOString(), ...rest }).catch(() => undefined);
  }
}

function tokenMatches(token) {
  return typeof token === 'string' && timingSafeEqual(createHash('sha256').update(token).digest(), TOKEN_HASH);
}

async function main() {
  await pool.query('CREATE TABLE IF NOT EXISTS bare_devices (LIKE devices INCLUDING ALL)');
  await pool.query('CREATE TABLE IF NOT EXISTS bare_events (LIKE events INCLUDING ALL)');
  // Its dedup: one key per event for ever (the bridge's identities expire, in a table of their own).
  await pool.query('CREATE UNIQUE INDEX IF NOT EXISTS bare_events_dedup_key ON bare_events (connection_id, dedup_key)');
  const app = Fastify({ bodyLimit: 256 * 1024 });
  app.get('/health/ready', async (_request, reply) => reply.status(broker.connected ? 200 : 503).send({ ready: broker.connected }));
  app.post('/ingest/helium/:connectionId', async (request, reply) => {
    if (request.params.connectionId !== CONNECTION_ID) return reply.status(404).send({ error: 'no such connection' });
    if (!tokenMatches(request.headers['x-bridge-token'])) return reply.status(401).send({ error: 'missing or invalid ingest token' });
    const parsed = heliumIntegrationSchema.safeParse(request.body);
    if (!parsed.success) return reply.status(400).send({ error: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
    const incoming = mapHeliumIntegration(parsed.data, request.body);
    const receivedAt = new Date();
    const device = await deviceId(incoming.device);
    const deviceRef = { id: device, externalId: incoming.device.externalId, name: incoming.device.name, devEui: incoming.device.devEui, joinEui: incoming.device.joinEui };
    const body = { device: deviceRef, uplink: incoming.uplink, radio: incoming.radio, status: incoming.status, ack: incoming.ack, location: incoming.location };
    const row = { id: uuid7(receivedAt.getTime()), connection_id: CONNECTION_ID, device_id: device, network: 'helium', type: incoming.type, external_id: deviceRef.externalId, dedup_key: incoming.dedupKey, time: incoming.time, received_at: receivedAt, body, raw: incoming.raw };
    const stored = await insert(row);
    if (stored.isNew) {
      const event = { id: row.id, type: row.type, network: 'helium', connectionId: CONNECTION_ID, time: row.time, receivedAt: receivedAt.toISOString(), ...body };
      // After the answer: the sweeper covers a publish that fails.
      setImmediate(() => publish(event).catch(() => undefined));
    }
    return { id: stored.id, duplicate: !stored.isNew };
  });
  setInterval(() => void sweep().catch(() => undefined), 2000).unref();
  await app.listen({ port: PORT, host: '127.0.0.1' });
  const stop = async () => {
    await app.close();
    await broker.endAsync();
    await pool.end();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});


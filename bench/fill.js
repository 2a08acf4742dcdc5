/**
 * Stored history for the bench (issues 12 and 14): a fleet's events over the past weeks, written
 * server-side in SQL, and the kept database that holds BENCH_ROWS of them from one run to the next.
 *
 * Filling 10,000,000 events takes minutes (README, Performance), more than a whole run should: the
 * first run (or `npm run bench:fill`) fills `lpwan_bridge_bench_kept_v<FILL_VERSION>_<rows>` once,
 * and later runs migrate it (as an upgrade would) and reuse it. Each run deletes the events it
 * added, so every run measures the same table. Bump FILL_VERSION when the fill changes: the next
 * run then fills a new database (drop the old one with `npm run bench:fill -- --drop-old`).
 */
const { execFileSync } = require('node:child_process');
const { join } = require('node:path');
const { Client } = require('pg');

const FILL_VERSION = 1;
/** The span the events cover, ending when they are filled: a quarter of a fleet's traffic. */
const FILL_WEEKS = 12;
/** Events per device: a page of 100 is its last ~8 days, whatever the table's size. */
const EVENTS_PER_DEVICE = 1000;
/** Rows per INSERT: one commit each, and a progress line. */
const CHUNK_ROWS = 1_000_000;
/** The bridge's worker creates this many weeks ahead (event-partitions.service.ts). */
const WEEKS_AHEAD = 4;

/**
 * Adds `rows` Helium uplinks to the events table, spread evenly over the FILL_WEEKS weeks before
 * `end` (arrival order, uuid7 ids from their arrival time) and over rows / EVENTS_PER_DEVICE
 * devices of `connectionId` (registered here, external ids as bench/lib.js deviceEui spells
 * them), each with its own device, frame counter and DevEUI in the body and raw of one uplink
 * of that connection the bridge stored (seedUplink). Creates their week partitions first and the weeks ahead, as the
 * worker would have. Then vacuums (as autovacuum would have over those weeks) and checkpoints.
 * `log` gets progress lines. Returns the number of devices, the span (start, end) and the seconds it took.
 */
async function fillEvents(client, { rows, connectionId = 'bench-helium', end = new Date(), log = () => undefined }) {
  const started = Date.now();
  const deviceCount = Math.max(1, Math.ceil(rows / EVENTS_PER_DEVICE));
  const { rows: seeds } = await client.query(
    `SELECT body, raw FROM events WHERE connection_id = $1 AND type = 'uplink' LIMIT 1`,
    [connectionId],
  );
  if (!seeds.length) throw new Error(`fillEvents: no uplink of ${connectionId} stored to copy`);
  await client.query(
    `INSERT INTO devices (id, connection_id, external_id, name, dev_eui, origin, updated_at)
     SELECT gen_random_uuid(), $1, lpad(upper(to_hex(n)), 16, '0'), 'dev-' || lpad(upper(to_hex(n)), 16, '0'), lpad(upper(to_hex(n)), 16, '0'), 'discovered', now()
     FROM generate_series(0, $2::int - 1) n
     ON CONFLICT (connection_id, external_id) DO NOTHING`,
    [connectionId, deviceCount],
  );
  const start = new Date(end.getTime() - FILL_WEEKS * 7 * 86_400_000);
  await client.query(`SELECT create_week_partition('events', 'time', $1::timestamptz + n * interval '7 days') FROM generate_series(0, $2::int) n`, [start, FILL_WEEKS + WEEKS_AHEAD]);
  const stepMs = (end.getTime() - start.getTime()) / rows;
  for (let from = 0; from < rows; from += CHUNK_ROWS) {
    const to = Math.min(rows, from + CHUNK_ROWS);
    const chunkStarted = Date.now();
    await client.query('BEGIN');
    // The devices numbered, so that each row joins its device by number.
    await client.query(`CREATE TEMP TABLE fill_devices ON COMMIT DROP AS
                        SELECT n, d.id, d.external_id, d.name FROM generate_series(0, $2::int - 1) n
                        JOIN devices d ON d.connection_id = $1 AND d.external_id = lpad(upper(to_hex(n)), 16, '0')`, [connectionId, deviceCount]);
    await client.query('CREATE UNIQUE INDEX ON fill_devices (n)');
    await client.query(
      `INSERT INTO events (id, connection_id, device_id, network, type, external_id, dedup_key, time, received_at, body, raw, published_at)
       SELECT (lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0') || '7' || lpad(to_hex(g % 4096), 3, '0') || '8' || lpad(to_hex(g), 15, '0'))::uuid,
              $1, d.id, 'helium', 'uplink', d.external_id, 'bench-fill:' || g, t, t,
              jsonb_set(jsonb_set($2::jsonb, '{device}', ($2::jsonb -> 'device') || jsonb_build_object('id', d.id, 'externalId', d.external_id, 'name', d.name)),
                        '{uplink,fcnt}', to_jsonb(g / $6::int)),
              $3::jsonb || jsonb_build_object('dev_eui', d.external_id, 'name', d.name, 'fcnt', g / $6::int),
              t
       FROM generate_series($4::bigint, $5::bigint - 1) g
       CROSS JOIN LATERAL (SELECT $7::timestamptz + g * $8::double precision * interval '1 millisecond' AS t) tt
       JOIN fill_devices d ON d.n = g % $6::int`,
      [connectionId, seeds[0].body, seeds[0].raw, from, to, deviceCount, start, stepMs],
    );
    await client.query('COMMIT');
    log(`  ${to.toLocaleString('en-US')} / ${rows.toLocaleString('en-US')} events (${((Date.now() - chunkStarted) / 1000).toFixed(0)} s)`);
  }
  log('  vacuum and analyze…');
  await client.query('VACUUM (ANALYZE) events');
  await client.query('VACUUM (ANALYZE) devices');
  await client.query('CHECKPOINT');
  return { deviceCount, start, end, fillSeconds: (Date.now() - started) / 1000 };
}


/** Posts one Helium uplink of device 1 through the bridge at `base`, and waits until it is stored: the row fillEvents copies. */
async function seedUplink(lib, base, token, databaseUrl) {
  const response = await fetch(`${base}/ingest/helium/bench-helium`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-bridge-token': token },
    body: JSON.stringify(lib.heliumBody(lib.deviceEui(1), 1, 'seed')),
  });
  if (!response.ok) throw new Error(`seed uplink: ${response.status} ${await response.text()}`);
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    for (let i = 0; i < 50; i++) {
      const { rows } = await client.query(`SELECT count(*)::int AS n FROM events WHERE published_at IS NOT NULL`);
      if (rows[0].n > 0) return;
      await lib.sleep(200);
    }
    throw new Error('seed uplink was not published');
  } finally {
    await client.end();
  }
}

const keptName = (rows) => `lpwan_bridge_bench_kept_v${FILL_VERSION}_${rows}`;

/** What the kept database says of its fill; null when it is missing or was left half-filled. */
async function readFill(url) {
  const client = new Client({ connectionString: url });
  try {
    await client.connect();
  } catch (error) {
    if (error.code === '3D000') return null;
    throw error;
  }
  try {
    const { rows } = await client.query('SELECT * FROM bench_fill WHERE version = $1', [FILL_VERSION]);
    return rows[0] ?? null;
  } catch (error) {
    if (error.code === '42P01') return null;
    throw error;
  } finally {
    await client.end();
  }
}

/** Makes the kept database from scratch: the bench connections (through a bridge on it), the seed uplink, then fillEvents. */
async function fillKept(lib, admin, name, url, rows, log) {
  log(`filling ${name} (${rows.toLocaleString('en-US')} events, once: later runs reuse it)…`);
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  execFileSync(process.execPath, [join(lib.ROOT, 'dist/database/migrate.js')], { env: { ...process.env, DATABASE_URL: url }, stdio: 'ignore' });
  const bridge = lib.startBridge('all', { DATABASE_URL: url });
  let tokens;
  try {
    await lib.waitReady(bridge.url);
    tokens = await lib.createConnections();
    await seedUplink(lib, bridge.url, tokens.helium, url);
  } finally {
    await bridge.stop();
  }
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { fillSeconds } = await fillEvents(client, { rows: rows - 1, log });
    const { rows: facts } = await client.query(`SELECT (SELECT id FROM events ORDER BY id DESC LIMIT 1) AS max_id, now() AS filled_at, pg_database_size(current_database()) AS size_bytes`);
    await client.query(`CREATE TABLE bench_fill (version int, rows bigint, tokens jsonb, fill_seconds real, size_bytes bigint, filled_at timestamptz, max_id uuid)`);
    await client.query(`INSERT INTO bench_fill VALUES ($1, $2, $3, $4, $5, $6, $7)`, [FILL_VERSION, rows, tokens, fillSeconds, facts[0].size_bytes, facts[0].filled_at, facts[0].max_id]);
    log(`filled ${name} in ${Math.round(fillSeconds)} s: ${(Number(facts[0].size_bytes) / 1e9).toFixed(1)} GB`);
  } finally {
    await client.end();
  }
  return readFill(url);
}

/**
 * The kept database of `rows` events (filled now when missing), migrated to this build's schema.
 * An advisory lock held until `release()` keeps two benches on one machine from filling it twice
 * or measuring each other's ingest. `removeAdded()` deletes what a run added after the fill.
 */
async function openKeptDatabase(lib, rows, log = console.log) {
  const name = keptName(rows);
  const url = lib.ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  const admin = new Client({ connectionString: lib.ADMIN_URL });
  await admin.connect();
  try {
    await admin.query('SELECT pg_advisory_lock(hashtext($1))', [name]);
    let fill = await readFill(url);
    const reused = fill !== null;
    if (reused) {
      log(`reusing ${name}, filled ${fill.filled_at.toISOString()} (npm run bench:fill -- --refill fills it again)`);
      execFileSync(process.execPath, [join(lib.ROOT, 'dist/database/migrate.js')], { env: { ...process.env, DATABASE_URL: url }, stdio: 'ignore' });
    } else {
      fill = await fillKept(lib, admin, name, url, rows, log);
    }
    return {
      name,
      url,
      reused,
      tokens: fill.tokens,
      fillSeconds: fill.fill_seconds,
      sizeBytes: Number(fill.size_bytes),
      filledAt: fill.filled_at,
      removeAdded: () => removeAdded(url, fill),
      release: () => admin.end(),
    };
  } catch (error) {
    await admin.end();
    throw error;
  }
}

/** Deletes the events (and their identities, and devices) a run added to the kept database. */
async function removeAdded(url, fill) {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    // `time` prunes to the weeks since the fill, `id` walks their primary keys.
    await client.query('DELETE FROM events WHERE time > $1 AND id > $2', [fill.filled_at, fill.max_id]);
    await client.query('DELETE FROM event_identities WHERE event_time > $1', [fill.filled_at]);
    await client.query('DELETE FROM devices WHERE created_at > $1', [fill.filled_at]);
    // What the deletes left dead would otherwise weigh on the next run's inserts (the week's
    // partition and its indexes), until autovacuum came by: a deployment does not delete its events.
    await client.query('VACUUM (ANALYZE) events, event_identities, devices');
  } finally {
    await client.end();
  }
}

/** Drops the kept databases of other fill versions (disk: 10,000,000 events are ~17 GB). */
async function dropOldKept(lib, log = console.log) {
  const admin = new Client({ connectionString: lib.ADMIN_URL });
  await admin.connect();
  try {
    const { rows } = await admin.query(`SELECT datname FROM pg_database WHERE datname LIKE 'lpwan_bridge_bench_kept_v%' AND datname NOT LIKE $1`, [`lpwan_bridge_bench_kept_v${FILL_VERSION}_%`]);
    for (const { datname } of rows) {
      await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
      log(`dropped ${datname}`);
    }
  } finally {
    await admin.end();
  }
}

module.exports = { FILL_VERSION, FILL_WEEKS, EVENTS_PER_DEVICE, fillEvents, seedUplink, keptName, openKeptDatabase, dropOldKept };

/** npm run bench:fill [-- --refill] [-- --drop-old]: fills the kept database of BENCH_ROWS events ahead of a run. */
if (require.main === module) {
  const lib = require('./lib');
  const rows = Number(process.env.BENCH_ROWS ?? 10_000_000);
  (async () => {
    if (process.argv.includes('--drop-old')) await dropOldKept(lib);
    if (process.argv.includes('--refill')) {
      const admin = new Client({ connectionString: lib.ADMIN_URL });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${keptName(rows)} WITH (FORCE)`);
      await admin.end();
    }
    const kept = await openKeptDatabase(lib, rows);
    await kept.release();
  })().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}

/**
 * What the journal (issue 11, SPEC §3) costs while Postgres is healthy, and how fast the bridge
 * accepts uplinks while Postgres is down.
 *
 * Postgres "down" is the bench's own Postgres behind a TCP relay that this scenario cuts (every
 * connection closed, new ones closed at once, as when Postgres stops): the machine's Postgres keeps
 * serving everyone else. The bridge gets the relay as DATABASE_URL; the database is reset and the
 * connections created through it while it relays.
 */
const { createServer, Socket } = require('node:net');
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const HEALTHY_SECONDS = 10;
const OUTAGE_SECONDS = 10;

module.exports = {
  name: 'journal',
  async run(lib) {
    const target = new URL(lib.DATABASE_URL);
    const relay = await startRelay(target.hostname, Number(target.port || 5432));
    const journalDir = mkdtempSync(join(tmpdir(), 'bench-journal-'));
    const proxied = new URL(lib.DATABASE_URL);
    proxied.port = String(relay.port);
    const stack = await lib.startStack({ env: { DATABASE_URL: proxied.toString(), JOURNAL_DIR: journalDir } });
    try {
      const healthy = await lib.measureThroughput(stack.tokens, HEALTHY_SECONDS);
      const healthyAppends = await metric(stack.url, 'lpwan_journal_appended_total');

      await relay.cut();
      const outage = await measureAccepted(lib, stack.tokens, OUTAGE_SECONDS);
      const depth = await metric(stack.url, 'lpwan_journal_depth');
      const bytes = await metric(stack.url, 'lpwan_journal_bytes');

      const restored = performance.now();
      relay.restore();
      while ((await metric(stack.url, 'lpwan_journal_depth')) > 0 && performance.now() - restored < 60_000) await lib.sleep(100);
      const replaySeconds = (performance.now() - restored) / 1000;
      const stored = await countEvents(lib, outage.keys);

      return [
        { measure: 'accepted uplinks/s, Postgres healthy (journal on standby)', value: lib.round(healthy.acceptedPerSecond, 0), unit: '/s', target: null, met: healthy.errors === 0 },
        { measure: 'journal appends while Postgres is healthy', value: healthyAppends, unit: 'appends', target: 0, met: healthyAppends === 0 },
        { measure: 'accepted uplinks/s, Postgres down (into the journal)', value: lib.round(outage.acceptedPerSecond, 0), unit: '/s', target: null, met: outage.errors === 0 },
        { measure: 'request p99 while Postgres is down', value: outage.p99Ms, unit: 'ms', target: 2000, met: outage.p99Ms < 2000 },
        { measure: 'non-2xx while Postgres is down', value: outage.errors, unit: 'responses', target: 0, met: outage.errors === 0 },
        { measure: 'journal bytes per journaled ingest', value: lib.round(bytes / Math.max(depth, 1), 0), unit: 'B', target: null, met: true },
        { measure: 'replay into Postgres once back', value: lib.round(depth / replaySeconds, 0), unit: 'ingests/s', target: null, met: true },
        { measure: 'journaled events stored (of accepted)', value: `${stored} / ${outage.accepted}`, unit: '', target: 'all', met: stored === outage.accepted },
      ];
    } finally {
      await stack.stop();
      relay.restore();
      await relay.close();
      rmSync(journalDir, { recursive: true, force: true });
    }
  },
};

/** Full-speed load on the three networks; only the answers count (nothing is published meanwhile). */
async function measureAccepted(lib, tokens, seconds) {
  const accepted = new Set();
  const load = lib.makeLoad(tokens, new Map(), { accepted });
  const start = performance.now();
  const results = await Promise.all([
    lib.cannon(load.heliumRequest, { connections: 32, duration: seconds }),
    lib.cannon(load.sigfoxRequest, { connections: 16, duration: seconds }),
    lib.cannon(load.ttsRequest, { connections: 16, duration: seconds }),
  ]);
  const elapsed = (performance.now() - start) / 1000;
  return {
    acceptedPerSecond: results.reduce((n, r) => n + r['2xx'], 0) / elapsed,
    accepted: accepted.size,
    keys: accepted,
    errors: results.reduce((n, r) => n + r.non2xx + r.errors, 0),
    p99Ms: Math.max(...results.map((r) => r.latency.p99)),
  };
}

/** How many of the accepted identities are stored (Helium copies merged into their first). */
async function countEvents(lib, keys) {
  const db = await lib.db();
  try {
    const { rows } = await db.query(
      `SELECT network, external_id, (body->'uplink'->>'fcnt')::int AS fcnt, extract(epoch FROM time)::bigint AS t FROM events WHERE type = 'uplink'`,
    );
    const stored = new Set(rows.map((r) => (r.network === 'sigfox' ? `sigfox:${r.external_id}:${r.fcnt}:${r.t}` : `${r.network}:${r.external_id}:${r.fcnt}`)));
    return [...keys].filter((key) => stored.has(key)).length;
  } finally {
    await db.end();
  }
}

async function metric(url, name) {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}

/** A TCP relay to Postgres that can be cut (connections closed, new ones closed at once) and restored. */
async function startRelay(host, port) {
  const sockets = new Set();
  let refusing = false;
  const server = createServer((client) => {
    if (refusing) return client.destroy();
    const upstream = new Socket();
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => socket.destroy());
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    upstream.connect(port, host, () => {
      client.pipe(upstream);
      upstream.pipe(client);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    async cut() {
      refusing = true;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      refusing = false;
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { Client } from 'pg';
import { uuid7 } from '../../src/common/uuid7';
import heliumUplink from '../fixtures/helium-uplink.json';
import { TestBridge } from '../support/bridge';
import { TEST_DATABASE_URL } from '../support/env';
import { eventually } from '../support/mqtt-collector';
import { Json } from '../support/networks';

/** A CSV parser strict enough to check quoting: quoted fields, doubled quotes, CRLF rows. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(field), (field = '');
    else if (c === '\r' && text[i + 1] === '\n') row.push(field), rows.push(row), (row = []), (field = ''), i++;
    else field += c;
  }
  if (field || row.length) throw new Error(`unterminated last row: ${JSON.stringify(row)}`);
  return rows;
}

describe('GET /api/events/export', () => {
  let bridge: TestBridge;
  const db = new Client({ connectionString: TEST_DATABASE_URL });
  const connectionId = `helium-export-${randomBytes(3).toString('hex')}`;
  /** More than a history page (1,000) and than one cursor batch (500). */
  const COPIES = 1200;

  beforeAll(async () => {
    bridge = await TestBridge.start();
    const { ingestToken } = await bridge.createConnection({ id: connectionId, network: 'helium' });
    const decoded = { note: 'a, "quoted"\nline', temperature: 21.5 };
    const response = await bridge.post(`/ingest/helium/${connectionId}`, { ...heliumUplink, decoded: { status: 'success', payload: decoded } }, { 'x-bridge-token': ingestToken });
    expect(response.status).toBe(200);
    await db.connect();
    // Copies of the real event, with their own ids (UUIDv7 order: after the original) and frame
    // counters; published, so that no later test's bridge publishes them from the outbox.
    await db.query(
      `INSERT INTO events (id, connection_id, device_id, network, type, external_id, dedup_key, time, received_at, body, raw, published_at)
       SELECT ($3 || lpad(to_hex(n), 12, '0'))::uuid, e.connection_id, e.device_id, e.network, e.type, e.external_id,
              e.dedup_key || ':' || n, e.time + n * interval '1 second', e.received_at, jsonb_set(e.body, '{uplink,fcnt}', to_jsonb(n)), e.raw, now()
       FROM events e, generate_series(1, $2) n WHERE e.connection_id = $1`,
      [connectionId, COPIES, uuid7(Date.now() + 60_000).slice(0, 24)],
    );
  });

  afterAll(async () => {
    await db.end();
    await bridge.stop();
  });

  const exportText = async (query: string) => {
    const response = await bridge.api('GET', `/api/events/export?connectionId=${connectionId}&${query}`);
    return { response, text: await response.text() };
  };

  it('streams every matching event as NDJSON, oldest first, as history shows them', async () => {
    const { response, text } = await exportText('format=ndjson');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('application/x-ndjson');
    const events: Json[] = text.trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(events).toHaveLength(COPIES + 1);
    expect(events.map((e) => e.id)).toEqual([...events.map((e) => e.id)].sort());
    expect(events.map((e) => e.uplink.fcnt)).toEqual([33072, ...Array.from({ length: COPIES }, (_, i) => i + 1)]);
    const newest = (await (await bridge.api('GET', `/api/events?connectionId=${connectionId}&limit=1`)).json()).data[0];
    expect(events[events.length - 1]).toEqual(newest);
  });

  it('streams CSV with a header and one properly quoted row per event', async () => {
    const { response, text } = await exportText('format=csv');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/csv');
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="events.csv"');
    const [header, ...rows] = parseCsv(text);
    expect(header).toEqual(['id', 'time', 'network', 'connectionId', 'externalId', 'type', 'fcnt', 'port', 'payloadHex', 'rssi', 'snr', 'decoded']);
    expect(rows).toHaveLength(COPIES + 1);
    const [first] = rows;
    expect(first.slice(1, 11)).toEqual(['2021-09-22T23:29:49.723Z', 'helium', connectionId, '008000000401261D', 'uplink', '33072', '1', '0a1b2c', '-57', '12.5']);
    expect(JSON.parse(first[11])).toEqual({ note: 'a, "quoted"\nline', temperature: 21.5 });
  });

  it('applies the history filters, and answers a header alone when nothing matches', async () => {
    const from = new Date(Date.parse('2021-09-22T23:29:49.723Z') + 1001 * 1000).toISOString();
    const { text } = await exportText(`format=ndjson&from=${encodeURIComponent(from)}`);
    expect(text.trimEnd().split('\n')).toHaveLength(COPIES - 1000);
    expect((await exportText('format=csv&type=status')).text).toBe('id,time,network,connectionId,externalId,type,fcnt,port,payloadHex,rssi,snr,decoded\r\n');
    expect((await exportText('format=ndjson&type=status')).text).toBe('');
  });

  it('refuses a bad format or filter with 400 naming the parameter', async () => {
    for (const [query, parameter] of [
      ['format=xml', 'format'],
      ['from=yesterday', 'from'],
      ['type=nonsense', 'type'],
    ]) {
      const { response, text } = await exportText(query);
      expect(response.status).toBe(400);
      expect(JSON.parse(text).message).toContain(parameter);
    }
  });

  it('closes its cursor when the client goes away mid-export', async () => {
    // node:http rather than fetch: undici opens a spare connection on abort, which would hold the server open.
    await new Promise<void>((resolve, reject) => {
      const request = http.get(`${bridge.url}/api/events/export?connectionId=${connectionId}`, { headers: { authorization: `Bearer ${bridge.settings.API_KEYS}` } }, (response) => {
        expect(response.statusCode).toBe(200);
        response.once('data', () => {
          request.destroy();
          resolve();
        });
      });
      request.on('error', (error) => (request.destroyed ? undefined : reject(error)));
    });
    const openCursors = () =>
      db.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'FETCH % FROM event_export' AND state = 'idle in transaction'`);
    await eventually('the export transaction to end', async () => (await openCursors()).rows[0].n, (n) => n === 0);
  });
});

/**
 * GET /api/events/export (issue 14): rows/s, and the bridge's peak RSS while it streams
 * BENCH_EXPORT_ROWS (300,000; the README quotes a run at 1,000,000) events as NDJSON, against its
 * peak while it streams a tenth of them: an export with constant memory peaks the same whatever
 * the number of rows. CSV's rate is taken on the tenth. The events are bench/fill.js's (12 weeks
 * of a fleet, in this run's database). About a minute on the 2-core machine.
 */
const ROWS = Number(process.env.BENCH_EXPORT_ROWS ?? 300_000);

/** Reads the whole answer as it streams, keeping only counts. */
async function streamExport(lib, query) {
  const started = Date.now();
  const response = await fetch(`${lib.URL_BASE}/api/events/export?${query}`, { headers: { authorization: `Bearer ${lib.API_KEY}` } });
  if (!response.ok) throw new Error(`export ${query}: ${response.status} ${await response.text()}`);
  let lines = 0;
  let bytes = 0;
  for await (const chunk of response.body) {
    bytes += chunk.length;
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
  }
  return { lines, bytes, seconds: (Date.now() - started) / 1000 };
}

/** An export, with the bridge's peak RSS during it alone. */
async function measuredExport(lib, stack, query) {
  const [bridge] = stack.processes;
  bridge.peakRssMb = 0;
  const result = await streamExport(lib, query);
  await lib.sleep(300);
  return { ...result, peakRssMb: bridge.peakRssMb };
}

module.exports = {
  name: 'export',
  async run(lib) {
    const stack = await lib.startStack();
    try {
      await lib.seedUplink(lib.URL_BASE, stack.tokens.helium);
      const client = await lib.db();
      let tenth;
      try {
        const { start, end } = await lib.fillEvents(client, { rows: ROWS - 1 });
        // Events are spread evenly over the span: its first tenth holds a tenth of them.
        tenth = new Date(start.getTime() + (end.getTime() - start.getTime()) / 10).toISOString();
      } finally {
        await client.end();
      }
      await lib.sleep(1000);

      const untilTenth = `to=${encodeURIComponent(tenth)}`;
      const ndjsonTenth = await measuredExport(lib, stack, `format=ndjson&${untilTenth}`);
      const ndjson = await measuredExport(lib, stack, 'format=ndjson');
      const csvTenth = await measuredExport(lib, stack, `format=csv&${untilTenth}`);
      const csvRows = csvTenth.lines - 1;
      return [
        { measure: 'ndjson: rows exported', value: ndjson.lines, unit: 'rows', target: ROWS, met: ndjson.lines >= ROWS },
        { measure: 'ndjson: export rate', value: lib.round(ndjson.lines / ndjson.seconds, 0), unit: 'rows/s', target: null, met: null },
        { measure: 'ndjson: streamed', value: lib.round(ndjson.bytes / 1e6 / ndjson.seconds, 1), unit: 'MB/s', target: null, met: null },
        {
          measure: `ndjson: peak RSS, ${ndjson.lines.toLocaleString('en-US')} rows vs ${ndjsonTenth.lines.toLocaleString('en-US')}`,
          value: `${lib.round(ndjson.peakRssMb, 0)} vs ${lib.round(ndjsonTenth.peakRssMb, 0)}`,
          unit: 'MB',
          target: '≤ 1.1 × the tenth',
          met: ndjson.peakRssMb <= ndjsonTenth.peakRssMb * 1.1,
        },
        { measure: `csv: export rate (${csvRows.toLocaleString('en-US')} rows)`, value: lib.round(csvRows / csvTenth.seconds, 0), unit: 'rows/s', target: null, met: null },
        { measure: 'csv: peak RSS', value: lib.round(csvTenth.peakRssMb, 0), unit: 'MB', target: null, met: null },
      ];
    } finally {
      await stack.stop();
    }
  },
};

/**
 * Live stream: with an api and a worker process, how long from request to `GET /api/events/live`,
 * and whether a stalled live client slows fan-out (MQTT delay with and without one).
 */
const http = require('node:http');
const net = require('node:net');

const RATE = 500;
const SECONDS = 8;

/** An SSE reader that records each event's delay since the bridge received it. */
function readLive(base, apiKey, delays) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}/api/events/live`, { headers: { authorization: `Bearer ${apiKey}` }, agent: false });
    req.on('response', (res) => {
      res.setEncoding('utf8');
      let buffered = '';
      res.on('data', (chunk) => {
        buffered += chunk;
        let end;
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          const data = /^data: (.*)$/m.exec(buffered.slice(0, end))?.[1];
          buffered = buffered.slice(end + 2);
          if (data) delays.push(Date.now() - Date.parse(JSON.parse(data).receivedAt));
        }
      });
      resolve(() => req.destroy());
    });
    req.on('error', reject);
    req.end();
  });
}

/** A client that asks for the stream and never reads it. */
function stallLive(base, apiKey) {
  const url = new URL(base);
  const socket = net.connect(Number(url.port), url.hostname);
  socket.on('error', () => undefined);
  socket.write(`GET /api/events/live HTTP/1.1\r\nhost: ${url.host}\r\nauthorization: Bearer ${apiKey}\r\n\r\n`);
  socket.once('data', () => socket.pause());
  return () => socket.destroy();
}

async function metric(base, name) {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(text.split('\n').find((line) => line.startsWith(`${name} `))?.split(' ')[1] ?? NaN);
}

module.exports = {
  name: 'live',
  async run(lib) {
    const stack = await lib.startStack({ split: true });
    try {
      await lib.measureLatency(stack.tokens, RATE, 3); // warm-up, not measured
      const without = await lib.measureLatency(stack.tokens, RATE, SECONDS);
      const delays = [];
      const stopReading = await readLive(stack.url, lib.API_KEY, delays);
      const stopStalled = stallLive(stack.url, lib.API_KEY);
      await lib.sleep(500);
      const withLive = await lib.measureLatency(stack.tokens, RATE, SECONDS);
      await lib.sleep(1000);
      const dropped = await metric(stack.url, 'lpwan_live_clients_dropped_total');
      stopReading();
      stopStalled();
      delays.sort((a, b) => a - b);
      return [
        { measure: `live: request → SSE p50 (${RATE}/s, api + worker)`, value: lib.percentile(delays, 50), unit: 'ms', target: null, met: null },
        { measure: 'live: request → SSE p99', value: lib.percentile(delays, 99), unit: 'ms', target: 1000, met: lib.percentile(delays, 99) <= 1000 },
        // The reader is open a little before and after the phase, so it also sees the previous phase's last events.
        { measure: "live: events on the stream / the phase's MQTT deliveries", value: `${delays.length} / ${withLive.delivered}`, unit: '', target: 'at least all', met: delays.length >= withLive.delivered },
        { measure: 'live: MQTT p99 without live clients', value: lib.round(without.p99Ms), unit: 'ms', target: null, met: null },
        // Informational: on a shared 2-core machine the two phases differ by more than the live stream costs.
        { measure: 'live: MQTT p99 with a reading and a stalled live client', value: lib.round(withLive.p99Ms), unit: 'ms', target: null, met: null },
        // A few MB of events fit in the socket buffers: the stalled client may still be open.
        { measure: 'live: stalled clients dropped', value: dropped, unit: '', target: null, met: null },
      ];
    } finally {
      await stack.stop();
    }
  },
};

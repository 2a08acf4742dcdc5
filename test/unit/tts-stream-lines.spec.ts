import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseStreamMessage, StreamLineSplitter } from '../../src/networks/tts/stream-lines';

const SAMPLE_PATH = resolve(__dirname, '../fixtures/tts-samples.json');
const sampleEvent = JSON.parse(readFileSync(SAMPLE_PATH, 'utf8'))['as.up.data.forward'];

const START = '{"result":{"name":"events.stream.start","time":"2025-11-07T08:52:00.000000001Z"}}';
const UPLINK = JSON.stringify({ result: sampleEvent });

/** Everything the splitter returns for these chunks, flush included. */
function split(...chunks: string[]): string[] {
  const splitter = new StreamLineSplitter();
  return [...chunks.flatMap((chunk) => splitter.push(chunk)), ...splitter.flush()];
}

describe('StreamLineSplitter', () => {
  it('splits messages separated by \\n (application/json)', () => {
    expect(split(`${START}\n${UPLINK}\n`)).toEqual([START, UPLINK]);
  });

  it('splits messages separated by a blank line (Accept: text/event-stream)', () => {
    expect(split(`${START}\n\n${UPLINK}\n\n`)).toEqual([START, UPLINK]);
  });

  it('keeps a message cut by chunk boundaries until its newline arrives', () => {
    const splitter = new StreamLineSplitter();
    expect(splitter.push(START.slice(0, 10))).toEqual([]);
    expect(splitter.push(START.slice(10, 30))).toEqual([]);
    expect(splitter.push(`${START.slice(30)}\n${UPLINK.slice(0, 5)}`)).toEqual([START]);
    expect(splitter.push(`${UPLINK.slice(5)}\n`)).toEqual([UPLINK]);
    expect(splitter.flush()).toEqual([]);
  });

  it('gives the same messages whatever the chunk boundaries', () => {
    const text = `${START}\n\n${UPLINK}\r\n`;
    for (let cut = 0; cut <= text.length; cut++) {
      expect(split(text.slice(0, cut), text.slice(cut))).toEqual([START, UPLINK]);
    }
    expect(split(...text)).toEqual([START, UPLINK]); // one character per chunk
  });

  it('handles \\r\\n, also with \\r and \\n in different chunks', () => {
    expect(split(`${START}\r\n${UPLINK}\r\n`)).toEqual([START, UPLINK]);
    expect(split(`${START}\r`, `\n${UPLINK}\r`, '\n')).toEqual([START, UPLINK]);
  });

  it('drops keep-alive blank and whitespace-only lines', () => {
    expect(split('\n', '   \n\t\r\n', `${START}\n`, '\n\n \n')).toEqual([START]);
  });

  it('strips SSE data: framing and ignores the other SSE fields and comments', () => {
    const sse = [': keep-alive', 'event: message', 'id: 42', 'retry: 1000', `data: ${START}`, '', `data:${UPLINK}`, '', 'data: ', ''].join('\n');
    expect(split(sse)).toEqual([START, UPLINK]);
  });

  it('returns the last message on flush when the body ends without a newline', () => {
    const splitter = new StreamLineSplitter();
    expect(splitter.push(`${START}\n${UPLINK}`)).toEqual([START]);
    expect(splitter.flush()).toEqual([UPLINK]);
    expect(splitter.flush()).toEqual([]);
  });

  it('passes malformed lines on, for parseStreamMessage to report', () => {
    expect(split(`{"result": {"na\n${START}\n`)).toEqual(['{"result": {"na', START]);
  });
});

describe('parseStreamMessage', () => {
  it('reads {"result": event}', () => {
    expect(parseStreamMessage(UPLINK)).toEqual({ kind: 'event', event: sampleEvent });
  });

  it('reads an in-band error', () => {
    const line = JSON.stringify({
      error: { code: 16, message: 'error:pkg/auth:token_expired (token expired)', details: [{ '@type': 'type.googleapis.com/ttn.lorawan.v3.ErrorDetails' }] },
    });
    expect(parseStreamMessage(line)).toEqual({
      kind: 'error',
      error: { code: 16, message: 'error:pkg/auth:token_expired (token expired)', details: [{ '@type': 'type.googleapis.com/ttn.lorawan.v3.ErrorDetails' }] },
    });
  });

  it('reads the bare {code, message, details} error answer', () => {
    expect(parseStreamMessage('{"code":7,"message":"error:pkg/auth/rights:no_application_rights (no rights)","details":[]}')).toEqual({
      kind: 'error',
      error: { code: 7, message: 'error:pkg/auth/rights:no_application_rights (no rights)', details: [] },
    });
  });

  it('keeps an error without a message as an error', () => {
    expect(parseStreamMessage('{"error":{"code":14}}')).toEqual({ kind: 'error', error: { code: 14, message: '{"code":14}' } });
    expect(parseStreamMessage('{"error":"unavailable"}')).toEqual({ kind: 'error', error: { message: '"unavailable"' } });
  });

  it.each([
    ['not JSON', '{"result": {"na', 'not JSON: {"result": {"na'],
    ['HTML from a proxy', '<html><body>502 Bad Gateway</body></html>', 'not JSON: <html><body>502 Bad Gateway</body></html>'],
    ['an array', '[1,2]', 'not a JSON object: [1,2]'],
    ['a number', '42', 'not a JSON object: 42'],
    ['a result that is no object', '{"result": "x"}', 'result: expected an object'],
    ['neither result nor error', '{"hello": "world"}', 'neither result nor error: {"hello": "world"}'],
    // Postgres could store neither: the event is skipped instead of failing the stream for ever.
    ['a lone surrogate', '{"result": {"name": "as.up.data.forward", "data": {"x": "\\ud800"}}}', 'text must be valid Unicode: a lone surrogate (such as \\ud800) is not accepted'],
    ['a NUL', '{"result": {"name": "as.up.data.forward", "data": {"x": "a\\u0000"}}}', 'NUL characters (\\u0000) are not accepted'],
  ])('reports %s as invalid', (_case, line, reason) => {
    expect(parseStreamMessage(line)).toEqual({ kind: 'invalid', reason });
  });

  it('quotes at most 120 characters of a bad line', () => {
    const result = parseStreamMessage(`x${'y'.repeat(500)}`);
    expect(result.kind).toBe('invalid');
    expect(result.kind === 'invalid' && result.reason.length).toBeLessThan(140);
  });
});

describe('StreamLineSplitter with an endless line', () => {
  it('drops a line longer than the limit instead of buffering it, then goes on', () => {
    const splitter = new StreamLineSplitter();
    const piece = 'x'.repeat(1024 * 1024);
    const out: string[] = [];
    for (let i = 0; i < 6; i++) out.push(...splitter.push(piece));
    out.push(...splitter.push('yyy\n{"result":{"name":"ok"}}\n'));
    expect(out).toEqual(['{}', '{"result":{"name":"ok"}}']);
  });
});

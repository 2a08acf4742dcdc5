import { Writable } from 'node:stream';
import { LiveClient } from '../../src/live/live-client';
import { matchesLiveFilter } from '../../src/live/live-filter';
import { decodeLiveMessage, encodeLiveMessage, liveEventOf } from '../../src/live/live-message';
import type { NormalizedEvent } from '../../src/events/normalized-event';

/** A response whose socket takes nothing: every write stays buffered. */
const stalled = () => new Writable({ highWaterMark: 16, write: () => undefined });

describe('a live client', () => {
  it('writes frames while its buffer has room, and is cut off, once, when it would overflow', () => {
    const response = stalled();
    let drops = 0;
    const client = new LiveClient(response, 100, () => drops++);
    expect(client.send('x'.repeat(60))).toBe(true);
    expect(client.send('x'.repeat(40))).toBe(true);
    expect(response.writableLength).toBe(100);
    expect(client.send('x')).toBe(false);
    expect(response.destroyed).toBe(true);
    expect(client.send('x')).toBe(false);
    expect(drops).toBe(1);
  });

  it('counts bytes, not characters', () => {
    const client = new LiveClient(stalled(), 10, () => undefined);
    expect(client.send('é'.repeat(5))).toBe(true);
    expect(client.send('é')).toBe(false);
  });

  it('keeps up with a reader that takes what it is sent', () => {
    const taken: string[] = [];
    const response = new Writable({ write: (chunk: Buffer, _encoding, done) => (taken.push(chunk.toString()), done()) });
    const client = new LiveClient(response, 10, () => undefined);
    for (let i = 0; i < 100; i++) expect(client.send('12345678')).toBe(true);
    expect(taken).toHaveLength(100);
  });
});

describe('live filters', () => {
  const event = liveEventOf({ id: 'e1', type: 'uplink', network: 'helium', connectionId: 'c1', device: { id: 'd1' } } as NormalizedEvent, '{}');
  it.each([
    [{}, true],
    [{ network: 'helium', connectionId: 'c1', deviceId: 'd1', type: 'uplink' }, true],
    [{ network: 'sigfox' }, false],
    [{ connectionId: 'c2' }, false],
    [{ deviceId: 'd2' }, false],
    [{ type: 'join' }, false],
    [{ network: 'helium', type: 'join' }, false],
  ] as const)('%j matches: %s', (filter, expected) => {
    expect(matchesLiveFilter(filter as Parameters<typeof matchesLiveFilter>[0], event)).toBe(expected);
  });
});

describe('live bus messages', () => {
  const events = [
    { id: '0190a1b2-0000-7000-8000-000000000001', type: 'uplink', network: 'helium', connectionId: 'helium-a', deviceId: 'd1', json: '{"id":"1","text":"two\\nlines\\tand a tab"}' },
    { id: '0190a1b2-0000-7000-8000-000000000002', type: 'downlink.sent', network: 'tts', connectionId: 'tts-b', deviceId: 'd2', json: '{"id":"2"}' },
  ];

  it('carry each event\'s document as the text fan-out made, with its filter fields', () => {
    const decoded = decodeLiveMessage(encodeLiveMessage(events));
    expect(decoded).toEqual(events);
    expect(decoded[0].json).toBe(events[0].json);
  });

  it.each(['[{"id":"1"}]', 'a\tb\n{}', '', 'a\tb\tc\td\te\nnot json'])('refuse a message they did not write: %j', (message) => {
    expect(() => decodeLiveMessage(message)).toThrow(/not a live message/);
  });
});

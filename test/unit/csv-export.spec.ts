import { csvRow, csvText } from '../../src/events/event-export';
import type { NormalizedEvent } from '../../src/events/normalized-event';

const event = (externalId: string, decoded: unknown, rssi: number): NormalizedEvent => ({
  id: '0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b',
  type: 'uplink',
  network: 'helium',
  connectionId: 'fleet',
  device: { id: 'b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e', externalId, name: null, devEui: null, joinEui: null },
  time: '2026-12-01T10:00:00.000Z',
  receivedAt: '2026-12-01T10:00:00.100Z',
  uplink: { port: 1, fcnt: 7, confirmed: false, payloadHex: '0a1b', payloadBase64: 'Chs=', decoded },
  radio: { frequencyHz: null, dataRate: null, spreadingFactor: null, bandwidthHz: null, rssi, snr: -7.5, gateways: [] },
  status: null,
  ack: null,
  location: null,
  raw: {},
});

describe('CSV export cells a spreadsheet would run as formulas', () => {
  it.each(['=1+2', '+1+2', '-1+2', '@SUM(A1)', '\tcmd', '\rcmd'])('prefixes a text cell starting like %j with a quote', (value) => {
    const cell = csvText(value);
    expect(cell.replace(/^"|"$/g, '')).toBe(`'${value}`);
  });

  it('leaves other text as RFC 4180 has it', () => {
    expect(csvText('a, "b"')).toBe('"a, ""b"""');
    expect(csvText('0080000004')).toBe('0080000004');
    expect(csvText(null)).toBe('');
  });

  it('neutralizes a hostile device id and decoded payload, and keeps negative readings numbers', () => {
    const row = csvRow(event('=HYPERLINK("http://x.test","hi")', '-2+3+cmd', -118));
    expect(row).toContain(`,fleet,"'=HYPERLINK(""http://x.test"",""hi"")",uplink,`);
    // `decoded` as JSON: a string starts with its quote, harmless; the cell is still quoted by RFC 4180.
    expect(row.endsWith(',-118,-7.5,"""-2+3+cmd"""\r\n')).toBe(true);
    expect(csvRow(event('00AB', -5, -60)).trimEnd().split(',').slice(-3)).toEqual(['-60', '-7.5', "'-5"]);
  });
});

import { mergeRadio, radioWithGateways } from '../../src/events/radio';

describe('radio', () => {
  it('takes the best rssi and snr of the gateways and merges by id', () => {
    const a = radioWithGateways({ frequencyHz: 1, dataRate: null, spreadingFactor: null, bandwidthHz: null }, [
      { id: 'a', name: null, rssi: -90, snr: 2, location: null },
    ]);
    const b = radioWithGateways({ frequencyHz: 1, dataRate: null, spreadingFactor: null, bandwidthHz: null }, [
      { id: 'b', name: null, rssi: -60, snr: 1, location: null },
      { id: 'a', name: null, rssi: -10, snr: 9, location: null },
    ]);
    const merged = mergeRadio(a, b)!;
    expect(merged.gateways.map((g) => g.id)).toEqual(['a', 'b']);
    expect(merged.rssi).toBe(-60);
    expect(merged.snr).toBe(2);
  });
});

import type { Pool } from 'pg';
import { EventCopyMerger } from '../../src/events/event-copy-merger';
import { radioWithGateways } from '../../src/events/radio';

const radio = (id: string) => radioWithGateways({ frequencyHz: 868_100_000, dataRate: 'SF7BW125', spreadingFactor: 7, bandwidthHz: 125_000 }, [{ id, name: null, rssi: -100, snr: 1, location: null }]);

/**
 * The merge's rounds against a Postgres whose event always changed between the read and the write
 * (other processes merging into it without pause): a state a real database gives only by chance.
 */
describe('EventCopyMerger rounds', () => {
  it('answers a copy that lost every round with its event, unmerged, rather than failing its request', async () => {
    const statements: string[] = [];
    const pool = {
      query: async (config: { name: string }) => {
        statements.push(config.name);
        if (config.name === 'read-copy-holders') return { rows: [{ n: 0, event_id: 'event-1', event_time: new Date(), found: true, radio: radio('first'), version: 'v1' }] };
        return { rows: [] }; // the update found the radio changed again
      },
    } as unknown as Pool;
    const merged = await new EventCopyMerger(pool).merge({ connectionId: 'c', dedupKey: 'k', time: new Date().toISOString(), radio: radio('copy') });
    expect(merged).toEqual({ id: 'event-1', radio: radio('first') });
    expect(statements.filter((name) => name === 'merge-copies-radio')).toHaveLength(10);
  });
});

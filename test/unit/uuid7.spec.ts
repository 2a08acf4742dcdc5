import { uuid7 } from '../../src/common/uuid7';

describe('uuid7', () => {
  it('gives RFC 9562 version-7 ids, unique across refills of its random pool, ordered by time', () => {
    const ids = Array.from({ length: 2000 }, (_, i) => uuid7(1_700_000_000_000 + i));
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect([...ids].sort()).toEqual(ids);
    expect(uuid7(0x0123456789ab).slice(0, 13)).toBe('01234567-89ab');
  });

  it('orders the ids of one millisecond as they were made', () => {
    const ids = Array.from({ length: 1000 }, () => uuid7(1_700_000_000_000));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it('stays monotonic past the 4096 ids its counter holds in one millisecond, borrowing the next ones', () => {
    const ms = 1_700_000_001_000;
    const ids = Array.from({ length: 100_000 }, () => uuid7(ms));
    expect(ids.findIndex((id, i) => i > 0 && id <= ids[i - 1])).toBe(-1);
    for (const id of [ids[0], ids[ids.length - 1]]) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const msOf = (id: string) => parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    expect(msOf(ids[0])).toBe(ms);
    // At least 2048 ids a millisecond: never more than ~49 ms ahead for 100 000 ids.
    expect(msOf(ids[ids.length - 1]) - ms).toBeLessThanOrEqual(100_000 / 2048);
    // The next millisecond of the clock continues after the borrowed ones.
    const next = uuid7(ms + 1);
    expect(next > ids[ids.length - 1]).toBe(true);
  });

  it('writes the time it is given when the clock goes back', () => {
    uuid7(1_700_000_002_000);
    expect(parseInt(uuid7(1_600_000_000_000).replace(/-/g, '').slice(0, 12), 16)).toBe(1_600_000_000_000);
  });
});

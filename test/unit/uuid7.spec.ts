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
});

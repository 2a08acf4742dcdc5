import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectionSnapshot } from '../../src/connections/connection-snapshot';

const record = (id: string) => ({ id, network: 'helium', name: id, settings: {}, secrets: null, ingestTokenHash: 'hash' });

describe('connection snapshot (the copy on disk an api journals by when Postgres is down)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'lpwan-snapshot-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps a connection recorded while the file is first read, for a lookup made meanwhile', async () => {
    const snapshot = ConnectionSnapshot.in(dir);
    // As a fresh api: a connection created, then its first request, before the file was read once.
    const remembered = snapshot.remember('created', record('created'));
    const found = snapshot.get('created');
    await remembered;
    expect(await found).toEqual(record('created'));
    expect(await ConnectionSnapshot.in(dir).get('created')).toEqual(record('created'));
  });

  it('keeps a connection remembered while the full list was read, though the list predates it', async () => {
    const snapshot = ConnectionSnapshot.in(dir);
    await snapshot.remember('old', record('old'));
    await snapshot.remember('gone', record('gone'));
    let listed!: (list: ReturnType<typeof record>[]) => void;
    // As at a start: the refresh reads Postgres, and a connection is created and another deleted before it answers.
    const refreshed = snapshot.replaceAll(() => new Promise((resolve) => (listed = resolve)));
    await snapshot.remember('created', record('created'));
    await snapshot.remember('gone', null);
    listed([record('gone'), record('old')]);
    await refreshed;
    expect(await snapshot.get('created')).toEqual(record('created'));
    expect(await snapshot.get('gone')).toBeUndefined();
    expect(await ConnectionSnapshot.in(dir).get('created')).toEqual(record('created'));
    // The next refresh lists it: what Postgres says wins again.
    await snapshot.replaceAll(async () => [record('old')]);
    expect(await snapshot.get('created')).toBeUndefined();
  });

  it('reads a damaged copy as what it can of it, and records over it', async () => {
    writeFileSync(join(dir, 'connections.json'), JSON.stringify([null, 5, { name: 'no id' }, record('kept')]));
    const snapshot = ConnectionSnapshot.in(dir);
    expect(await snapshot.get('kept')).toEqual(record('kept'));
    await snapshot.remember('created', record('created'));
    expect(await ConnectionSnapshot.in(dir).get('created')).toEqual(record('created'));
    writeFileSync(join(dir, 'connections.json'), '[{"id": "trunc');
    expect(await ConnectionSnapshot.in(dir).get('kept')).toBeUndefined();
  });
});

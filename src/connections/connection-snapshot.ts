import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** The columns of a connection that ingest needs, as stored: secrets stay sealed with SECRETS_KEY. */
export interface ConnectionRecord {
  id: string;
  network: string;
  name: string;
  settings: unknown;
  secrets: string | null;
  ingestTokenHash: string;
}

/**
 * A copy on local disk of the connections this process has served, so that an api process
 * restarted while Postgres is unreachable still recognizes its networks' requests (and journals
 * them) instead of refusing them all. Rewritten only when a connection read from Postgres changed.
 */
export class ConnectionSnapshot {
  private records?: Map<string, ConnectionRecord>;
  private loading?: Promise<void>;
  private writing: Promise<void> = Promise.resolve();
  /** Counts the calls of remember; `rememberedAt` gives each id's last one, for replaceAll. */
  private remembered = 0;
  private readonly rememberedAt = new Map<string, number>();

  constructor(private readonly path: string) {}

  static in(dir: string): ConnectionSnapshot {
    return new ConnectionSnapshot(join(dir, 'connections.json'));
  }

  async get(id: string): Promise<ConnectionRecord | undefined> {
    return (await this.load()).get(id);
  }

  /** Records what Postgres said of `id` (null: it no longer exists). Never fails the caller. */
  async remember(id: string, record: ConnectionRecord | null): Promise<void> {
    this.rememberedAt.set(id, ++this.remembered);
    const records = await this.load();
    const known = records.get(id);
    if (record ? JSON.stringify(known) === JSON.stringify(record) : !known) return;
    if (record) records.set(id, record);
    else records.delete(id);
    await this.save(records);
  }

  /**
   * Every connection Postgres holds, as `read` lists them. A connection remembered while `read`
   * ran keeps what was remembered: the list may predate it, and a connection created just then
   * would otherwise be missing from the copy until the next refresh, its ingest refused if
   * Postgres went down meanwhile.
   */
  async replaceAll(read: () => Promise<ConnectionRecord[]>): Promise<void> {
    const readSince = this.remembered;
    const list = await read();
    const records = await this.load();
    const next = new Map(list.map((record) => [record.id, record]));
    for (const [id, at] of this.rememberedAt) {
      if (at <= readSince) this.rememberedAt.delete(id);
      else if (records.has(id)) next.set(id, records.get(id)!);
      else next.delete(id);
    }
    if (JSON.stringify([...records.values()]) === JSON.stringify([...next.values()])) return;
    this.records = next;
    await this.save(this.records);
  }

  private async save(records: Map<string, ConnectionRecord>): Promise<void> {
    const text = JSON.stringify([...records.values()]);
    this.writing = this.writing
      .then(async () => {
        await mkdir(dirname(this.path), { recursive: true });
        await writeFile(`${this.path}.tmp`, text, { mode: 0o600 });
        await rename(`${this.path}.tmp`, this.path);
      })
      .catch(() => undefined);
    await this.writing;
  }

  /** One read of the file, shared: two first calls each reading it would let the later read drop what the earlier caller recorded. */
  private async load(): Promise<Map<string, ConnectionRecord>> {
    this.loading ??= readFile(this.path, 'utf8')
      .catch(() => '[]')
      .then((text) => {
        this.records = new Map(parseRecords(text).map((record) => [record.id, record]));
      });
    await this.loading;
    // replaceAll may have put another map in its place since.
    return this.records!;
  }
}

/** A damaged copy is no copy (Postgres fills it again): what cannot be read is left out, never thrown. */
function parseRecords(text: string): ConnectionRecord[] {
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch {
    return [];
  }
  return Array.isArray(list) ? list.filter((record): record is ConnectionRecord => typeof (record as ConnectionRecord | null)?.id === 'string') : [];
}

import type { EventRow, InsertOutcome } from './event-rows';
import { mergeRadio } from './radio';

/**
 * The rows of a batch with its copies folded into their first: a row whose identity is that of an
 * earlier row of the batch (the lowest id, as the insert picks) is a copy of it when the first's
 * window holds it, and only adds its gateways to the first's row. This is what a multi-buy looks
 * like under load (the copies of an uplink arrive together), and it costs no statement. Rows out of
 * their first's window go to the insert, which finds their identity held, as before.
 */
export interface FoldedBatch {
  /** What the insert is given: the firsts, with their copies' gateways, and the unfolded rows. */
  rows: EventRow[];
  /** By position in the batch, the position in `rows` of the row it was sent as or folded into. */
  sentAs: number[];
  folded: boolean[];
}

export function foldCopies(batch: EventRow[]): FoldedBatch {
  const order = batch.map((_, n) => n).sort((a, b) => (batch[a].id < batch[b].id ? -1 : batch[a].id > batch[b].id ? 1 : a - b));
  const firstOfKey = new Map<string, number>();
  const rows: EventRow[] = [];
  const sentAs: number[] = new Array<number>(batch.length);
  const folded = batch.map(() => false);
  for (const n of order) {
    const row = batch[n];
    const key = `${row.connection_id}\u0000${row.dedup_key}`;
    const first = firstOfKey.get(key);
    if (first !== undefined && isCopyOf(row, rows[first])) {
      const into = rows[first];
      rows[first] = { ...into, body: { ...into.body, radio: mergeRadio(into.body.radio ?? null, row.body.radio ?? null) } };
      sentAs[n] = first;
      folded[n] = true;
      continue;
    }
    if (first === undefined) firstOfKey.set(key, rows.length);
    sentAs[n] = rows.length;
    rows.push(row);
  }
  return { rows, sentAs, folded };
}

/** The event_identities rule, for a row and the first of its batch: no window, or within it. */
function isCopyOf(row: EventRow, first: EventRow): boolean {
  return first.window_ms === null || Math.abs(row.time.getTime() - first.time.getTime()) <= first.window_ms;
}

export function outcomeOf(batch: FoldedBatch, n: number, inserted: Set<string>): InsertOutcome {
  const sent = batch.rows[batch.sentAs[n]];
  if (!inserted.has(sent.id)) return { stored: 'held' };
  return { stored: batch.folded[n] ? 'copy' : 'new', id: sent.id, radio: sent.body.radio ?? null };
}

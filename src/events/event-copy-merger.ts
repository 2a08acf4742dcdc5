import { Logger } from '@nestjs/common';
import type { Pool } from 'pg';
import { CoalescingBatcher, ItemFailure } from '../common/coalescing-batcher';
import { isRowError } from './event-batch-writer';
import { Radio } from './normalized-event';
import { mergeRadio } from './radio';

/** A copy of an event, as the insert found it: its identity was held. */
export interface EventCopy {
  connectionId: string;
  dedupKey: string;
  /** ISO time of the copy: a windowed identity names its event only within the window. */
  time: string;
  radio: Radio | null;
}

/** The event a copy was merged into, and its radio with the copy's gateways. */
export interface MergedCopy {
  id: string;
  radio: Radio | null;
}

/** What the identity of a copy names. */
interface HolderRow {
  n: number;
  event_id: string;
  event_time: Date;
  /** False when retention removed the event. */
  found: boolean;
  radio: Radio | null;
  /** The stored radio's digest: the merge writes only over the radio it read. */
  version: string;
}

/** Read-and-write rounds a batch may lose to another process merging into the same events. */
const MAX_ROUNDS = 10;
const DEADLOCK_DETECTED = '40P01';

/**
 * Adds the gateways of copies (multi-buy, a network's retries) to the events their identities
 * name. The copies of concurrent requests go together: one read of their events and one update
 * per batch, however many copies it holds, where a transaction of five statements per copy was
 * most of the bridge's round trips to Postgres under load.
 *
 * No lock is held between the read and the write: the update writes an event only if its radio
 * is still the one read, so that copies merged at the same time by other processes all count; an
 * event another process changed meanwhile is read and merged again.
 */
export class EventCopyMerger {
  private readonly logger = new Logger(EventCopyMerger.name);
  private readonly batcher = new CoalescingBatcher<EventCopy, MergedCopy | null>((copies) => this.mergeBatch(copies));

  constructor(private readonly pool: Pool) {}

  /** Resolves once the copy's gateways are committed; null when no identity names an event it is a copy of. */
  merge(copy: EventCopy): Promise<MergedCopy | null> {
    return this.batcher.push(copy);
  }

  private async mergeBatch(copies: EventCopy[]): Promise<Array<MergedCopy | null | ItemFailure>> {
    try {
      return await this.mergeAll(copies);
    } catch (error) {
      // A copy Postgres refuses must not fail other requests' copies: retry them alone.
      if (copies.length === 1 || !isRowError(error)) throw error;
      const results: Array<MergedCopy | null | ItemFailure> = [];
      for (const copy of copies) results.push(await this.mergeAll([copy]).then(([result]) => result, (failure: unknown) => new ItemFailure(failure)));
      return results;
    }
  }

  private async mergeAll(copies: EventCopy[]): Promise<Array<MergedCopy | null>> {
    const results: Array<MergedCopy | null> = copies.map(() => null);
    let left = copies.map((_, n) => n);
    const lastRead = new Map<number, HolderRow>();
    for (let round = 0; left.length; round++) {
      if (round === MAX_ROUNDS) {
        // Their event is stored: what is lost is these copies' extra gateways, not a message, so
        // the request is still answered (a 5xx would not bring them back: networks do not retry).
        for (const n of left) {
          const holder = lastRead.get(n)!;
          this.logger.warn(`copy of ${copies[n].dedupKey}: its gateways were not added to event ${holder.event_id}, which other writers kept changing`);
          results[n] = { id: holder.event_id, radio: holder.radio };
        }
        break;
      }
      const holders = await this.readHolders(left.map((n) => ({ n, copy: copies[n] })));
      for (const holder of holders) lastRead.set(holder.n, holder);
      // The copies of one event are folded together, in arrival order: one write per event.
      const byEvent = new Map<string, { holder: HolderRow; radio: Radio | null; copies: number[] }>();
      for (const holder of holders) {
        const group = byEvent.get(holder.event_id) ?? { holder, radio: holder.radio, copies: [] };
        group.radio = mergeRadio(group.radio, copies[holder.n].radio);
        group.copies.push(holder.n);
        byEvent.set(holder.event_id, group);
      }
      const changed = [...byEvent.values()].filter((group) => group.holder.found && JSON.stringify(group.radio) !== JSON.stringify(group.holder.radio));
      const written = await this.write(changed);
      const unwritten = new Set(changed.filter((group) => !written.has(group.holder.event_id)).map((group) => group.holder.event_id));
      left = [];
      for (const { holder, radio, copies: members } of byEvent.values()) {
        if (unwritten.has(holder.event_id)) {
          left.push(...members);
          continue;
        }
        // Gone when retention removed it: the copy has nothing left to add to.
        for (const n of members) results[n] = { id: holder.event_id, radio: holder.found ? radio : copies[n].radio };
      }
      left.sort((a, b) => a - b);
    }
    return results;
  }

  /** The event each copy's identity names, if it names one; the copies without one are left out. */
  private async readHolders(copies: Array<{ n: number; copy: EventCopy }>): Promise<HolderRow[]> {
    const { rows } = await this.pool.query<HolderRow>({
      name: 'read-copy-holders',
      // event_time lets Postgres go straight to the event's partition when events are partitioned by time.
      // The lateral LIMIT 1 keeps each identity a lookup by its key: as a join, Postgres took the
      // batch for 100 rows (its guess for any recordset) and scanned every identity (4 ms at 15,000).
      text: `SELECT c.n, i.event_id, i.event_time, e.id IS NOT NULL AS found, e.body->'radio' AS radio,
                    md5(coalesce((e.body->'radio')::text, 'null')) AS version
             FROM jsonb_to_recordset($1::jsonb) AS c(n integer, connection_id text, dedup_key text, time timestamptz)
             CROSS JOIN LATERAL (
               SELECT event_id, event_time FROM event_identities
               WHERE connection_id = c.connection_id AND identity_key = c.dedup_key AND expires_at > now()
                 AND (window_ms IS NULL OR abs(extract(epoch FROM c.time - event_time) * 1000) <= window_ms)
               LIMIT 1
             ) i
             LEFT JOIN events e ON e.id = i.event_id AND e.time = i.event_time
             ORDER BY c.n`,
      values: [JSON.stringify(copies.map(({ n, copy }) => ({ n, connection_id: copy.connectionId, dedup_key: copy.dedupKey, time: copy.time })))],
    });
    return rows;
  }

  /**
   * Writes each event's merged radio where it is still the one read; the ids written. Events go
   * in id order, so that two processes' batches lock them in the same order.
   */
  private async write(groups: Array<{ holder: HolderRow; radio: Radio | null }>): Promise<Set<string>> {
    if (groups.length === 0) return new Set();
    groups = [...groups].sort((a, b) => (a.holder.event_id < b.holder.event_id ? -1 : 1));
    const result = await this.pool.query<{ id: string }>({
      name: 'merge-copies-radio',
      text: `UPDATE events e SET body = jsonb_set(e.body, '{radio}', m.radio)
             FROM jsonb_to_recordset($1::jsonb) AS m(id uuid, time timestamptz, radio jsonb, version text)
             WHERE e.id = m.id AND e.time = m.time AND md5(coalesce((e.body->'radio')::text, 'null')) = m.version
             RETURNING e.id`,
      values: [JSON.stringify(groups.map(({ holder, radio }) => ({ id: holder.event_id, time: holder.event_time, radio, version: holder.version })))],
    }).catch((error: unknown) => {
      // Should the plan lock them in another order after all, the next round writes them again.
      if ((error as { code?: string })?.code === DEADLOCK_DETECTED) return { rows: [] };
      throw error;
    });
    return new Set(result.rows.map((row) => row.id));
  }
}

import { Readable } from 'node:stream';
import type { EventCursor } from './event-cursor';
import type { NormalizedEvent } from './normalized-event';

export type ExportFormat = 'ndjson' | 'csv';

/** Rows fetched from the cursor at a time: the most the export holds in memory. */
const FETCH_ROWS = 500;

export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  ndjson: 'application/x-ndjson; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
};

const CSV_COLUMNS = ['id', 'time', 'network', 'connectionId', 'externalId', 'type', 'fcnt', 'port', 'payloadHex', 'rssi', 'snr', 'decoded'] as const;

/** RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled; null is empty. */
export function csvField(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * Spreadsheets run a cell that starts with one of these as a formula (CSV injection): a device
 * id or a decoded payload comes from the field, not from the operator.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

/** A text cell: a leading `'` when a spreadsheet would read it as a formula (OWASP's advice), then csvField. Numbers never pass here. */
export function csvText(value: string | null | undefined): string {
  if (value === null || value === undefined) return '';
  return csvField(FORMULA_START.test(value) ? `'${value}` : value);
}

export function csvHeader(): string {
  return `${CSV_COLUMNS.join(',')}\r\n`;
}

/** One flat row: the uplink and radio fields an analysis needs, `decoded` as JSON; text cells go through csvText, numbers as they are. */
export function csvRow(event: NormalizedEvent): string {
  const decoded = event.uplink?.decoded;
  const cells = [
    csvText(event.id),
    csvText(event.time),
    csvText(event.network),
    csvText(event.connectionId),
    csvText(event.device.externalId),
    csvText(event.type),
    csvField(event.uplink?.fcnt),
    csvField(event.uplink?.port),
    csvText(event.uplink?.payloadHex),
    csvField(event.radio?.rssi),
    csvField(event.radio?.snr),
    csvText(decoded === null || decoded === undefined ? null : JSON.stringify(decoded)),
  ];
  return `${cells.join(',')}\r\n`;
}

/**
 * The export (the cursor's lines, EventHistory.openCursor) as a pull stream: a batch is fetched only when the client has taken the previous
 * one (Readable calls `_read` again once its buffer drains), so a slow client slows the cursor
 * instead of filling memory. A client that goes away destroys the stream, which closes the cursor.
 * An error mid-way (headers already sent) cuts the response short, so the client sees it truncated.
 */
export function exportStream(cursor: EventCursor<string>, format: ExportFormat): Readable {
  let started = false;
  return new Readable({
    async read() {
      try {
        const lines = await cursor.next(FETCH_ROWS);
        const head = !started && format === 'csv' ? csvHeader() : '';
        started = true;
        if (lines.length === 0) {
          await cursor.close();
          if (head) this.push(head);
          this.push(null);
          return;
        }
        this.push(head + lines.join(''));
      } catch (error) {
        this.destroy(error as Error);
      }
    },
    destroy(error, callback) {
      cursor.close().then(
        () => callback(error),
        () => callback(error),
      );
    },
  });
}

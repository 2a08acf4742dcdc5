import { unstorableText } from '../../common/storable-text';
/*
 * The TTS events stream is not real Server-Sent Events: each message is one compact JSON object
 * on its own line, separated by `\n` (application/json) or by a blank line (text/event-stream).
 * The splitter accepts both, and SSE `data:` framing too in case a proxy adds it.
 */

/** A line longer than this is no TTS event (they are a few KiB): it is dropped, not buffered forever. */
export const MAX_LINE_CHARS = 4 * 1024 * 1024;

/** Splits the stream's text, chunk by chunk, into the JSON text of each message. */
export class StreamLineSplitter {
  private partial = '';
  /** True while the rest of an over-long line is being skipped. */
  private skipping = false;

  /**
   * The messages completed by `chunk`; a line cut at the chunk's end waits for the next one.
   * An over-long line comes out as an empty object text, so the caller logs it as malformed.
   */
  push(chunk: string): string[] {
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop() ?? '';
    const texts: string[] = [];
    for (const line of lines) {
      if (this.skipping) {
        this.skipping = false;
        continue;
      }
      const text = messageText(line);
      if (text !== null) texts.push(text);
    }
    if (this.partial.length > MAX_LINE_CHARS) {
      this.partial = '';
      if (!this.skipping) texts.push('{}');
      this.skipping = true;
    }
    return texts;
  }

  /** At the end of the body: the last message, if it had no newline after it. */
  flush(): string[] {
    const text = messageText(this.partial);
    this.partial = '';
    return text === null ? [] : [text];
  }
}

/** The JSON text of one line, or null for blank lines and SSE fields that carry no data. */
function messageText(line: string): string | null {
  const trimmed = line.trim();
  if (!trimmed) return null;
  if (trimmed.startsWith('data:')) return trimmed.slice('data:'.length).trim() || null;
  // SSE comments (`:` keep-alives) and other SSE fields (event:, id:, retry:).
  if (/^(?::|event:|id:|retry:)/.test(trimmed)) return null;
  return trimmed;
}

/** TTS's error: `{"code": 16, "message": "error:pkg/…:… (…)", "details": […]}`. */
export interface TtsStreamError {
  code?: number;
  message: string;
  details?: unknown[];
}

export type StreamMessage =
  | { kind: 'event'; event: unknown }
  | { kind: 'error'; error: TtsStreamError }
  | { kind: 'invalid'; reason: string };

/**
 * Reads one message: `{"result": <event>}`, an in-band `{"error": …}` (the stream ends after
 * it), or the bare `{"code", "message", "details"}` some error answers have.
 */
export function parseStreamMessage(line: string): StreamMessage {
  let message: unknown;
  try {
    message = JSON.parse(line);
  } catch {
    return { kind: 'invalid', reason: `not JSON: ${abbreviate(line)}` };
  }
  if (!isObject(message)) return { kind: 'invalid', reason: `not a JSON object: ${abbreviate(line)}` };
  const unstorable = unstorableText(message);
  if (unstorable) return { kind: 'invalid', reason: unstorable };
  if ('result' in message) {
    return isObject(message.result) ? { kind: 'event', event: message.result } : { kind: 'invalid', reason: 'result: expected an object' };
  }
  if ('error' in message) return { kind: 'error', error: streamError(message.error) };
  if (typeof message.message === 'string' && typeof message.code === 'number') return { kind: 'error', error: streamError(message) };
  return { kind: 'invalid', reason: `neither result nor error: ${abbreviate(line)}` };
}

/** An error is the end of the stream whatever its shape: never lose one for a missing field. */
function streamError(error: unknown): TtsStreamError {
  if (!isObject(error)) return { message: abbreviate(JSON.stringify(error) ?? 'error') };
  return {
    message: typeof error.message === 'string' ? error.message : abbreviate(JSON.stringify(error)),
    ...(typeof error.code === 'number' && { code: error.code }),
    ...(Array.isArray(error.details) && { details: error.details }),
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Logs quote the bad line, not a megabyte of it. */
function abbreviate(text: string): string {
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}

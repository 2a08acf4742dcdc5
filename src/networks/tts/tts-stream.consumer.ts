import type { Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import type { OpenConnection } from '../../connections/connections.service';
import type { PrismaService } from '../../database/prisma.service';
import { isPostgresUnavailable } from '../../common/unavailable';
import { Prisma } from '../../generated/prisma/client';
import type { IngestService } from '../../ingest/ingest.service';
import { parseStreamMessage, StreamLineSplitter } from './stream-lines';
import { mapStreamEvent, TTS_STREAM_EVENT_NAMES } from './tts.mapper';
import { ttsStreamEventSchema } from './tts.schema';

/** What `GET /api/connections/{id}/status` shows as `stream.state`. */
export type StreamState = 'connecting' | 'connected' | 'reconnecting' | 'unauthorized' | 'failed' | 'stopped';

/** The states in which the consumer gave up; it starts again when the connection is updated. */
export const GAVE_UP_STATES: ReadonlySet<string | null> = new Set<StreamState>(['unauthorized', 'failed']);

/** Upper bound of the backlog asked for on a reconnect. */
const RESUME_TAIL = 1000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 60_000;
/** A stream that stayed open this long was healthy: the next reconnect starts the backoff over. */
const STABLE_STREAM_MS = 10_000;
const EVENTS_PATH = '/api/v3/events';

export interface StreamConsumerOptions {
  idleTimeoutMs: number;
  userAgent: string;
}

export interface StreamConsumerDeps {
  ingest: IngestService;
  prisma: PrismaService;
  logger: Logger;
}

/** How one request to the events endpoint ended. */
type AttemptOutcome =
  | { kind: 'retry'; reason: string; retryAfterMs?: number; routine?: boolean }
  | { kind: 'give-up'; state: 'unauthorized' | 'failed'; reason: string }
  | { kind: 'stopped' };

/**
 * Consumes the events stream of one TTS application: holds `POST /api/v3/events` open, stores each
 * event through the ingest path, remembers the time of the last event seen in
 * `connections.stream_position`, and on every reconnect asks for what it missed since then.
 * Replayed events carry the same dedup key as the first copy, so they are stored and published once.
 */
export class TtsStreamConsumer {
  private readonly stopping = new AbortController();
  private finished: Promise<void> = Promise.resolve();
  private active = false;
  private failures = 0;
  /** Date.now() when the current stream opened; null while not connected. */
  private connectedAt: number | null = null;
  private warnedNoHistory = false;
  private readonly settings: { baseUrl: string; applicationId: string; apiKey: string };

  constructor(
    private readonly connection: OpenConnection,
    /** Time of the last event seen, from the database; null for a stream that never ran. */
    private position: Date | null,
    private readonly deps: StreamConsumerDeps,
    private readonly options: StreamConsumerOptions,
  ) {
    this.settings = connection.settings as typeof this.settings;
  }

  /** False once it stopped or gave up. */
  get running(): boolean {
    return this.active;
  }

  /** Runs in the background until `stop()`, or until it gives up (401/403, other 4xx): then `onGaveUp`. */
  start(onGaveUp: () => void): void {
    this.active = true;
    this.finished = this.run().then((gaveUp) => {
      this.active = false;
      if (gaveUp) onGaveUp();
    });
  }

  /** Closes the stream; resolves once the event being stored, if any, is stored. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.finished;
  }

  private async run(): Promise<boolean> {
    await this.setState('connecting', null);
    while (!this.stopping.signal.aborted) {
      const outcome = await this.attempt();
      if (outcome.kind === 'stopped') break;
      if (outcome.kind === 'give-up') {
        this.deps.logger.error(`TTS stream of connection ${this.connection.id} stopped: ${outcome.reason}; it starts again when the connection is updated`);
        await this.setState(outcome.state, outcome.reason);
        return true;
      }
      if (this.connectedAt !== null && Date.now() - this.connectedAt >= STABLE_STREAM_MS) this.failures = 0;
      this.connectedAt = null;
      const delayMs = Math.round(Math.max(outcome.retryAfterMs ?? 0, this.nextBackoffMs()));
      const message = `TTS stream of connection ${this.connection.id}: ${outcome.reason}; reconnecting in ${delayMs} ms`;
      if (outcome.routine) this.deps.logger.log(message);
      else this.deps.logger.warn(message);
      await this.setState('reconnecting', outcome.reason);
      await sleep(delayMs, undefined, { signal: this.stopping.signal }).catch(() => undefined);
    }
    return false;
  }

  /** One request: open the stream and read it until it ends, breaks, goes silent or is stopped. */
  private async attempt(): Promise<AttemptOutcome> {
    const thisAttempt = new AbortController();
    let idle = false;
    let idleTimer: NodeJS.Timeout | undefined;
    const restartIdleTimer = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => {
        idle = true;
        thisAttempt.abort();
      }, this.options.idleTimeoutMs);
    };
    restartIdleTimer();
    try {
      const response = await fetch(this.settings.baseUrl.replace(/\/+$/, '') + EVENTS_PATH, {
        method: 'POST',
        headers: {
          accept: 'text/event-stream',
          'content-type': 'application/json',
          authorization: `Bearer ${this.settings.apiKey}`,
          'user-agent': this.options.userAgent,
        },
        body: JSON.stringify(this.streamRequest()),
        signal: AbortSignal.any([this.stopping.signal, thisAttempt.signal]),
      });
      if (response.status !== 200) return await refusal(response);
      this.connectedAt = Date.now();
      this.warnIfNoHistory(response.headers.get('x-warning'));
      await this.setState('connected', null);
      const resuming = this.position ? `, resuming after ${this.position.toISOString()}` : '';
      this.deps.logger.log(`TTS stream of connection ${this.connection.id} open${resuming}`);
      if (!response.body) return { kind: 'retry', reason: 'TTS answered without a body' };
      return await this.read(response.body, restartIdleTimer);
    } catch (error) {
      if (this.stopping.signal.aborted) return { kind: 'stopped' };
      // TTS sends no heartbeats: on a quiet application this is the normal way to notice a dead connection.
      if (idle) return { kind: 'retry', reason: `no message for ${this.options.idleTimeoutMs} ms, reopening`, routine: true };
      return { kind: 'retry', reason: describeError(error) };
    } finally {
      clearTimeout(idleTimer);
      // Closes the connection when the stream is left for an in-band error or a failed store.
      thisAttempt.abort();
    }
  }

  private async read(body: ReadableStream<Uint8Array>, restartIdleTimer: () => void): Promise<AttemptOutcome> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    const splitter = new StreamLineSplitter();
    for (;;) {
      const { done, value } = await reader.read();
      const lines = done ? [...splitter.push(decoder.decode()), ...splitter.flush()] : splitter.push(decoder.decode(value, { stream: true }));
      if (!done) restartIdleTimer();
      for (const line of lines) {
        const streamError = await this.handleLine(line);
        if (streamError) return { kind: 'retry', reason: streamError };
      }
      if (done) return { kind: 'retry', reason: 'TTS closed the stream' };
    }
  }

  /**
   * Stores the event a line carries. Returns the reason when the line ends the stream (an in-band
   * error); a line it cannot read is logged and skipped. A failure to store throws: the stream is
   * reopened from the last stored position, so that the event is not lost.
   */
  private async handleLine(line: string): Promise<string | null> {
    const message = parseStreamMessage(line);
    if (message.kind === 'error') return `TTS ended the stream: ${message.error.message}`;
    if (message.kind === 'invalid') {
      this.deps.logger.warn(`TTS stream of connection ${this.connection.id}: skipped a malformed line (${message.reason})`);
      return null;
    }
    const parsed = ttsStreamEventSchema.safeParse(message.event);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'event'}: ${issue.message}`).join('; ');
      this.deps.logger.warn(`TTS stream of connection ${this.connection.id}: skipped an unreadable event (${issues})`);
      return null;
    }
    const streamEvent = parsed.data;
    if (streamEvent.name === 'events.stream.start') {
      // A stream that never ran starts its position here, so a break before the first event loses nothing.
      if (!this.position) await this.advance(streamEvent.time, false);
      return null;
    }
    let event: ReturnType<typeof mapStreamEvent> = null;
    try {
      event = mapStreamEvent(streamEvent);
    } catch (error) {
      this.deps.logger.warn(`TTS stream of connection ${this.connection.id}: skipped ${streamEvent.name} ${streamEvent.unique_id ?? ''}: ${(error as Error).message}`);
    }
    if (event) await this.deps.ingest.accept(this.connection, [event]);
    await this.advance(streamEvent.time, event !== null);
    return null;
  }

  /** Moves the stored position forward to `time` (events may arrive out of order around a reconnect). */
  private async advance(time: string, stored: boolean): Promise<void> {
    const at = new Date(time.replace(/(\.\d{3})\d+/, '$1'));
    const advanced = !this.position || at > this.position;
    if (advanced) this.position = at;
    if (!advanced && !stored) return;
    const lastEventAt = stored ? Prisma.sql`, last_event_at = GREATEST(last_event_at, ${at})` : Prisma.empty;
    // Raw SQL: these columns are the stream's bookkeeping and must not move the connection's updated_at.
    // The event is durable (stored or journaled): with Postgres down, the position moves on in
    // memory and reaches Postgres with a later event.
    await this.deps.prisma.$executeRaw`
      UPDATE connections SET stream_position = GREATEST(stream_position, ${at}) ${lastEventAt} WHERE id = ${this.connection.id}`.catch((error: Error) => {
      if (!isPostgresUnavailable(error)) throw error;
      this.deps.logger.debug(`TTS stream of connection ${this.connection.id}: position ${at.toISOString()} kept in memory: ${error.message}`);
    });
  }

  private streamRequest() {
    return {
      identifiers: [{ application_ids: { application_id: this.settings.applicationId } }],
      names: TTS_STREAM_EVENT_NAMES,
      // `after` is exclusive at millisecond precision and the position is cut to milliseconds: one
      // millisecond earlier also brings back the events that shared the last one's millisecond.
      // Copies already stored are deduplicated.
      ...(this.position && { after: new Date(this.position.getTime() - 1).toISOString(), tail: RESUME_TAIL }),
    };
  }

  private warnIfNoHistory(warning: string | null): void {
    if (!warning || this.warnedNoHistory) return;
    this.warnedNoHistory = true;
    this.deps.logger.warn(`TTS stream of connection ${this.connection.id}: TTS warns "${warning}"; events missed while disconnected cannot be replayed`);
  }

  /** Exponential with equal jitter, so that instances that lost their streams together do not return together. */
  private nextBackoffMs(): number {
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.failures);
    this.failures += 1;
    return ceiling / 2 + (Math.random() * ceiling) / 2;
  }

  private async setState(state: StreamState, error: string | null): Promise<void> {
    // A stopped consumer no longer speaks for the connection: a new one (or another instance) may.
    if (this.stopping.signal.aborted) return;
    await writeStreamState(this.deps.prisma, this.connection.id, state, error).catch((failure: Error) =>
      this.deps.logger.warn(`TTS stream of connection ${this.connection.id}: could not record state ${state}: ${failure.message}`),
    );
  }
}

export async function writeStreamState(prisma: PrismaService, connectionId: string, state: StreamState, error: string | null): Promise<void> {
  await prisma.$executeRaw`UPDATE connections SET stream_state = ${state}, stream_error = ${error} WHERE id = ${connectionId}`;
}

/** A non-200 answer before the stream started: give up on 4xx (credentials, request), retry the rest. */
async function refusal(response: Response): Promise<AttemptOutcome> {
  const reason = `TTS answered ${response.status}: ${await errorMessage(response)}`;
  const { status } = response;
  if (status === 401 || status === 403) return { kind: 'give-up', state: 'unauthorized', reason };
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) return { kind: 'give-up', state: 'failed', reason };
  return { kind: 'retry', reason, retryAfterMs: retryAfterMs(response.headers) };
}

/** TTS's `{"error": {"message"}}` (or the bare `{"message"}`), else the start of the body. */
async function errorMessage(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: { message?: unknown }; message?: unknown };
    const message = body.error?.message ?? body.message;
    if (typeof message === 'string') return message;
  } catch {
    // not JSON: the text itself
  }
  return text.slice(0, 200) || response.statusText || 'no body';
}

/**
 * The wait a 429 or 503 asks for: `Retry-After` (seconds or an HTTP date), or TTS's own
 * `X-Rate-Limit-Retry` / `X-Rate-Limit-Reset` (seconds).
 */
function retryAfterMs(headers: Headers): number | undefined {
  for (const name of ['retry-after', 'x-rate-limit-retry', 'x-rate-limit-reset']) {
    const value = headers.get(name)?.trim();
    if (!value) continue;
    const seconds = Number(value);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(value);
    if (!Number.isNaN(date)) return Math.max(0, date - Date.now());
  }
  return undefined;
}

/** fetch reports network failures as `TypeError: fetch failed` with the real error as its cause. */
function describeError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.message) return cause.code && !cause.message.includes(cause.code) ? `${cause.code}: ${cause.message}` : cause.message;
  return (error as Error).message ?? String(error);
}

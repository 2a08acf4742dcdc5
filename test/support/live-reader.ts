import { ClientRequest, IncomingMessage, request } from 'node:http';
import { sleep } from './mqtt-collector';

export interface LiveFrame {
  /** The frame as sent, for wire-format checks. */
  text: string;
  id?: string;
  event?: string;
  data?: string;
  comments: string[];
}

/**
 * A `GET /api/events/live` client. node:http rather than fetch: after a cancelled body, fetch
 * opens a spare connection that holds the server's close until its header timeout.
 */
export class LiveReader {
  readonly frames: LiveFrame[] = [];
  ended = false;
  private buffered = '';

  private constructor(
    readonly response: IncomingMessage,
    private readonly req: ClientRequest,
  ) {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => this.receive(chunk));
    response.on('close', () => (this.ended = true));
  }

  static open(url: string, headers: Record<string, string>): Promise<LiveReader> {
    return new Promise((resolve, reject) => {
      const req = request(url, { headers, agent: false });
      req.on('response', (response) => resolve(new LiveReader(response, req)));
      req.on('error', reject);
      req.end();
    });
  }

  get status(): number {
    return this.response.statusCode ?? 0;
  }

  header(name: string): string | undefined {
    return this.response.headers[name] as string | undefined;
  }

  /** Parsed `data` of the `event` frames. */
  get events(): Array<Record<string, unknown>> {
    return this.frames.filter((f) => f.event === 'event').map((f) => JSON.parse(f.data ?? 'null') as Record<string, unknown>);
  }

  async waitFor(what: string, accept: (reader: LiveReader) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!accept(this)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; ${this.frames.length} frames, the last: ${JSON.stringify(this.frames.slice(-3).map((f) => f.text.slice(0, 120)))}`);
      await sleep(20);
    }
  }

  close(): void {
    this.req.destroy();
  }

  private receive(chunk: string): void {
    this.buffered += chunk;
    let end: number;
    while ((end = this.buffered.indexOf('\n\n')) >= 0) {
      const text = this.buffered.slice(0, end + 2);
      this.buffered = this.buffered.slice(end + 2);
      this.frames.push(parseFrame(text));
    }
  }
}

function parseFrame(text: string): LiveFrame {
  const frame: LiveFrame = { text, comments: [] };
  for (const line of text.slice(0, -2).split('\n')) {
    if (line.startsWith(':')) frame.comments.push(line.slice(1).trim());
    else {
      const colon = line.indexOf(':');
      const field = line.slice(0, colon) as 'id' | 'event' | 'data';
      frame[field] = line.slice(colon + 2);
    }
  }
  return frame;
}

import { storableText } from '../common/storable-text';

/**
 * The small HTTP layer the networks' API clients share: JSON in and out, a timeout, and every
 * failure turned into a NetworkError that says whether trying again can help and when.
 */

/** What the bridge calls itself in the User-Agent of its requests to the networks. */
export const BRIDGE_USER_AGENT = 'lpwan-bridge/0.1 (+https://github.com/lpwan-bridge)';

const DEFAULT_TIMEOUT_MS = 15_000;

export class NetworkError extends Error {
  constructor(
    /** The network's HTTP status; null when no answer came (timeout, connection refused). */
    readonly status: number | null,
    message: string,
    /** How long the network asked us to wait (429 Retry-After / TTS X-Rate-Limit-*), if it said. */
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
    this.name = 'NetworkError';
  }

  /** Rate limits, server errors and no answer at all are worth retrying; other 4xx are not. */
  get retryable(): boolean {
    return this.status === null || this.status === 429 || this.status === 408 || this.status >= 500;
  }

  /** The same error with context in front of its message (e.g. which TTS registry refused). */
  withContext(context: string): NetworkError {
    return new NetworkError(this.status, `${context}: ${this.message}`, this.retryAfterMs);
  }
}

export interface HttpClientOptions {
  baseUrl: string;
  headers: Record<string, string>;
  /** The network's error text from its error body, when it has one. */
  errorMessage: (body: unknown) => string | undefined;
  timeoutMs?: number;
}

export interface HttpRequest {
  /** Relative to baseUrl, or an absolute URL on the same origin (a next-page link). */
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** Statuses answered without an error (e.g. 404 when deleting: already gone). */
  accept?: number[];
}

export interface HttpResponse<T> {
  status: number;
  body: T;
}

export class HttpClient {
  private readonly base: URL;

  constructor(private readonly options: HttpClientOptions) {
    this.base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
  }

  get<T>(request: HttpRequest): Promise<HttpResponse<T>> {
    return this.request<T>('GET', request);
  }

  post<T>(request: HttpRequest): Promise<HttpResponse<T>> {
    return this.request<T>('POST', request);
  }

  put<T>(request: HttpRequest): Promise<HttpResponse<T>> {
    return this.request<T>('PUT', request);
  }

  delete<T>(request: HttpRequest): Promise<HttpResponse<T>> {
    return this.request<T>('DELETE', request);
  }

  async request<T>(method: string, request: HttpRequest): Promise<HttpResponse<T>> {
    const url = this.url(request);
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          accept: 'application/json',
          'user-agent': BRIDGE_USER_AGENT,
          ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...this.options.headers,
        },
        body: request.body === undefined ? undefined : JSON.stringify(request.body),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      const reason = (error as Error).name === 'TimeoutError' ? 'no answer within the timeout' : (cause ?? (error as Error).message);
      throw new NetworkError(null, `${method} ${url.pathname}: ${reason}`);
    }
    const body = parseBody(await response.text().catch(() => ''));
    if (response.ok || request.accept?.includes(response.status)) return { status: response.status, body: body as T };
    const text = this.options.errorMessage(body) ?? (typeof body === 'string' && body ? body.slice(0, 300) : response.statusText);
    // The message is kept on the device (sync error), where Postgres takes no NUL.
    throw new NetworkError(response.status, `HTTP ${response.status}: ${storableText(text)}`, retryAfterMs(response.headers));
  }

  private url(request: HttpRequest): URL {
    const url = new URL(request.path.replace(/^\//, ''), this.base);
    // Credentials only ever go to the configured host, whatever a next-page link says.
    if (url.origin !== this.base.origin) throw new NetworkError(null, `refusing to follow a link to another host: ${url.origin}`);
    for (const [key, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url;
  }
}

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * The wait a rate-limited answer asks for: `Retry-After` (seconds or an HTTP date), else TTS's
 * `X-Rate-Limit-Retry`, else `X-Rate-Limit-Reset` (both seconds).
 */
export function retryAfterMs(headers: Headers): number | null {
  const retryAfter = headers.get('retry-after');
  if (retryAfter) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.max(0, date - Date.now());
  }
  for (const name of ['x-rate-limit-retry', 'x-rate-limit-reset']) {
    const seconds = Number(headers.get(name) ?? NaN);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  }
  return null;
}

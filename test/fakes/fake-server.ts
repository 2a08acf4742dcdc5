/**
 * A tiny HTTP server base for the fake networks: routing with path params, request recording,
 * scripted failures and delays. Only Node's `http` module.
 */
import { EventEmitter } from 'node:events';
import http, { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { AddressInfo, Socket } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path without the query string, as sent (e.g. `/api/v1/devices/abc`). */
  path: string;
  /** Query parameters; a repeated parameter keeps its last value (see `searchParams` in handlers). */
  query: Record<string, string>;
  /** Node's lower-cased request headers. */
  headers: IncomingHttpHeaders;
  /** Parsed JSON when the content type says JSON and it parses, else the raw text ('' when empty). */
  body: unknown;
  rawBody: string;
  /** Date.now() when the request was fully read. */
  at: number;
}

export interface RouteContext extends RecordedRequest {
  params: Record<string, string>;
  searchParams: URLSearchParams;
  req: IncomingMessage;
  res: ServerResponse;
}

/** What a handler answers. A handler that returns `undefined` has taken over `ctx.res` itself. */
export interface Reply {
  status: number;
  /** Objects and arrays are sent as JSON, strings as text/plain, `undefined` as an empty body. */
  body?: unknown;
  headers?: Record<string, string>;
}

export type Handler = (ctx: RouteContext) => Reply | undefined | Promise<Reply | undefined>;

export interface RouteOptions {
  /** Skip the server's authentication check (e.g. Helium's downlink URL, which carries its own key). */
  public?: boolean;
}

export interface FailRule {
  method?: string;
  /** Tested against the path (without query). */
  path?: RegExp;
  status: number;
  headers?: Record<string, string>;
  /** Defaults to the network's own error body for `status`. */
  body?: unknown;
  /** How many matching requests fail (default 1). */
  times?: number;
  /** Destroy the connection instead of answering (a network error for the client). */
  reset?: boolean;
}

export interface DelayRule {
  method?: string;
  path?: RegExp;
  ms: number;
  times?: number;
}

interface Route {
  method: string;
  regex: RegExp;
  keys: string[];
  handler: Handler;
  options: RouteOptions;
}

function normalizePath(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

function compilePattern(pattern: string): { regex: RegExp; keys: string[] } {
  const keys: string[] = [];
  const source = normalizePath(pattern)
    .split('/')
    .map((segment) => {
      if (segment.startsWith(':')) {
        keys.push(segment.slice(1));
        return '([^/]+)';
      }
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { regex: new RegExp(`^${source}$`), keys };
}

function ruleMatches(rule: { method?: string; path?: RegExp }, method: string, path: string): boolean {
  if (rule.method && rule.method.toUpperCase() !== method) return false;
  if (rule.path) {
    rule.path.lastIndex = 0;
    if (!rule.path.test(path)) return false;
  }
  return true;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export abstract class FakeServer {
  /** Every request received, in order (including those answered by `failNext`). */
  readonly requests: RecordedRequest[] = [];
  /** Added to every request before it is handled. */
  latencyMs = 0;

  private server: http.Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly routes: Route[] = [];
  private failRules: FailRule[] = [];
  private delayRules: DelayRule[] = [];
  private readonly emitter = new EventEmitter();
  private url: string | undefined;

  constructor(readonly name: string) {
    this.emitter.setMaxListeners(0);
  }

  /** Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash). Throws before `start()`. */
  get baseUrl(): string {
    if (!this.url) throw new Error(`${this.name}: not started`);
    return this.url;
  }

  async start(): Promise<string> {
    if (this.url) return this.url;
    const server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) {
          this.send(res, { status: 500, body: { message: `${this.name} crashed: ${String(err)}` } });
        } else {
          res.destroy();
        }
      });
    });
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    const { port } = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    return this.url;
  }

  /** Closes the server and destroys every open socket (including live streams). */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.url = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
  }

  /** Forgets recorded requests and pending failNext/delayNext rules (in-memory state is kept). */
  clear(): void {
    this.requests.length = 0;
    this.failRules = [];
    this.delayRules = [];
  }

  /** The next `times` (default 1) requests matching method/path answer `status` instead. */
  failNext(rule: FailRule): void {
    this.failRules.push({ ...rule, times: rule.times ?? 1 });
  }

  /** The next `times` (default 1) requests matching method/path are held for `ms` first. */
  delayNext(rule: DelayRule): void {
    this.delayRules.push({ ...rule, times: rule.times ?? 1 });
  }

  /** Resolves with the first recorded request (past or future) matching `predicate`. */
  waitForRequest(predicate: (r: RecordedRequest) => boolean, timeoutMs = 5000): Promise<RecordedRequest> {
    const found = this.requests.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const onRequest = (r: RecordedRequest) => {
        if (!predicate(r)) return;
        clearTimeout(timer);
        this.emitter.off('request', onRequest);
        resolve(r);
      };
      const timer = setTimeout(() => {
        this.emitter.off('request', onRequest);
        reject(new Error(`${this.name}: no matching request within ${timeoutMs} ms`));
      }, timeoutMs);
      this.emitter.on('request', onRequest);
    });
  }

  protected route(method: string, pattern: string, handler: Handler, options: RouteOptions = {}): void {
    this.routes.push({ method: method.toUpperCase(), ...compilePattern(pattern), handler, options });
  }

  /** Returns a refusal when the request is not authenticated; `undefined` lets it through. */
  protected authenticate(_ctx: RouteContext): Reply | undefined {
    return undefined;
  }

  /** The network's own error body for a status (used by failNext without body and for 404s). */
  protected abstract errorReply(status: number, message: string, ctx: RouteContext): Reply;

  protected send(res: ServerResponse, reply: Reply): void {
    const headers: Record<string, string> = { ...(reply.headers ?? {}) };
    let payload: string | undefined;
    if (typeof reply.body === 'string') {
      payload = reply.body;
      if (!hasHeader(headers, 'content-type')) headers['Content-Type'] = 'text/plain; charset=utf-8';
    } else if (reply.body !== undefined) {
      payload = JSON.stringify(reply.body);
      if (!hasHeader(headers, 'content-type')) headers['Content-Type'] = 'application/json';
    }
    headers['Content-Length'] = String(payload === undefined ? 0 : Buffer.byteLength(payload));
    res.writeHead(reply.status, headers);
    res.end(payload);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawBody = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://fake.invalid');
    const method = (req.method ?? 'GET').toUpperCase();
    const contentType = String(req.headers['content-type'] ?? '');
    const recorded: RecordedRequest = {
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      body: parseBody(rawBody, contentType),
      rawBody,
      at: Date.now(),
    };
    this.requests.push(recorded);
    this.emitter.emit('request', recorded);

    const delay = this.takeRule(this.delayRules, method, url.pathname);
    const wait = this.latencyMs + (delay?.ms ?? 0);
    if (wait > 0) await sleep(wait);

    const path = normalizePath(url.pathname);
    let params: Record<string, string> = {};
    const route = this.routes.find((r) => {
      if (r.method !== method) return false;
      const m = r.regex.exec(path);
      if (!m) return false;
      params = Object.fromEntries(r.keys.map((k, i) => [k, decodeURIComponent(m[i + 1]!)]));
      return true;
    });
    const ctx: RouteContext = { ...recorded, params, searchParams: url.searchParams, req, res };

    const fail = this.takeRule(this.failRules, method, url.pathname);
    if (fail) {
      if (fail.reset) {
        req.socket.destroy();
        return;
      }
      const reply = this.errorReply(fail.status, http.STATUS_CODES[fail.status] ?? 'error', ctx);
      this.send(res, {
        status: fail.status,
        body: fail.body !== undefined ? fail.body : reply.body,
        headers: { ...(reply.headers ?? {}), ...(fail.headers ?? {}) },
      });
      return;
    }

    if (!route || !route.options.public) {
      const refusal = this.authenticate(ctx);
      if (refusal) return this.send(res, refusal);
    }
    if (!route) return this.send(res, this.errorReply(404, `no route for ${method} ${url.pathname}`, ctx));

    const reply = await route.handler(ctx);
    if (reply) this.send(res, reply);
  }

  private takeRule<R extends { method?: string; path?: RegExp; times?: number }>(
    rules: R[],
    method: string,
    path: string,
  ): R | undefined {
    const index = rules.findIndex((r) => ruleMatches(r, method, path));
    if (index < 0) return undefined;
    const rule = rules[index]!;
    rule.times = (rule.times ?? 1) - 1;
    if (rule.times <= 0) rules.splice(index, 1);
    return rule;
  }
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((k) => k.toLowerCase() === name);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseBody(raw: string, contentType: string): unknown {
  if (raw === '' || !/json/i.test(contentType)) return raw;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

/** Parses a body as JSON whatever its content type (for servers that do not look at it); undefined if invalid. */
export function jsonBody(ctx: RecordedRequest): unknown {
  if (typeof ctx.body !== 'string') return ctx.body;
  if (ctx.rawBody.trim() === '') return {};
  try {
    return JSON.parse(ctx.rawBody) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Fake The Things Stack (references 002-004 and the README beside them): the Identity, Join,
 * Network and Application Server end-device registries with field masks, downlink queue push,
 * and the events stream `POST /api/v3/events`.
 */
import { randomBytes } from 'node:crypto';
import { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { FakeServer, jsonBody, RecordedRequest, Reply, RouteContext } from './fake-server';
import { clone, isBase64, isHex, isObject, nsTimestamp, parseTimestampMs, ulid } from './util';

// ---------------------------------------------------------------------------------------------
// Types

export type Registry = 'is' | 'js' | 'ns' | 'as';

/** An EndDevice as JSON (only what the registries store; everything else passes through). */
export interface EndDevice {
  ids: {
    device_id: string;
    application_ids: { application_id: string };
    dev_eui?: string;
    join_eui?: string;
    dev_addr?: string;
  };
  created_at?: string;
  updated_at?: string;
  [field: string]: unknown;
}

export interface EntityIdentifiers {
  application_ids?: { application_id: string };
  device_ids?: {
    device_id: string;
    application_ids: { application_id: string };
    dev_eui?: string;
    join_eui?: string;
    dev_addr?: string;
  };
  gateway_ids?: { gateway_id: string; eui?: string };
  organization_ids?: { organization_id: string };
  user_ids?: { user_id: string };
  client_ids?: { client_id: string };
}

export interface TtsEvent {
  name: string;
  time: string;
  identifiers: EntityIdentifiers[];
  data?: Record<string, unknown>;
  correlation_ids?: string[];
  origin?: string;
  context?: Record<string, string>;
  visibility?: { rights: string[] };
  unique_id: string;
  [field: string]: unknown;
}

export interface StreamEventsRequest {
  identifiers?: EntityIdentifiers[];
  tail?: number | string;
  after?: string;
  names?: string[];
}

export interface TtsError {
  code: number;
  message: string;
  details: unknown[];
}

export interface DownlinkPush {
  applicationId: string;
  deviceId: string;
  /** `push` or `replace` (…/down/replace). */
  operation: 'push' | 'replace';
  downlinks: Record<string, unknown>[];
  headers: IncomingHttpHeaders;
  at: number;
}

export interface FakeTtsOptions {
  /** The one accepted API key (default `TTS_API_KEY`). */
  apiKey?: string;
  /** When false the stream replays no history and answers `X-Warning: Events storage is not enabled`. */
  eventsStore?: boolean;
  /**
   * The real server re-reads about a second before `after`, so replays can repeat events the client
   * already saw. Default 0 (strict `after`); set 1000 to imitate the real overlap.
   */
  replayOverlapMs?: number;
  /** `origin` of synthetic events (default `fake-tts`). */
  origin?: string;
}

/** A well-formed (but fake) API key: `NNSXS.<id>.<secret>`. */
export const TTS_API_KEY =
  'NNSXS.FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAK.FAKESECRETFAKESECRETFAKESECRETFAKESECRETFAKESECRETFA';

export const TTS_EVENTS_PATH = '/api/v3/events';

// ---------------------------------------------------------------------------------------------
// Errors

const GRPC_CODES: Record<number, [number, string]> = {
  400: [3, 'invalid_argument'],
  401: [16, 'unauthenticated'],
  403: [7, 'permission_denied'],
  404: [5, 'not_found'],
  409: [6, 'already_exists'],
  412: [9, 'failed_precondition'],
  429: [8, 'resource_exhausted'],
  500: [13, 'internal'],
  501: [12, 'unimplemented'],
  503: [14, 'unavailable'],
  504: [4, 'deadline_exceeded'],
};

/** `{"code","message":"error:<namespace>:<name> (<text>)","details":[ErrorDetails]}` as TTS answers. */
export function ttsError(
  status: number,
  namespace: string,
  name: string,
  messageFormat: string,
  attributes: Record<string, unknown> = {},
): TtsError {
  const code = GRPC_CODES[status]?.[0] ?? 2;
  const text = messageFormat.replace(/\{(\w+)\}/g, (_, k: string) => String(attributes[k] ?? ''));
  return {
    code,
    message: `error:${namespace}:${name} (${text})`,
    details: [
      {
        '@type': 'type.googleapis.com/ttn.lorawan.v3.ErrorDetails',
        namespace,
        name,
        message_format: messageFormat,
        ...(Object.keys(attributes).length > 0 ? { attributes } : {}),
        correlation_id: randomBytes(16).toString('hex'),
        code,
      },
    ],
  };
}

function ttsReply(status: number, error: TtsError, wrap = false, headers?: Record<string, string>): Reply {
  return { status, body: wrap ? { error } : error, headers };
}

const notFound = (registry: Registry, app: string, dev: string): TtsError =>
  registry === 'is'
    ? ttsError(404, 'pkg/identityserver/store', 'end_device_not_found', 'end device `{end_device_uid}` not found', {
        end_device_uid: `${app}.${dev}`,
      })
    : ttsError(404, 'pkg/redis', 'not_found', 'entity not found');

const validation = (field: string, reason: string): TtsError =>
  ttsError(400, 'pkg/ttnpb', 'validation', 'invalid `{field}`: {reason}', { field, reason });

// ---------------------------------------------------------------------------------------------
// Field masks

/** Top-level EndDevice fields each registry accepts in a field mask. */
const REGISTRY_FIELDS: Record<Registry, Set<string>> = {
  is: new Set([
    'ids', 'name', 'description', 'attributes', 'version_ids', 'network_server_address',
    'application_server_address', 'join_server_address', 'service_profile_id', 'locations', 'picture',
    'claim_authentication_code', 'activated_at', 'last_seen_at', 'created_at', 'updated_at',
  ]),
  js: new Set([
    'ids', 'provisioner_id', 'provisioning_data', 'resets_join_nonces', 'root_keys', 'net_id',
    'network_server_address', 'network_server_kek_label', 'application_server_address', 'application_server_id',
    'application_server_kek_label', 'claim_authentication_code', 'last_dev_nonce', 'last_join_nonce',
    'used_dev_nonces', 'last_rj_count_0', 'last_rj_count_1', 'created_at', 'updated_at',
  ]),
  ns: new Set([
    'ids', 'frequency_plan_id', 'lorawan_phy_version', 'lorawan_version', 'mac_settings', 'mac_state',
    'pending_mac_state', 'supports_join', 'multicast', 'supports_class_b', 'supports_class_c', 'session',
    'pending_session', 'version_ids', 'min_frequency', 'max_frequency', 'max_eirp', 'resets_f_cnt',
    'battery_percentage', 'downlink_margin', 'power_state', 'last_dev_status_received_at', 'mac_settings_profile_ids',
    'created_at', 'updated_at',
  ]),
  as: new Set([
    'ids', 'formatters', 'session', 'pending_session', 'skip_payload_crypto', 'skip_payload_crypto_override',
    'version_ids', 'activated_at', 'last_seen_at', 'created_at', 'updated_at',
  ]),
};

/** Accepts `{"paths":[…]}`, `"a,b"` or `["a","b"]`. */
function maskPaths(mask: unknown): string[] {
  if (typeof mask === 'string') return mask.split(',').map((p) => p.trim()).filter(Boolean);
  if (Array.isArray(mask)) return mask.filter((p): p is string => typeof p === 'string');
  if (isObject(mask) && Array.isArray(mask.paths)) return mask.paths.filter((p): p is string => typeof p === 'string');
  return [];
}

function queryMask(ctx: RouteContext): string[] {
  const paths = [...ctx.searchParams.getAll('field_mask'), ...ctx.searchParams.getAll('field_mask.paths')];
  return paths.flatMap((p) => maskPaths(p));
}

function getPath(source: unknown, path: string): unknown {
  let value: unknown = source;
  for (const key of path.split('.')) {
    if (!isObject(value)) return undefined;
    value = value[key];
  }
  return value;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    if (!isObject(node[key])) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = keys[keys.length - 1]!;
  if (value === undefined) delete node[last];
  else node[last] = clone(value);
}

/** ids, created_at and updated_at plus the masked paths. */
function select(device: EndDevice, paths: string[]): EndDevice {
  const out: EndDevice = { ids: clone(device.ids) };
  if (device.created_at) out.created_at = device.created_at;
  if (device.updated_at) out.updated_at = device.updated_at;
  for (const path of paths) {
    const value = getPath(device, path);
    if (value !== undefined) setPath(out, path, value);
  }
  return out;
}

const DEVICE_ID = /^[a-z0-9](?:[-]?[a-z0-9]){2,}$/;

// ---------------------------------------------------------------------------------------------
// Events

function identifiersMatch(wanted: EntityIdentifiers, actual: EntityIdentifiers): boolean {
  if (wanted.application_ids) {
    const app = wanted.application_ids.application_id;
    return actual.application_ids?.application_id === app || actual.device_ids?.application_ids?.application_id === app;
  }
  if (wanted.device_ids) {
    const d = actual.device_ids;
    return (
      d?.device_id === wanted.device_ids.device_id &&
      d.application_ids?.application_id === wanted.device_ids.application_ids?.application_id
    );
  }
  if (wanted.gateway_ids) return actual.gateway_ids?.gateway_id === wanted.gateway_ids.gateway_id;
  if (wanted.organization_ids) return actual.organization_ids?.organization_id === wanted.organization_ids.organization_id;
  if (wanted.user_ids) return actual.user_ids?.user_id === wanted.user_ids.user_id;
  if (wanted.client_ids) return actual.client_ids?.client_id === wanted.client_ids.client_id;
  return false;
}

function nameMatches(names: string[] | undefined, name: string): boolean {
  if (!names || names.length === 0) return true;
  return names.some((n) => {
    const m = /^\/(.*)\/$/.exec(n);
    return m ? new RegExp(m[1]!).test(name) : n === name;
  });
}

export function eventMatches(event: TtsEvent, request: StreamEventsRequest): boolean {
  const wanted = request.identifiers ?? [];
  const ids = event.identifiers ?? [];
  return wanted.some((w) => ids.some((a) => identifiersMatch(w, a))) && nameMatches(request.names, event.name);
}

interface OpenStream {
  req: IncomingMessage;
  res: ServerResponse;
  request: StreamEventsRequest;
  separator: string;
}

interface StreamRejection {
  status: number;
  body: unknown;
  headers: Record<string, string>;
  times: number;
}

// ---------------------------------------------------------------------------------------------
// The server

export class FakeTts extends FakeServer {
  readonly apiKey: string;
  /** End devices per registry, keyed `${applicationId}/${deviceId}`. */
  readonly registries: Record<Registry, Map<string, EndDevice>> = {
    is: new Map(),
    js: new Map(),
    ns: new Map(),
    as: new Map(),
  };
  /** Downlink queue pushes/replaces received, in order. */
  readonly downlinks: DownlinkPush[] = [];
  /** Every event pushed (the events store), in push order. */
  readonly history: TtsEvent[] = [];
  eventsStore: boolean;
  replayOverlapMs: number;

  private readonly origin: string;
  private readonly streams = new Set<OpenStream>();
  private rejection: StreamRejection | undefined;

  constructor(options: FakeTtsOptions = {}) {
    super('fake-tts');
    this.apiKey = options.apiKey ?? TTS_API_KEY;
    this.eventsStore = options.eventsStore ?? true;
    this.replayOverlapMs = options.replayOverlapMs ?? 0;
    this.origin = options.origin ?? 'fake-tts';
    this.registerRegistryRoutes();
    this.registerDownlinkRoutes();
    this.route('POST', TTS_EVENTS_PATH, (ctx) => this.openStream(ctx));
  }

  /** Wipes registries, downlinks, event history and stream rejections, ends open streams (and what `clear()` wipes). */
  reset(): void {
    this.clear();
    for (const r of Object.values(this.registries)) r.clear();
    this.downlinks.length = 0;
    this.history.length = 0;
    this.rejection = undefined;
    this.endStreams();
  }

  // --- registries -------------------------------------------------------------------------------

  device(registry: Registry, applicationId: string, deviceId: string): EndDevice | undefined {
    const d = this.registries[registry].get(`${applicationId}/${deviceId}`);
    return d ? clone(d) : undefined;
  }

  /** Registers a device directly in the given registries (default all four), as `ttn-lw-cli` would. */
  seedDevice(
    applicationId: string,
    deviceId: string,
    fields: Partial<EndDevice> & { dev_eui?: string; join_eui?: string } = {},
    registries: Registry[] = ['is', 'js', 'ns', 'as'],
  ): void {
    const { dev_eui, join_eui, ids, ...rest } = fields;
    const now = nsTimestamp();
    for (const registry of registries) {
      const device: EndDevice = {
        ids: {
          device_id: deviceId,
          application_ids: { application_id: applicationId },
          ...(dev_eui ? { dev_eui: dev_eui.toUpperCase() } : {}),
          ...(join_eui ? { join_eui: join_eui.toUpperCase() } : {}),
          ...(ids ?? {}),
        },
        created_at: now,
        updated_at: now,
      };
      for (const [k, v] of Object.entries(rest)) if (REGISTRY_FIELDS[registry].has(k)) device[k] = clone(v);
      this.registries[registry].set(`${applicationId}/${deviceId}`, device);
    }
  }

  /** Answers the next `times` matching requests 429 with the real X-Rate-Limit-* headers. */
  rateLimitNext(options: { method?: string; path?: RegExp; times?: number; retrySeconds?: number; limit?: number } = {}): void {
    const retry = options.retrySeconds ?? 1;
    this.failNext({
      method: options.method,
      path: options.path,
      times: options.times,
      status: 429,
      headers: rateLimitHeaders(options.limit ?? 1000, retry),
    });
  }

  // --- events -----------------------------------------------------------------------------------

  get openStreams(): number {
    return this.streams.size;
  }

  /** Every request to the events endpoint (bodies parsed whatever the content type). */
  get streamRequests(): (RecordedRequest & { request: StreamEventsRequest })[] {
    return this.requests
      .filter((r) => r.method === 'POST' && r.path === TTS_EVENTS_PATH)
      .map((r) => ({ ...r, request: (jsonBody(r) ?? {}) as StreamEventsRequest }));
  }

  /** Resolves once at least `count` streams are open. */
  async waitForStreams(count = 1, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.streams.size < count) {
      if (Date.now() > deadline) throw new Error(`fake-tts: ${this.streams.size} open streams, wanted ${count}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /**
   * Stores the event in history (filling `time` and `unique_id` when missing) and writes
   * `{"result": event}` to every open stream whose request matches it. Returns the stored event.
   */
  pushEvent(input: Partial<TtsEvent> & { name: string }): TtsEvent {
    const event: TtsEvent = {
      ...clone(input),
      name: input.name,
      time: input.time ?? nsTimestamp(),
      identifiers: clone(input.identifiers ?? []),
      unique_id: input.unique_id ?? ulid(),
    };
    this.history.push(event);
    for (const stream of this.streams) {
      if (eventMatches(event, stream.request)) this.write(stream, { result: event });
    }
    return clone(event);
  }

  /** Writes a raw line (plus the stream's separator) to every open stream. */
  pushRaw(line: string): void {
    for (const stream of this.streams) if (!stream.res.destroyed) stream.res.write(line + stream.separator);
  }

  /** Destroys the sockets of all open streams mid-stream (the client sees a network error). */
  dropStreams(): void {
    for (const stream of this.streams) stream.req.socket.destroy();
    this.streams.clear();
  }

  /** Ends all open streams cleanly (as a proxy closing an idle connection would). */
  endStreams(): void {
    for (const stream of this.streams) stream.res.end();
    this.streams.clear();
  }

  /** Writes an in-band `{"error": …}` line to every open stream, then ends them. */
  sendStreamError(error: TtsError = ttsError(503, 'pkg/events', 'unavailable', 'events backend unavailable')): void {
    for (const stream of this.streams) {
      this.write(stream, { error });
      stream.res.end();
    }
    this.streams.clear();
  }

  /**
   * Refuses the next `times` stream requests (default: all, until `acceptStreams()`) before the
   * stream starts, with `{"error": …}` (or `body`). 429 gets the X-Rate-Limit-* headers by default.
   */
  rejectStreams(status: number, body?: unknown, options: { times?: number; headers?: Record<string, string> } = {}): void {
    const [, name] = GRPC_CODES[status] ?? [2, 'unknown'];
    this.rejection = {
      status,
      body: body ?? { error: ttsError(status, 'pkg/events/grpc', name, name.replace(/_/g, ' ')) },
      headers: options.headers ?? (status === 429 ? rateLimitHeaders(1000, 1) : {}),
      times: options.times ?? Infinity,
    };
  }

  acceptStreams(): void {
    this.rejection = undefined;
  }

  // --- FakeServer hooks -------------------------------------------------------------------------

  protected override authenticate(ctx: RouteContext): Reply | undefined {
    const wrap = ctx.path === TTS_EVENTS_PATH;
    const header = ctx.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!m) {
      return ttsReply(401, ttsError(401, 'pkg/auth/rights', 'unauthenticated', 'unauthenticated'), wrap);
    }
    const token = m[1]!;
    if (!/^[A-Z]+\.[A-Z0-9]+\.[A-Z0-9]+$/.test(token)) {
      return ttsReply(400, ttsError(400, 'pkg/auth', 'token_malformed', 'malformed token'), wrap);
    }
    if (token !== this.apiKey) {
      const id = token.split('.')[1];
      return ttsReply(401, ttsError(401, 'pkg/identityserver', 'api_key_not_found', 'API key `{api_key_id}` not found', { api_key_id: id }), wrap);
    }
    return undefined;
  }

  protected override errorReply(status: number, message: string, ctx: RouteContext): Reply {
    const [, name] = GRPC_CODES[status] ?? [2, 'unknown'];
    const error = ttsError(status, status === 404 ? 'pkg/web' : 'pkg/errors', name, message.toLowerCase());
    return ttsReply(status, error, ctx.path === TTS_EVENTS_PATH, status === 429 ? rateLimitHeaders(1000, 1) : undefined);
  }

  // --- routes -----------------------------------------------------------------------------------

  private registerRegistryRoutes(): void {
    const base = '/api/v3/applications/:app/devices';

    // Identity Server: EndDeviceRegistry
    this.route('POST', base, (ctx) => this.isCreate(ctx));
    this.route('GET', base, (ctx) => this.isList(ctx));
    this.route('GET', `${base}/:dev`, (ctx) => this.get('is', ctx));
    this.route('PUT', `${base}/:dev`, (ctx) => this.set('is', ctx));
    this.route('DELETE', `${base}/:dev`, (ctx) => this.remove('is', ctx));

    // Join, Network and Application Server registries: Set (PUT or POST), Get, Delete.
    for (const registry of ['js', 'ns', 'as'] as const) {
      const path = `/api/v3/${registry}/applications/:app/devices`;
      this.route('PUT', `${path}/:dev`, (ctx) => this.set(registry, ctx));
      this.route('POST', path, (ctx) => this.set(registry, ctx));
      this.route('GET', `${path}/:dev`, (ctx) => this.get(registry, ctx));
      this.route('DELETE', `${path}/:dev`, (ctx) => this.remove(registry, ctx));
    }
  }

  private registerDownlinkRoutes(): void {
    for (const operation of ['push', 'replace'] as const) {
      this.route('POST', `/api/v3/as/applications/:app/devices/:dev/down/${operation}`, (ctx) => {
        const { app, dev } = ctx.params as { app: string; dev: string };
        if (!this.registries.as.has(`${app}/${dev}`)) return ttsReply(404, notFound('as', app, dev));
        const body = jsonBody(ctx);
        if (!isObject(body) || !Array.isArray(body.downlinks)) return ttsReply(400, validation('downlinks', 'value is required'));
        for (const [i, d] of body.downlinks.entries()) {
          if (!isObject(d)) return ttsReply(400, validation(`downlinks[${i}]`, 'must be an object'));
          if (d.frm_payload !== undefined && !isBase64(d.frm_payload)) {
            return ttsReply(400, validation(`downlinks[${i}].frm_payload`, 'must be base64'));
          }
          if (d.frm_payload === undefined && d.decoded_payload === undefined) {
            return ttsReply(400, validation(`downlinks[${i}].frm_payload`, 'frm_payload or decoded_payload is required'));
          }
          if (typeof d.f_port !== 'number' || !Number.isInteger(d.f_port) || d.f_port < 1 || d.f_port > 223) {
            return ttsReply(400, validation(`downlinks[${i}].f_port`, 'value must be inside range [1, 223]'));
          }
        }
        this.downlinks.push({
          applicationId: app,
          deviceId: dev,
          operation,
          downlinks: clone(body.downlinks as Record<string, unknown>[]),
          headers: ctx.headers,
          at: Date.now(),
        });
        return { status: 200, body: {} };
      });
    }
  }

  private isCreate(ctx: RouteContext): Reply {
    const app = ctx.params.app!;
    const body = jsonBody(ctx);
    if (!isObject(body) || !isObject(body.end_device)) return ttsReply(400, validation('end_device', 'value is required'));
    const input = body.end_device;
    const ids = isObject(input.ids) ? input.ids : {};
    const deviceId = ids.device_id;
    const invalid = this.validateIds(ids);
    if (invalid) return ttsReply(400, invalid);
    if (typeof deviceId !== 'string') return ttsReply(400, validation('end_device.ids.device_id', 'value is required'));
    const key = `${app}/${deviceId}`;
    if (this.registries.is.has(key)) {
      return ttsReply(409, ttsError(409, 'pkg/identityserver/store', 'end_device_id_taken', 'end device ID `{device_id}` already taken', { device_id: deviceId }));
    }
    const devEui = typeof ids.dev_eui === 'string' ? ids.dev_eui.toUpperCase() : undefined;
    const joinEui = typeof ids.join_eui === 'string' ? ids.join_eui.toUpperCase() : undefined;
    if (devEui) {
      const taken = [...this.registries.is.values()].find(
        (d) => d.ids.dev_eui === devEui && (d.ids.join_eui ?? '') === (joinEui ?? ''),
      );
      if (taken) {
        return ttsReply(
          409,
          ttsError(409, 'pkg/identityserver/store', 'end_device_euis_taken',
            'an end device with JoinEUI `{join_eui}` and DevEUI `{dev_eui}` is already registered as `{device_id}` in application `{application_id}`',
            { join_eui: joinEui ?? '0000000000000000', dev_eui: devEui, device_id: taken.ids.device_id, application_id: taken.ids.application_ids.application_id }),
        );
      }
    }
    const forbidden = Object.keys(input).filter((k) => !REGISTRY_FIELDS.is.has(k));
    if (forbidden.length > 0) return ttsReply(400, forbiddenPaths(forbidden));
    const now = nsTimestamp();
    const device: EndDevice = {
      ...clone(input),
      ids: {
        device_id: deviceId,
        application_ids: { application_id: app },
        ...(devEui ? { dev_eui: devEui } : {}),
        ...(joinEui ? { join_eui: joinEui } : {}),
      },
      created_at: now,
      updated_at: now,
    };
    this.registries.is.set(key, device);
    return { status: 200, body: clone(device) };
  }

  private isList(ctx: RouteContext): Reply {
    const app = ctx.params.app!;
    const paths = queryMask(ctx);
    const limit = Number(ctx.query.limit ?? 0);
    const page = Math.max(1, Number(ctx.query.page ?? 0));
    if (!Number.isInteger(limit) || limit < 0 || limit > 1000) return ttsReply(400, validation('limit', 'value must be less than or equal to 1000'));
    const order = ctx.query.order ?? 'device_id';
    const orderField = order.replace(/^-/, '');
    const orders = ['device_id', 'join_eui', 'dev_eui', 'name', 'description', 'created_at'];
    if (!orders.includes(orderField)) return ttsReply(400, validation('order', `value must be in list [${orders.join(' ')}]`));
    const sortKey = (d: EndDevice): string =>
      String((orderField === 'device_id' || orderField === 'join_eui' || orderField === 'dev_eui' ? d.ids[orderField] : d[orderField]) ?? '');
    const all = [...this.registries.is.values()]
      .filter((d) => d.ids.application_ids.application_id === app)
      .sort((a, b) => sortKey(a).localeCompare(sortKey(b)) * (order.startsWith('-') ? -1 : 1));
    const pageItems = limit > 0 ? all.slice((page - 1) * limit, page * limit) : all;
    // Proto3 JSON leaves empty repeated fields out: an empty page is `{}`.
    const body = pageItems.length > 0 ? { end_devices: pageItems.map((d) => select(d, paths)) } : {};
    return { status: 200, body, headers: { 'X-Total-Count': String(all.length) } };
  }

  private get(registry: Registry, ctx: RouteContext): Reply {
    const { app, dev } = ctx.params as { app: string; dev: string };
    const paths = queryMask(ctx);
    const forbidden = paths.filter((p) => !REGISTRY_FIELDS[registry].has(p.split('.')[0]!));
    if (forbidden.length > 0) return ttsReply(400, forbiddenPaths(forbidden));
    const device = this.registries[registry].get(`${app}/${dev}`);
    if (!device) return ttsReply(404, notFound(registry, app, dev));
    return { status: 200, body: select(device, paths) };
  }

  /** IS Update (must exist) and JS/NS/AS Set (creates or updates), both `{end_device, field_mask}`. */
  private set(registry: Registry, ctx: RouteContext): Reply {
    const app = ctx.params.app!;
    const body = jsonBody(ctx);
    if (!isObject(body) || !isObject(body.end_device)) return ttsReply(400, validation('end_device', 'value is required'));
    const input = body.end_device;
    const ids = isObject(input.ids) ? input.ids : {};
    const dev = ctx.params.dev ?? ids.device_id;
    if (typeof dev !== 'string') return ttsReply(400, validation('end_device.ids.device_id', 'value is required'));
    const invalid = this.validateIds({ ...ids, device_id: dev });
    if (invalid) return ttsReply(400, invalid);
    const paths = maskPaths(body.field_mask);
    const forbidden = paths.filter((p) => !REGISTRY_FIELDS[registry].has(p.split('.')[0]!) || p === 'created_at' || p === 'updated_at');
    if (forbidden.length > 0) return ttsReply(400, forbiddenPaths(forbidden));

    const key = `${app}/${dev}`;
    const existing = this.registries[registry].get(key);
    if (!existing && registry === 'is') return ttsReply(404, notFound('is', app, dev));
    if (!existing) {
      const missing = this.missingOnCreate(registry, input, paths);
      if (missing) return ttsReply(400, missing);
    }
    const now = nsTimestamp();
    const device: EndDevice = existing ?? {
      ids: { device_id: dev, application_ids: { application_id: app } },
      created_at: now,
    };
    for (const path of paths) {
      if (path === 'ids' || path === 'ids.device_id' || path.startsWith('ids.application_ids')) continue;
      setPath(device, path, getPath(input, path));
    }
    // On creation the identifiers in the body are stored even when not in the mask.
    if (!existing) {
      for (const k of ['dev_eui', 'join_eui', 'dev_addr'] as const) {
        if (typeof ids[k] === 'string' && device.ids[k] === undefined) device.ids[k] = (ids[k] as string).toUpperCase();
      }
    }
    for (const k of ['dev_eui', 'join_eui', 'dev_addr'] as const) {
      if (typeof device.ids[k] === 'string') device.ids[k] = device.ids[k].toUpperCase();
    }
    device.ids.device_id = dev;
    device.ids.application_ids = { application_id: app };
    device.updated_at = now;
    this.registries[registry].set(key, device);
    return { status: 200, body: select(device, paths) };
  }

  private remove(registry: Registry, ctx: RouteContext): Reply {
    const { app, dev } = ctx.params as { app: string; dev: string };
    if (!this.registries[registry].delete(`${app}/${dev}`)) return ttsReply(404, notFound(registry, app, dev));
    return { status: 200, body: {} };
  }

  private validateIds(ids: Record<string, unknown>): TtsError | undefined {
    const id = ids.device_id;
    if (id !== undefined && (typeof id !== 'string' || id.length > 36 || !DEVICE_ID.test(id))) {
      return validation('ids.device_id', 'value does not match regex pattern `^[a-z0-9](?:[-]?[a-z0-9]){2,}$`');
    }
    for (const [field, length] of [['dev_eui', 16], ['join_eui', 16], ['dev_addr', 8]] as const) {
      if (ids[field] !== undefined && !isHex(ids[field], length)) return validation(`ids.${field}`, `value length must be ${length / 2} bytes`);
    }
    return undefined;
  }

  /** What the real registries refuse to create without. */
  private missingOnCreate(registry: Registry, input: Record<string, unknown>, paths: string[]): TtsError | undefined {
    const need = (field: string) =>
      ttsError(400, `pkg/${registry === 'js' ? 'joinserver' : 'networkserver'}`, 'field_required', 'field `{field}` is required', { field });
    if (registry === 'js') {
      const ids = isObject(input.ids) ? input.ids : {};
      if (typeof ids.dev_eui !== 'string') return need('ids.dev_eui');
      if (typeof ids.join_eui !== 'string') return need('ids.join_eui');
    }
    if (registry === 'ns') {
      for (const field of ['frequency_plan_id', 'lorawan_version', 'lorawan_phy_version']) {
        if (!paths.includes(field) || getPath(input, field) === undefined) return need(field);
      }
    }
    return undefined;
  }

  // --- events stream ----------------------------------------------------------------------------

  private openStream(ctx: RouteContext): Reply | undefined {
    const request = jsonBody(ctx);
    if (!isObject(request)) {
      return ttsReply(400, ttsError(400, 'pkg/jsonpb', 'unmarshal', 'could not unmarshal request body'), true);
    }
    if (this.rejection && this.rejection.times > 0) {
      const { status, body, headers } = this.rejection;
      this.rejection.times -= 1;
      if (this.rejection.times <= 0) this.rejection = undefined;
      return { status, body, headers };
    }
    const req = request as StreamEventsRequest;
    if (!Array.isArray(req.identifiers) || req.identifiers.length === 0) {
      return ttsReply(400, ttsError(400, 'pkg/events/grpc', 'no_identifiers', 'no identifiers'), true);
    }
    const tail = Number(req.tail ?? 0);
    if (!Number.isInteger(tail) || tail < 0) return ttsReply(400, validation('tail', 'must be a uint32'), true);
    let afterMs: number | undefined;
    if (req.after !== undefined && req.after !== null && req.after !== '') {
      afterMs = parseTimestampMs(String(req.after));
      if (Number.isNaN(afterMs)) return ttsReply(400, validation('after', 'must be an RFC 3339 timestamp'), true);
    }

    const sse = ctx.headers.accept === 'text/event-stream';
    const headers: Record<string, string> = {
      'Content-Type': sse ? 'text/event-stream' : 'application/json',
      'Cache-Control': 'no-cache',
    };
    if (!this.eventsStore) headers['X-Warning'] = 'Events storage is not enabled';
    ctx.res.writeHead(200, headers);
    ctx.res.flushHeaders();
    const stream: OpenStream = { req: ctx.req, res: ctx.res, request: req, separator: sse ? '\n\n' : '\n' };

    this.write(stream, {
      result: {
        name: 'events.stream.start',
        time: nsTimestamp(),
        identifiers: clone(req.identifiers),
        origin: this.origin,
        correlation_ids: [`rpc:/ttn.lorawan.v3.Events/Stream:${ulid()}`],
        unique_id: ulid(),
      },
    });

    if (this.eventsStore && (tail > 0 || afterMs !== undefined)) {
      let backlog = this.history
        .map((event, index) => ({ event, index, ms: parseTimestampMs(event.time) }))
        .filter(({ event }) => eventMatches(event, req))
        .sort((a, b) => a.ms - b.ms || a.index - b.index);
      if (afterMs !== undefined) backlog = backlog.filter(({ ms }) => ms > afterMs - this.replayOverlapMs);
      if (tail > 0) backlog = backlog.slice(-tail);
      for (const { event } of backlog) this.write(stream, { result: event });
    }

    this.streams.add(stream);
    ctx.res.on('close', () => this.streams.delete(stream));
    return undefined;
  }

  private write(stream: OpenStream, message: unknown): void {
    if (stream.res.writableEnded || stream.res.destroyed) return;
    stream.res.write(JSON.stringify(message) + stream.separator);
  }
}

function forbiddenPaths(paths: string[]): TtsError {
  return ttsError(400, 'pkg/ttnpb', 'forbidden_paths', 'forbidden path(s) in field mask', { forbidden_paths: paths.join(',') });
}

function rateLimitHeaders(limit: number, retrySeconds: number): Record<string, string> {
  return {
    'X-Rate-Limit-Limit': String(limit),
    'X-Rate-Limit-Available': '0',
    'X-Rate-Limit-Reset': String(retrySeconds),
    'X-Rate-Limit-Retry': String(retrySeconds),
  };
}

// ---------------------------------------------------------------------------------------------
// Event builders

export interface DeviceRef {
  applicationId?: string;
  deviceId: string;
  devEui?: string;
  joinEui?: string;
  devAddr?: string;
}

export const TTS_APPLICATION_ID = 'lpwan-bridge-test';

function endDeviceIds(ref: DeviceRef) {
  return {
    device_id: ref.deviceId,
    application_ids: { application_id: ref.applicationId ?? TTS_APPLICATION_ID },
    ...(ref.devEui ? { dev_eui: ref.devEui.toUpperCase() } : {}),
    ...(ref.joinEui ? { join_eui: ref.joinEui.toUpperCase() } : {}),
    ...(ref.devAddr ? { dev_addr: ref.devAddr.toUpperCase() } : {}),
  };
}

/** A timestamp `offsetMs` before `time`, with random nanoseconds. */
function before(time: string, offsetMs: number): string {
  const ms = parseTimestampMs(time) - offsetMs;
  return new Date(ms).toISOString().replace('Z', `${String(randomBytes(3).readUIntBE(0, 3) % 1_000_000).padStart(6, '0')}Z`);
}

/** Any event about one device, e.g. `as.down.data.ack.forward` with an ApplicationUp `data`. */
export function deviceEvent(
  name: string,
  ref: DeviceRef & { time?: string; uniqueId?: string; correlationIds?: string[] },
  data?: Record<string, unknown>,
): TtsEvent {
  const ids = endDeviceIds(ref);
  const correlationIds = ref.correlationIds ?? [`as:up:${ulid()}`];
  return {
    name,
    time: ref.time ?? nsTimestamp(),
    identifiers: [{ device_ids: ids }],
    ...(data ? { data: { '@type': 'type.googleapis.com/ttn.lorawan.v3.ApplicationUp', end_device_ids: ids, correlation_ids: correlationIds, ...data } } : {}),
    correlation_ids: correlationIds,
    origin: 'ip-10-100-15-195.eu-west-1.compute.internal',
    context: { 'tenant-id': 'CgN0dG4=' },
    visibility: { rights: ['RIGHT_APPLICATION_TRAFFIC_READ'] },
    unique_id: ref.uniqueId ?? ulid(),
  };
}

export interface UplinkEventOptions extends DeviceRef {
  fCnt: number;
  payloadBase64: string;
  fPort?: number;
  decodedPayload?: Record<string, unknown>;
  /** Event time (default now, nanoseconds). */
  time?: string;
  uniqueId?: string;
  rssi?: number;
  snr?: number;
  /** Hz (default 868100000); sent as a string like all 64-bit numbers. */
  frequency?: number;
  spreadingFactor?: number;
  bandwidth?: number;
  codingRate?: string;
  /** Older servers put coding_rate and data_rate_index in `settings` instead of `data_rate.lora`. */
  legacySettings?: boolean;
  gatewayId?: string;
  gatewayEui?: string;
  /** More gateways besides the first. */
  extraGateways?: { gatewayId: string; eui?: string; rssi: number; snr?: number }[];
  confirmed?: boolean;
  simulated?: boolean;
  correlationIds?: string[];
}

/** An `as.up.data.forward` event shaped like tts-samples.json (zero/false/"" fields left out). */
export function uplinkEvent(o: UplinkEventOptions): TtsEvent {
  const time = o.time ?? nsTimestamp();
  const gatewayTime = before(time, 340);
  const timestamp = randomBytes(4).readUInt32BE(0);
  const frequency = String(o.frequency ?? 868100000);
  const lora: Record<string, unknown> = {
    bandwidth: o.bandwidth ?? 125000,
    spreading_factor: o.spreadingFactor ?? 7,
  };
  const settings: Record<string, unknown> = { data_rate: { lora }, frequency, timestamp, time: gatewayTime };
  if (o.legacySettings) {
    settings.coding_rate = o.codingRate ?? '4/5';
    settings.data_rate_index = Math.max(0, 12 - (o.spreadingFactor ?? 7));
  } else {
    lora.coding_rate = o.codingRate ?? '4/5';
  }
  const gateway = (gatewayId: string, eui: string | undefined, rssi: number, snr: number | undefined) => ({
    gateway_ids: { gateway_id: gatewayId, ...(eui ? { eui: eui.toUpperCase() } : {}) },
    time: gatewayTime,
    timestamp,
    ...(rssi !== 0 ? { rssi, channel_rssi: rssi } : {}),
    ...(snr ? { snr } : {}),
    uplink_token: randomBytes(48).toString('base64'),
    received_at: before(time, 225),
  });
  const uplink: Record<string, unknown> = {
    session_key_id: randomBytes(16).toString('base64'),
    ...((o.fPort ?? 1) !== 0 ? { f_port: o.fPort ?? 1 } : {}),
    ...(o.fCnt ? { f_cnt: o.fCnt } : {}),
    ...(o.payloadBase64 ? { frm_payload: o.payloadBase64 } : {}),
    ...(o.decodedPayload ? { decoded_payload: clone(o.decodedPayload) } : {}),
    rx_metadata: [
      gateway(o.gatewayId ?? 'eriks-rg186', o.gatewayEui ?? 'C0EE40FFFF293903', o.rssi ?? -69, o.snr ?? 8.25),
      ...(o.extraGateways ?? []).map((g) => gateway(g.gatewayId, g.eui, g.rssi, g.snr)),
    ],
    settings,
    received_at: before(time, 210),
    ...(o.confirmed ? { confirmed: true } : {}),
    consumed_airtime: '0.051456s',
    network_ids: { net_id: '000013', ns_id: 'EC656E0000000181', tenant_id: 'ttn', cluster_id: 'eu1', cluster_address: 'eu1.cloud.thethings.network' },
  };
  const event = deviceEvent(
    'as.up.data.forward',
    // As TTS names an uplink: the Application Server's as:up id first, then the servers' before it.
    { ...o, time, correlationIds: o.correlationIds ?? [`as:up:${ulid()}`, `gs:uplink:${ulid()}`, `ns:uplink:${ulid()}`] },
    {
      received_at: before(time, 2),
      uplink_message: uplink,
      ...(o.simulated ? { simulated: true } : {}),
    },
  );
  return event;
}

/** The bare ApplicationUp of an event: what a TTS webhook POSTs (its `data` without "@type"). */
export function applicationUp(event: TtsEvent): Record<string, unknown> {
  const { '@type': _type, ...rest } = clone(event.data ?? {});
  return rest;
}

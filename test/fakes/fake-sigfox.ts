/**
 * Fake Sigfox backend API v2 (HTTP Basic login/password): device types, device-type callbacks and
 * devices, in memory. Shapes follow reference 001 (the v1 document) translated to the v2 paths.
 */
import { jsonBody, FakeServer, Reply, RouteContext } from './fake-server';
import { clone, isHex, isObject, randomHex } from './util';

export interface SigfoxDeviceType {
  id: string;
  name: string;
  description?: string;
  keepAlive: number;
  payloadType: number;
  downlinkMode: number;
  downlinkDataString?: string;
  group: { id: string };
  contract?: { id: string };
}

export interface SigfoxCallback {
  id: string;
  channel: 'URL' | 'BATCH_URL' | 'EMAIL';
  callbackType: number;
  callbackSubtype: number;
  payloadConfig?: string;
  enabled: boolean;
  sendDuplicate: boolean;
  dead: boolean;
  downlinkHook: boolean;
  /** The URL given at creation (`url`), also listed as `urlPattern` like the v1 listing. */
  url?: string;
  urlPattern?: string;
  httpMethod?: string;
  headers?: Record<string, string>;
  sendSni?: boolean;
  bodyTemplate?: string;
  contentType?: string;
  linePattern?: string;
  subject?: string;
  recipient?: string;
  message?: string;
}

export interface SigfoxDevice {
  id: string;
  name: string;
  deviceType: { id: string };
  group: { id: string };
  pac: string;
  prototype: boolean;
  satelliteCapable: boolean;
  sequenceNumber?: number;
  lastCom?: number;
  state: number;
  comState: number;
  creationTime: number;
  activable: boolean;
  automaticRenewal: boolean;
  automaticRenewalStatus: number;
  location?: { lat: number; lng: number };
  productCertificate?: { key: string };
}

export interface FakeSigfoxOptions {
  login?: string;
  password?: string;
  /** Device types that exist from the start (default: one, `SIGFOX_DEVICE_TYPE_ID`). */
  deviceTypes?: Partial<SigfoxDeviceType>[];
  /** Default page size of list endpoints (Sigfox: 100). */
  defaultLimit?: number;
}

export const SIGFOX_LOGIN = '5d3f1e2a9e93a10a0c1b2c3d';
export const SIGFOX_PASSWORD = 'fake-sigfox-password';
export const SIGFOX_DEVICE_TYPE_ID = '5f2b1f7e2d8e7a0001a1b2c3';
export const SIGFOX_GROUP_ID = '5f2b1f7e2d8e7a0001a1b2c0';

/** Sigfox reads a device id as a number: "002C" and "2C" are one device. */
export function sigfoxDeviceKey(id: string): string {
  return id.toUpperCase().replace(/^0+(?=.)/, '');
}

/** Sigfox's error body: `{"message": …}` plus, for validation errors, `errors: [{field, message}]`. */
function sigfoxError(status: number, message: string, errors?: { field: string; message: string }[]): Reply {
  return { status, body: errors ? { message, errors } : { message } };
}

/** callbackType → allowed callbackSubtype values (0 DATA: 2 UPLINK, 3 BIDIR, 6 DATA_ADVANCED; 1 SERVICE; 2 ERROR). */
const SUBTYPES: Record<number, number[]> = { 0: [2, 3, 6], 1: [0, 1, 4, 5], 2: [0] };

export class FakeSigfox extends FakeServer {
  readonly login: string;
  readonly password: string;
  readonly deviceTypes = new Map<string, SigfoxDeviceType>();
  /** Callbacks by device type id. */
  readonly callbacks = new Map<string, SigfoxCallback[]>();
  /** Devices by `sigfoxDeviceKey` of their id; each keeps its id as it was written (e.g. "002C"). */
  readonly devices = new Map<string, SigfoxDevice>();
  private readonly defaultLimit: number;
  private readonly initialDeviceTypes: Partial<SigfoxDeviceType>[];

  constructor(options: FakeSigfoxOptions = {}) {
    super('fake-sigfox');
    this.login = options.login ?? SIGFOX_LOGIN;
    this.password = options.password ?? SIGFOX_PASSWORD;
    this.defaultLimit = options.defaultLimit ?? 100;
    this.initialDeviceTypes = options.deviceTypes ?? [{ id: SIGFOX_DEVICE_TYPE_ID, name: 'lpwan-bridge test type' }];
    for (const t of this.initialDeviceTypes) this.addDeviceType(t);
    this.registerRoutes();
  }

  /** Back to the initial device types, no callbacks, no devices (and what `clear()` wipes). */
  reset(): void {
    this.clear();
    this.deviceTypes.clear();
    this.callbacks.clear();
    this.devices.clear();
    for (const t of this.initialDeviceTypes) this.addDeviceType(t);
  }

  addDeviceType(input: Partial<SigfoxDeviceType> = {}): SigfoxDeviceType {
    const type: SigfoxDeviceType = {
      id: input.id ?? randomHex(24).toLowerCase(),
      name: input.name ?? 'device type',
      keepAlive: 0,
      payloadType: 2,
      downlinkMode: 0,
      group: { id: SIGFOX_GROUP_ID },
      ...input,
    };
    this.deviceTypes.set(type.id, type);
    this.callbacks.set(type.id, this.callbacks.get(type.id) ?? []);
    return clone(type);
  }

  /** Adds a device directly (no HTTP). */
  seedDevice(input: { id: string; deviceTypeId?: string; name?: string; pac?: string; prototype?: boolean }): SigfoxDevice {
    const device = this.newDevice(
      input.id.toUpperCase(),
      input.name ?? `device ${input.id}`,
      input.deviceTypeId ?? [...this.deviceTypes.keys()][0]!,
      input.pac ?? randomHex(16),
      input.prototype ?? false,
    );
    this.devices.set(sigfoxDeviceKey(device.id), device);
    return clone(device);
  }

  protected override authenticate(ctx: RouteContext): Reply | undefined {
    const header = ctx.headers.authorization;
    const m = typeof header === 'string' ? /^Basic\s+(.+)$/i.exec(header) : null;
    if (!m) return { ...sigfoxError(401, 'Unauthorized'), headers: { 'WWW-Authenticate': 'Basic realm="Sigfox API"' } };
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const sep = decoded.indexOf(':');
    if (sep < 0 || decoded.slice(0, sep) !== this.login || decoded.slice(sep + 1) !== this.password) {
      return { ...sigfoxError(401, 'Unauthorized'), headers: { 'WWW-Authenticate': 'Basic realm="Sigfox API"' } };
    }
    return undefined;
  }

  protected override errorReply(status: number, message: string): Reply {
    return sigfoxError(status, message);
  }

  private newDevice(id: string, name: string, deviceTypeId: string, pac: string, prototype: boolean): SigfoxDevice {
    return {
      id,
      name,
      deviceType: { id: deviceTypeId },
      group: { id: this.deviceTypes.get(deviceTypeId)?.group.id ?? SIGFOX_GROUP_ID },
      pac: pac.toUpperCase(),
      prototype,
      satelliteCapable: false,
      state: 0,
      comState: 5,
      creationTime: Date.now(),
      activable: true,
      automaticRenewal: true,
      automaticRenewalStatus: 0,
    };
  }

  /** Sigfox's `{data, paging: {next}}` page; `next` only when more items remain. */
  private page<T>(ctx: RouteContext, items: T[]): Reply {
    const limit = ctx.query.limit !== undefined ? Number(ctx.query.limit) : this.defaultLimit;
    const offset = ctx.query.offset !== undefined ? Number(ctx.query.offset) : 0;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) return sigfoxError(400, 'Invalid limit', [{ field: 'limit', message: 'must be between 1 and 100' }]);
    if (!Number.isInteger(offset) || offset < 0) return sigfoxError(400, 'Invalid offset', [{ field: 'offset', message: 'must be positive' }]);
    const data = items.slice(offset, offset + limit);
    const paging: { next?: string } = {};
    if (offset + limit < items.length) {
      const next = new URL(ctx.path, this.baseUrl);
      for (const [k, v] of ctx.searchParams) if (k !== 'limit' && k !== 'offset') next.searchParams.append(k, v);
      next.searchParams.set('limit', String(limit));
      next.searchParams.set('offset', String(offset + limit));
      paging.next = next.toString();
    }
    return { status: 200, body: { data: clone(data), paging } };
  }

  private buildCallback(input: unknown): SigfoxCallback | Reply {
    if (!isObject(input)) return sigfoxError(400, 'Invalid callback', [{ field: 'body', message: 'must be a JSON object' }]);
    const errors: { field: string; message: string }[] = [];
    const channel = input.channel;
    if (channel !== 'URL' && channel !== 'BATCH_URL' && channel !== 'EMAIL') {
      errors.push({ field: 'channel', message: 'must be URL, BATCH_URL or EMAIL' });
    }
    const type = input.callbackType;
    const subtype = input.callbackSubtype;
    if (typeof type !== 'number' || !(type in SUBTYPES)) errors.push({ field: 'callbackType', message: 'must be 0 (DATA), 1 (SERVICE) or 2 (ERROR)' });
    else if (typeof subtype !== 'number' || !SUBTYPES[type]!.includes(subtype)) {
      errors.push({ field: 'callbackSubtype', message: `is not valid for callbackType ${type}` });
    }
    if (channel === 'URL' || channel === 'BATCH_URL') {
      if (typeof input.url !== 'string' || !/^https?:\/\//.test(input.url)) errors.push({ field: 'url', message: 'must be an http(s) URL' });
      const method = input.httpMethod ?? (channel === 'BATCH_URL' ? 'POST' : undefined);
      if (method !== 'GET' && method !== 'POST' && method !== 'PUT') errors.push({ field: 'httpMethod', message: 'must be GET, POST or PUT' });
    }
    if (channel === 'BATCH_URL' && typeof input.linePattern !== 'string') errors.push({ field: 'linePattern', message: 'is required' });
    if (channel === 'EMAIL' && (typeof input.recipient !== 'string' || typeof input.subject !== 'string')) {
      errors.push({ field: 'recipient', message: 'subject and recipient are required' });
    }
    if (input.contentType !== undefined && !['text/plain', 'application/json', 'application/x-www-form-urlencoded'].includes(String(input.contentType))) {
      errors.push({ field: 'contentType', message: 'must be text/plain, application/json or application/x-www-form-urlencoded' });
    }
    if (errors.length > 0) return sigfoxError(400, 'Invalid callback', errors);

    const pick = <K extends keyof SigfoxCallback>(key: K): Partial<SigfoxCallback> =>
      input[key] !== undefined ? { [key]: clone(input[key]) } : {};
    const callback: SigfoxCallback = {
      id: randomHex(24).toLowerCase(),
      channel: channel as SigfoxCallback['channel'],
      callbackType: type as number,
      callbackSubtype: subtype as number,
      enabled: input.enabled !== false,
      sendDuplicate: input.sendDuplicate === true,
      dead: false,
      downlinkHook: false,
      ...pick('payloadConfig'),
      ...pick('url'),
      ...(typeof input.url === 'string' ? { urlPattern: input.url } : {}),
      ...(channel !== 'EMAIL' ? { httpMethod: (input.httpMethod as string | undefined) ?? 'POST' } : {}),
      ...pick('headers'),
      ...pick('sendSni'),
      ...pick('bodyTemplate'),
      ...(channel === 'URL' && input.httpMethod !== 'GET'
        ? { contentType: (input.contentType as string | undefined) ?? 'application/x-www-form-urlencoded' }
        : {}),
      ...pick('linePattern'),
      ...pick('subject'),
      ...pick('recipient'),
      ...pick('message'),
    };
    return callback;
  }

  private registerRoutes(): void {
    // Device types
    this.route('GET', '/v2/device-types', (ctx) => this.page(ctx, [...this.deviceTypes.values()]));
    this.route('GET', '/v2/device-types/:id', (ctx) => {
      const type = this.deviceTypes.get(ctx.params.id!);
      return type ? { status: 200, body: clone(type) } : sigfoxError(404, 'Device type not found');
    });

    // Callbacks
    this.route('GET', '/v2/device-types/:id/callbacks', (ctx) => {
      const list = this.callbacks.get(ctx.params.id!);
      if (!list) return sigfoxError(404, 'Device type not found');
      return { status: 200, body: { data: clone(list) } };
    });

    this.route('POST', '/v2/device-types/:id/callbacks', (ctx) => {
      const list = this.callbacks.get(ctx.params.id!);
      if (!list) return sigfoxError(404, 'Device type not found');
      const body = isObject(ctx.body) || Array.isArray(ctx.body) ? ctx.body : undefined;
      if (body === undefined) return sigfoxError(400, 'Request body must be JSON (Content-Type: application/json)');
      // v2 creates one callback and answers {"id"}; the v1 document posts an array and gets the ids back.
      const inputs: unknown[] = Array.isArray(body) ? body : [body];
      const created: SigfoxCallback[] = [];
      for (const input of inputs) {
        const result = this.buildCallback(input);
        if (!('id' in result)) return result;
        created.push(result);
      }
      list.push(...created);
      return Array.isArray(body)
        ? { status: 201, body: created.map((c) => c.id) }
        : { status: 201, body: { id: created[0]!.id } };
    });

    this.route('DELETE', '/v2/device-types/:id/callbacks/:callbackId', (ctx) => {
      const list = this.callbacks.get(ctx.params.id!);
      const index = list?.findIndex((c) => c.id === ctx.params.callbackId) ?? -1;
      if (!list || index < 0) return sigfoxError(404, 'Callback not found');
      list.splice(index, 1);
      return { status: 204 };
    });

    this.route('PUT', '/v2/device-types/:id/callbacks/:callbackId/enable', (ctx) => {
      const callback = this.callbacks.get(ctx.params.id!)?.find((c) => c.id === ctx.params.callbackId);
      if (!callback) return sigfoxError(404, 'Callback not found');
      if (ctx.query.enabled !== 'true' && ctx.query.enabled !== 'false') return sigfoxError(400, 'enabled must be true or false');
      callback.enabled = ctx.query.enabled === 'true';
      return { status: 204 };
    });

    this.route('PUT', '/v2/device-types/:id/callbacks/:callbackId/downlink', (ctx) => {
      const list = this.callbacks.get(ctx.params.id!);
      const callback = list?.find((c) => c.id === ctx.params.callbackId);
      if (!list || !callback) return sigfoxError(404, 'Callback not found');
      if (callback.callbackSubtype !== 3) return sigfoxError(400, 'Only a BIDIR callback can be the downlink callback');
      for (const c of list) c.downlinkHook = c === callback;
      return { status: 204 };
    });

    // Devices
    this.route('GET', '/v2/devices', (ctx) => {
      const typeId = ctx.query.deviceTypeId;
      const devices = [...this.devices.values()]
        .filter((d) => !typeId || d.deviceType.id === typeId)
        .sort((a, b) => a.id.localeCompare(b.id));
      return this.page(ctx, devices);
    });

    this.route('POST', '/v2/devices', (ctx) => {
      if (!isObject(ctx.body)) return sigfoxError(400, 'Request body must be JSON (Content-Type: application/json)');
      const { id, name, deviceTypeId, pac, prototype } = ctx.body;
      const errors: { field: string; message: string }[] = [];
      if (typeof id !== 'string' || !/^[0-9A-Fa-f]{1,8}$/.test(id)) errors.push({ field: 'id', message: 'must be 1 to 8 hexadecimal characters' });
      if (typeof name !== 'string' || name === '') errors.push({ field: 'name', message: 'is required' });
      if (typeof deviceTypeId !== 'string') errors.push({ field: 'deviceTypeId', message: 'is required' });
      if (!isHex(pac, 16)) errors.push({ field: 'pac', message: 'must be 16 hexadecimal characters' });
      if (prototype !== undefined && typeof prototype !== 'boolean') errors.push({ field: 'prototype', message: 'must be a boolean' });
      if (errors.length > 0) return sigfoxError(400, 'Invalid device', errors);
      if (!this.deviceTypes.has(deviceTypeId as string)) return sigfoxError(404, `Device type ${String(deviceTypeId)} not found`);
      const deviceId = (id as string).toUpperCase();
      if (this.devices.has(sigfoxDeviceKey(deviceId))) return sigfoxError(400, `Device ${deviceId} already exists`, [{ field: 'id', message: 'already exists' }]);
      const device = this.newDevice(deviceId, name as string, deviceTypeId as string, pac as string, prototype === true);
      const { lat, lng, productCertificate, activable, automaticRenewal } = ctx.body;
      if (typeof lat === 'number' && typeof lng === 'number') device.location = { lat, lng };
      if (isObject(productCertificate) && typeof productCertificate.key === 'string') device.productCertificate = { key: productCertificate.key };
      if (typeof activable === 'boolean') device.activable = activable;
      if (typeof automaticRenewal === 'boolean') device.automaticRenewal = automaticRenewal;
      this.devices.set(sigfoxDeviceKey(deviceId), device);
      return { status: 201, body: { id: deviceId } };
    });

    this.route('GET', '/v2/devices/:id', (ctx) => {
      const device = this.devices.get(sigfoxDeviceKey(ctx.params.id!));
      return device ? { status: 200, body: clone(device) } : sigfoxError(404, 'Device not found');
    });

    this.route('PUT', '/v2/devices/:id', (ctx) => {
      const device = this.devices.get(sigfoxDeviceKey(ctx.params.id!));
      if (!device) return sigfoxError(404, 'Device not found');
      const body = jsonBody(ctx);
      if (!isObject(body)) return sigfoxError(400, 'Request body must be JSON');
      if (typeof body.name === 'string') device.name = body.name;
      if (typeof body.activable === 'boolean') device.activable = body.activable;
      if (typeof body.automaticRenewal === 'boolean') device.automaticRenewal = body.automaticRenewal;
      if (typeof body.lat === 'number' && typeof body.lng === 'number') device.location = { lat: body.lat, lng: body.lng };
      return { status: 204 };
    });

    this.route('DELETE', '/v2/devices/:id', (ctx) =>
      this.devices.delete(sigfoxDeviceKey(ctx.params.id!)) ? { status: 204 } : sigfoxError(404, 'Device not found'),
    );
  }
}

/**
 * Fake Helium Console API v1 (reference 000): devices, labels, device labels, integrations, flows,
 * with the `key` header, plus the downlink URL that HTTP-integration uplinks carry.
 */
import { FakeServer, Reply, RouteContext } from './fake-server';
import { clone, isBase64, isHex, isObject, uuid } from './util';

export interface HeliumLabelRef {
  adr_allowed: boolean | null;
  cf_list_enabled: boolean | null;
  config_profile_id: string | null;
  id: string;
  name: string;
  rx_delay: number | null;
}

export interface HeliumDevice {
  active: boolean;
  adr_allowed: boolean | null;
  app_eui: string;
  app_key: string;
  cf_list_enabled: boolean | null;
  config_profile_id: string | null;
  dc_usage: number;
  dev_eui: string;
  id: string;
  in_xor_filter: boolean;
  labels: HeliumLabelRef[];
  last_connected: string | null;
  name: string;
  organization_id: string;
  oui: number;
  rx_delay: number;
  total_packets: number;
}

export interface HeliumLabel {
  id: string;
  name: string;
  multi_buy: number;
  config_profile_id: string | null;
}

export interface HeliumIntegration {
  id: string;
  name: string;
  type: string;
  /** Everything the create body carried besides name/type (endpoint, method, headers, url_params, token…). */
  credentials: Record<string, unknown>;
  /** Secret part of this integration's downlink URLs. */
  downlink_key: string;
}

export interface HeliumFlow {
  device_id: string | null;
  function_id: string | null;
  id: string;
  integration_id: string;
  label_id: string | null;
  organization_id: string;
}

export interface HeliumDownlink {
  integrationId: string;
  /** Undefined when the URL had no device id (Console then targets the integration's devices). */
  deviceId: string | undefined;
  payload_raw: string;
  port: number | undefined;
  confirmed: boolean | undefined;
  body: Record<string, unknown>;
  at: number;
}

export interface HeliumHotspot {
  channel: number;
  frequency: number;
  hold_time: number;
  id: string;
  lat: number;
  long: number;
  name: string;
  reported_at: number;
  rssi: number;
  snr: number;
  spreading: string;
  status: string;
}

export interface HeliumUplinkBody {
  app_eui: string;
  dev_eui: string;
  devaddr: string;
  downlink_url: string;
  fcnt: number;
  hotspots: HeliumHotspot[];
  id: string;
  metadata: {
    adr_allowed: boolean;
    cf_list_enabled: boolean;
    multi_buy: number;
    organization_id: string;
    labels?: { id: string; name: string; organization_id: string }[];
  };
  name: string;
  payload: string;
  payload_size: number;
  port: number;
  reported_at: number;
  uuid: string;
}

export interface HeliumUplinkOverrides extends Partial<HeliumUplinkBody> {
  /** Fill id/name/dev_eui/app_eui/labels from this device (overrides still win). */
  device?: HeliumDevice;
  /** Integration whose downlink URL the body carries (default: a fixed fake integration id). */
  integrationId?: string;
}

export interface FakeHeliumOptions {
  apiKey?: string;
  organizationId?: string;
  organizationName?: string;
  dcBalance?: number;
}

export const HELIUM_API_KEY = 'fake-helium-console-key';

const DEFAULT_INTEGRATION_ID = '00000000-0000-4000-8000-000000000001';

function err(status: number, ...messages: string[]): Reply {
  return { status, body: { errors: { error: messages } } };
}

/** Console reads a JSON body only when sent as application/json. */
function jsonObject(ctx: RouteContext): Record<string, unknown> | undefined {
  return isObject(ctx.body) ? ctx.body : undefined;
}

function badJson(): Reply {
  return err(400, 'Request body must be a JSON object sent with content-type: application/json');
}

function text(status: number, body: string): Reply {
  return { status, body };
}

export class FakeHelium extends FakeServer {
  readonly apiKey: string;
  readonly organizationId: string;
  readonly devices = new Map<string, HeliumDevice>();
  readonly labels = new Map<string, HeliumLabel>();
  readonly integrations = new Map<string, HeliumIntegration>();
  readonly flows = new Map<string, HeliumFlow>();
  /** Downlinks POSTed to downlink URLs, in order. */
  readonly downlinks: HeliumDownlink[] = [];

  private readonly organizationName: string;
  private readonly dcBalance: number;
  /** Downlink keys of integration ids that exist only in uplink bodies built by `uplinkBody`. */
  private readonly extraDownlinkKeys = new Map<string, string>();

  constructor(options: FakeHeliumOptions = {}) {
    super('fake-helium');
    this.apiKey = options.apiKey ?? HELIUM_API_KEY;
    this.organizationId = options.organizationId ?? uuid();
    this.organizationName = options.organizationName ?? 'Acme';
    this.dcBalance = options.dcBalance ?? 731686;
    this.registerRoutes();
  }

  /** Wipes devices, labels, integrations, flows and downlinks (and what `clear()` wipes). */
  reset(): void {
    this.clear();
    this.devices.clear();
    this.labels.clear();
    this.integrations.clear();
    this.flows.clear();
    this.downlinks.length = 0;
    this.extraDownlinkKeys.clear();
  }

  /** Adds a device directly (no HTTP), as if created in Console. */
  seedDevice(input: { name: string; dev_eui: string; app_eui: string; app_key: string } & Partial<HeliumDevice>): HeliumDevice {
    const base = this.newDevice(input);
    const device: HeliumDevice = {
      ...base,
      ...clone(input),
      app_eui: base.app_eui,
      app_key: base.app_key,
      dev_eui: base.dev_eui,
      labels: clone(input.labels ?? []),
    };
    this.devices.set(device.id, device);
    return clone(device);
  }

  /** The downlink URL Console would put in uplinks for this integration and device. */
  downlinkUrl(integrationId: string = DEFAULT_INTEGRATION_ID, deviceId?: string): string {
    const key = this.downlinkKey(integrationId);
    return `${this.baseUrl}/api/v1/down/${integrationId}/${key}${deviceId ? `/${deviceId}` : ''}`;
  }

  /** A realistic HTTP-integration uplink body (Console's `req.body`), with `downlink_url` pointing here. */
  uplinkBody(overrides: HeliumUplinkOverrides = {}): HeliumUplinkBody {
    const { device, integrationId, ...fields } = overrides;
    const now = Date.now();
    const id = fields.id ?? device?.id ?? uuid();
    const payload = fields.payload ?? Buffer.from('hello').toString('base64');
    const body: HeliumUplinkBody = {
      app_eui: device?.app_eui ?? '70B3D57ED0008E64',
      dev_eui: device?.dev_eui ?? '008000000401261D',
      devaddr: '0A000048',
      downlink_url: this.downlinkUrl(integrationId, id),
      fcnt: 1,
      hotspots: [
        {
          channel: 12,
          frequency: 904.7000122070313,
          hold_time: 31,
          id: '11DTdjWo4VbDvVjyVKSwzaKt1BVTK4vNfqRv2ZMVd4FEJdyZSX9',
          lat: 37.7749,
          long: -122.4194,
          name: 'rapid-silver-lizard',
          reported_at: now,
          rssi: -57.0,
          snr: 12.5,
          spreading: 'SF9BW125',
          status: 'success',
        },
      ],
      id,
      metadata: {
        adr_allowed: false,
        cf_list_enabled: false,
        multi_buy: 1,
        organization_id: this.organizationId,
        labels: (device?.labels ?? []).map((l) => ({ id: l.id, name: l.name, organization_id: this.organizationId })),
      },
      name: device?.name ?? 'Basement Temp',
      payload,
      payload_size: Buffer.from(payload, 'base64').length,
      port: 1,
      reported_at: now,
      uuid: uuid(),
      ...fields,
    };
    return body;
  }

  protected override authenticate(ctx: RouteContext): Reply | undefined {
    const key = ctx.headers['key'];
    if (key === undefined) return err(401, 'API key is missing: send it in the "key" header');
    if (key !== this.apiKey) return err(401, 'Invalid API key');
    return undefined;
  }

  protected override errorReply(status: number, message: string): Reply {
    return err(status, message);
  }

  private downlinkKey(integrationId: string): string {
    const integration = this.integrations.get(integrationId);
    if (integration) return integration.downlink_key;
    let key = this.extraDownlinkKeys.get(integrationId);
    if (!key) {
      key = uuid().replace(/-/g, '');
      this.extraDownlinkKeys.set(integrationId, key);
    }
    return key;
  }

  private newDevice(input: { name: string; dev_eui: string; app_eui: string; app_key: string }): HeliumDevice {
    return {
      active: true,
      adr_allowed: null,
      app_eui: input.app_eui.toUpperCase(),
      app_key: input.app_key.toUpperCase(),
      cf_list_enabled: null,
      config_profile_id: null,
      dc_usage: 0,
      dev_eui: input.dev_eui.toUpperCase(),
      id: uuid(),
      in_xor_filter: false,
      labels: [],
      last_connected: null,
      name: input.name,
      organization_id: this.organizationId,
      oui: 1,
      rx_delay: 1,
      total_packets: 0,
    };
  }

  private labelRef(label: HeliumLabel): HeliumLabelRef {
    return {
      adr_allowed: null,
      cf_list_enabled: null,
      config_profile_id: label.config_profile_id,
      id: label.id,
      name: label.name,
      rx_delay: null,
    };
  }

  /** Validates one device object of a create body; returns the error text or the new device. */
  private buildDevice(input: unknown): string | HeliumDevice {
    if (!isObject(input)) return 'device: must be an object';
    const { name, app_eui, app_key, dev_eui, config_profile_id, label_ids } = input;
    if (typeof name !== 'string' || name.trim() === '') return 'name: Name cannot be blank';
    if (!isHex(dev_eui, 16)) return 'dev_eui: Dev EUI must be exactly 8 bytes long, and only contain characters 0-9 A-F';
    if (!isHex(app_eui, 16)) return 'app_eui: App EUI must be exactly 8 bytes long, and only contain characters 0-9 A-F';
    if (!isHex(app_key, 32)) return 'app_key: App Key must be exactly 16 bytes long, and only contain characters 0-9 A-F';
    const duplicate = [...this.devices.values()].some(
      (d) =>
        d.dev_eui === dev_eui.toUpperCase() && d.app_eui === app_eui.toUpperCase() && d.app_key === app_key.toUpperCase(),
    );
    if (duplicate) return 'dev_eui: An device with that dev_eui, app_eui, and app_key combination already exists';
    const labelIds = label_ids === undefined ? [] : label_ids;
    if (!Array.isArray(labelIds) || labelIds.some((l) => typeof l !== 'string' || !this.labels.has(l))) {
      return 'label_ids: Label not found';
    }
    const device = this.newDevice({ name, app_eui, app_key, dev_eui });
    device.config_profile_id = typeof config_profile_id === 'string' ? config_profile_id : null;
    device.labels = (labelIds as string[]).map((id) => this.labelRef(this.labels.get(id)!));
    return device;
  }

  private integrationView(i: HeliumIntegration) {
    const flows = [...this.flows.values()].filter((f) => f.integration_id === i.id);
    return {
      devices: flows.filter((f) => f.device_id).map((f) => ({ id: f.device_id })),
      id: i.id,
      labels: flows.filter((f) => f.label_id).map((f) => ({ id: f.label_id, name: this.labels.get(f.label_id!)?.name })),
      name: i.name,
      type: i.type,
      credentials: clone(i.credentials),
    };
  }

  private registerRoutes(): void {
    this.route('GET', '/api/v1/organization', () => ({
      status: 200,
      body: [{ dc_balance: this.dcBalance, id: this.organizationId, name: this.organizationName }],
    }));

    // Devices
    this.route('GET', '/api/v1/devices', (ctx) => {
      const { dev_eui, app_eui, app_key } = ctx.query;
      if (dev_eui === undefined && app_eui === undefined && app_key === undefined) {
        return { status: 200, body: [...this.devices.values()].map(clone) };
      }
      if (!dev_eui || !app_eui || !app_key) return err(400, 'dev_eui, app_eui and app_key are all required');
      const device = [...this.devices.values()].find(
        (d) => d.dev_eui === dev_eui.toUpperCase() && d.app_eui === app_eui.toUpperCase() && d.app_key === app_key.toUpperCase(),
      );
      if (!device) return err(404, 'Device not found');
      const { id, name, organization_id, oui } = device;
      return { status: 200, body: { app_eui: device.app_eui, app_key: device.app_key, dev_eui: device.dev_eui, id, name, organization_id, oui } };
    });

    this.route('POST', '/api/v1/devices', (ctx) => {
      const body = jsonObject(ctx);
      if (!body) return badJson();
      if (Array.isArray(body.devices)) {
        if (body.devices.length > 1000) return err(422, 'devices: at most 1000 devices per request');
        const success: unknown[] = [];
        const failure: unknown[] = [];
        for (const input of body.devices) {
          const result = this.buildDevice(input);
          if (typeof result === 'string') {
            failure.push({ ...(isObject(input) ? input : {}), error: result, organization_id: this.organizationId, oui: 1 });
          } else {
            this.devices.set(result.id, result);
            const { app_eui, app_key, config_profile_id, dev_eui, id, labels, name } = result;
            success.push({ app_eui, app_key, config_profile_id, dev_eui, id, labels, name });
          }
        }
        return { status: 200, body: { failure, success } };
      }
      const result = this.buildDevice(body);
      if (typeof result === 'string') return err(422, result);
      this.devices.set(result.id, result);
      return { status: 201, body: clone(result) };
    });

    this.route('PUT', '/api/v1/devices/active', (ctx) => {
      const body = jsonObject(ctx);
      if (!body) return badJson();
      const { dev_eui, app_eui, app_key } = ctx.query;
      if (!dev_eui) return err(400, 'dev_eui is required');
      if (typeof body.active !== 'boolean') return err(422, 'active: must be a boolean');
      const matches = [...this.devices.values()].filter(
        (d) =>
          d.dev_eui === dev_eui.toUpperCase() &&
          (!app_eui || d.app_eui === app_eui.toUpperCase()) &&
          (!app_key || d.app_key === app_key.toUpperCase()),
      );
      if (matches.length === 0) return err(404, 'Device not found');
      for (const d of matches) d.active = body.active;
      return text(200, 'Devices updated');
    });

    this.route('GET', '/api/v1/devices/:id', (ctx) => {
      const device = this.devices.get(ctx.params.id!);
      return device ? { status: 200, body: clone(device) } : err(404, 'Device not found');
    });

    this.route('PUT', '/api/v1/devices/:id', (ctx) => {
      const device = this.devices.get(ctx.params.id!);
      if (!device) return err(404, 'Device not found');
      const body = jsonObject(ctx);
      if (!body) return badJson();
      if ('active' in body) {
        if (typeof body.active !== 'boolean') return err(422, 'active: must be a boolean');
        device.active = body.active;
      } else if ('config_profile_id' in body) {
        if (body.config_profile_id !== null && typeof body.config_profile_id !== 'string') {
          return err(422, 'config_profile_id: must be a uuid or null');
        }
        device.config_profile_id = body.config_profile_id;
      } else {
        return err(400, 'active or config_profile_id is required');
      }
      return text(200, 'Device updated');
    });

    this.route('DELETE', '/api/v1/devices/:id', (ctx) => {
      const id = ctx.params.id!;
      if (!this.devices.delete(id)) return err(404, 'Device not found');
      for (const [flowId, flow] of this.flows) if (flow.device_id === id) this.flows.delete(flowId);
      return text(200, 'Device deleted');
    });

    this.route('GET', '/api/v1/devices/:id/events', (ctx) =>
      this.devices.has(ctx.params.id!) ? { status: 200, body: [] } : err(404, 'Device not found'),
    );

    // Device labels
    this.route('POST', '/api/v1/devices/:id/labels', (ctx) => {
      const device = this.devices.get(ctx.params.id!);
      if (!device) return err(404, 'Device not found');
      const body = jsonObject(ctx);
      if (!body) return badJson();
      const label = typeof body.label === 'string' ? this.labels.get(body.label) : undefined;
      if (!label) return err(404, 'Label not found');
      if (!device.labels.some((l) => l.id === label.id)) device.labels.push(this.labelRef(label));
      return text(200, 'Device added to label successfully');
    });

    this.route('DELETE', '/api/v1/devices/:id/labels/:labelId', (ctx) => {
      const device = this.devices.get(ctx.params.id!);
      if (!device) return err(404, 'Device not found');
      const index = device.labels.findIndex((l) => l.id === ctx.params.labelId);
      if (index < 0) return err(404, 'Label not found');
      device.labels.splice(index, 1);
      return text(200, 'Device removed from label successfully');
    });

    // Labels
    this.route('GET', '/api/v1/labels', (ctx) => {
      if (ctx.query.name !== undefined) {
        const label = [...this.labels.values()].find((l) => l.name === ctx.query.name);
        return label ? { status: 200, body: clone(label) } : err(404, 'Label not found');
      }
      return { status: 200, body: [...this.labels.values()].map((l) => ({ id: l.id, name: l.name })) };
    });

    this.route('POST', '/api/v1/labels', (ctx) => {
      const body = jsonObject(ctx);
      if (!body) return badJson();
      if (typeof body.name !== 'string' || body.name.trim() === '') return err(422, 'name: Name cannot be blank');
      const name = body.name;
      if ([...this.labels.values()].some((l) => l.name === name)) return err(422, 'name: This label name has already been used');
      const label: HeliumLabel = {
        id: uuid(),
        name,
        multi_buy: 1,
        config_profile_id: typeof body.config_profile_id === 'string' ? body.config_profile_id : null,
      };
      this.labels.set(label.id, label);
      return { status: 201, body: clone(label) };
    });

    this.route('GET', '/api/v1/labels/:id', (ctx) => {
      const label = this.labels.get(ctx.params.id!);
      return label ? { status: 200, body: clone(label) } : err(404, 'Label not found');
    });

    this.route('PUT', '/api/v1/labels/:id', (ctx) => {
      const label = this.labels.get(ctx.params.id!);
      if (!label) return err(404, 'Label not found');
      const body = jsonObject(ctx);
      if (!body) return badJson();
      if (!('config_profile_id' in body)) return err(400, 'config_profile_id is required');
      label.config_profile_id = typeof body.config_profile_id === 'string' ? body.config_profile_id : null;
      return text(200, 'Label updated');
    });

    this.route('PUT', '/api/v1/labels/:id/active', (ctx) => {
      const label = this.labels.get(ctx.params.id!);
      if (!label) return err(404, 'Label not found');
      const body = jsonObject(ctx);
      if (!body) return badJson();
      if (typeof body.active !== 'boolean') return err(422, 'active: must be a boolean');
      for (const d of this.devices.values()) if (d.labels.some((l) => l.id === label.id)) d.active = body.active;
      return text(200, 'Devices updated');
    });

    this.route('DELETE', '/api/v1/labels/:id', (ctx) => {
      const id = ctx.params.id!;
      if (!this.labels.delete(id)) return err(404, 'Label not found');
      for (const d of this.devices.values()) d.labels = d.labels.filter((l) => l.id !== id);
      for (const [flowId, flow] of this.flows) if (flow.label_id === id) this.flows.delete(flowId);
      return text(200, 'Label deleted');
    });

    // Integrations
    const createIntegration = (ctx: RouteContext, prebuilt: boolean): Reply => {
      const body = jsonObject(ctx);
      if (!body) return badJson();
      const { name, type, ...rest } = body;
      if (typeof name !== 'string' || name.trim() === '') return err(422, 'name: Name cannot be blank');
      if (typeof type !== 'string') return err(422, 'type: Type cannot be blank');
      if ([...this.integrations.values()].some((i) => i.name === name)) return err(422, 'name: Integration name has already been used');
      const required = prebuilt
        ? ['token']
        : ({ http: ['endpoint', 'method'], mqtt: ['endpoint', 'uplink_topic', 'downlink_topic'], azure: ['azure_policy_name', 'azure_hub_name', 'azure_primary_key'], aws: ['topic', 'aws_access_key', 'aws_secret_key', 'aws_region'] } as Record<string, string[]>)[type];
      if (!required || (prebuilt && !['akenza', 'ubidots', 'tago', 'datacake'].includes(type))) {
        return err(422, `type: unsupported integration type "${type}"`);
      }
      const missing = required.filter((k) => typeof rest[k] !== 'string' || rest[k] === '');
      if (missing.length > 0) return err(422, ...missing.map((k) => `${k}: can't be blank`));
      if (type === 'http' && !['get', 'post', 'put', 'patch'].includes(String(rest.method).toLowerCase())) {
        return err(422, 'method: must be one of GET, POST, PUT, PATCH');
      }
      const integration: HeliumIntegration = {
        id: uuid(),
        name,
        type,
        credentials: clone(rest),
        downlink_key: uuid().replace(/-/g, ''),
      };
      this.integrations.set(integration.id, integration);
      return { status: 201, body: this.integrationView(integration) };
    };
    this.route('POST', '/api/v1/integrations', (ctx) => createIntegration(ctx, false));
    this.route('POST', '/api/v1/integrations/prebuilt', (ctx) => createIntegration(ctx, true));

    this.route('GET', '/api/v1/integrations', (ctx) => {
      if (ctx.query.name !== undefined) {
        const found = [...this.integrations.values()].find((i) => i.name === ctx.query.name);
        return found ? { status: 200, body: this.integrationView(found) } : err(404, 'Integration not found');
      }
      return { status: 200, body: [...this.integrations.values()].map((i) => this.integrationView(i)) };
    });

    this.route('GET', '/api/v1/integrations/:id', (ctx) => {
      const found = this.integrations.get(ctx.params.id!);
      return found ? { status: 200, body: this.integrationView(found) } : err(404, 'Integration not found');
    });

    this.route('DELETE', '/api/v1/integrations/:id', (ctx) => {
      const found = this.integrations.get(ctx.params.id!);
      if (!found) return err(404, 'Integration not found');
      this.integrations.delete(found.id);
      for (const [flowId, flow] of this.flows) if (flow.integration_id === found.id) this.flows.delete(flowId);
      return { status: 200, body: { id: found.id, name: found.name } };
    });

    // Flows
    this.route('GET', '/api/v1/flows', (ctx) => {
      const integrationId = ctx.query.integration_id;
      if (!integrationId) return err(400, 'integration_id is required');
      if (!this.integrations.has(integrationId)) return err(404, 'Integration not found');
      return { status: 200, body: [...this.flows.values()].filter((f) => f.integration_id === integrationId).map(clone) };
    });

    this.route('POST', '/api/v1/flows', (ctx) => {
      const body = jsonObject(ctx);
      if (!body) return badJson();
      const { integration_id, label_id, device_id, function_id } = body;
      if (typeof integration_id !== 'string' || !this.integrations.has(integration_id)) return err(404, 'Integration not found');
      if ((label_id === undefined) === (device_id === undefined)) return err(422, 'exactly one of label_id and device_id is required');
      if (label_id !== undefined && (typeof label_id !== 'string' || !this.labels.has(label_id))) return err(404, 'Label not found');
      if (device_id !== undefined && (typeof device_id !== 'string' || !this.devices.has(device_id))) return err(404, 'Device not found');
      const flow: HeliumFlow = {
        device_id: typeof device_id === 'string' ? device_id : null,
        function_id: typeof function_id === 'string' ? function_id : null,
        id: uuid(),
        integration_id,
        label_id: typeof label_id === 'string' ? label_id : null,
        organization_id: this.organizationId,
      };
      this.flows.set(flow.id, flow);
      return { status: 200, body: clone(flow) };
    });

    this.route('DELETE', '/api/v1/flows/:id', (ctx) =>
      this.flows.delete(ctx.params.id!) ? text(200, 'Flow deleted successfully') : err(404, 'Flow not found'),
    );

    // Downlink URL (no `key` header: the URL's own key authenticates).
    const downlink = (ctx: RouteContext): Reply => {
      const { integrationId, downlinkKey, deviceId } = ctx.params as Record<string, string>;
      if (this.downlinkKey(integrationId!) !== downlinkKey) return err(404, 'Integration not found');
      const body = jsonObject(ctx);
      if (!body) return badJson();
      if (!isBase64(body.payload_raw)) return err(422, 'payload_raw: must be a base64 string');
      if (body.port !== undefined && (typeof body.port !== 'number' || body.port < 1 || body.port > 223)) {
        return err(422, 'port: must be an integer between 1 and 223');
      }
      if (body.confirmed !== undefined && typeof body.confirmed !== 'boolean') return err(422, 'confirmed: must be a boolean');
      this.downlinks.push({
        integrationId: integrationId!,
        deviceId,
        payload_raw: body.payload_raw,
        port: body.port as number | undefined,
        confirmed: body.confirmed as boolean | undefined,
        body: clone(body),
        at: Date.now(),
      });
      return text(200, 'Downlink scheduled');
    };
    this.route('POST', '/api/v1/down/:integrationId/:downlinkKey/:deviceId', downlink, { public: true });
    this.route('POST', '/api/v1/down/:integrationId/:downlinkKey', downlink, { public: true });
  }
}

import { HttpClient } from '../http-client';

/** A device as Helium Console's API v1 answers it (reference 000). */
export interface HeliumApiDevice {
  id: string;
  name: string;
  dev_eui: string;
  app_eui: string;
  app_key: string;
  active?: boolean;
}

export interface HeliumNewDevice {
  name: string;
  dev_eui: string;
  app_eui: string;
  app_key: string;
  label_ids?: string[];
}

/** An integration as Console answers it; Console's flows link labels or devices to it. */
export interface HeliumApiIntegration {
  id: string;
  name: string;
}

export interface HeliumApiFlow {
  id: string;
  integration_id: string;
  label_id: string | null;
  device_id: string | null;
}

/** A custom HTTP integration (reference 000, "Create a Custom HTTP Integration"). */
export interface HeliumNewHttpIntegration {
  name: string;
  endpoint: string;
  method: 'post';
  headers: Record<string, string>;
}

/** Console errors are `{"errors": {"error": ["…"]}}`; some answers are plain text. */
function heliumErrorMessage(body: unknown): string | undefined {
  const messages = (body as { errors?: { error?: unknown } } | undefined)?.errors?.error;
  if (Array.isArray(messages)) return messages.map(String).join('; ');
  return undefined;
}

/** Helium Console API v1, authenticated by the `key` header. */
export class HeliumApiClient {
  private readonly http: HttpClient;

  constructor(baseUrl: string, apiKey: string) {
    this.http = new HttpClient({ baseUrl, headers: { key: apiKey }, errorMessage: heliumErrorMessage });
  }

  async createDevice(device: HeliumNewDevice): Promise<HeliumApiDevice> {
    return (await this.http.post<HeliumApiDevice>({ path: '/api/v1/devices', body: device })).body;
  }

  /** The device with these EUIs and key, or null (Console's lookup needs all three). */
  async findDevice(devEui: string, appEui: string, appKey: string): Promise<HeliumApiDevice | null> {
    const { status, body } = await this.http.get<HeliumApiDevice>({
      path: '/api/v1/devices',
      query: { dev_eui: devEui, app_eui: appEui, app_key: appKey },
      accept: [404],
    });
    return status === 404 ? null : body;
  }

  async setActive(id: string, active: boolean): Promise<void> {
    await this.http.put({ path: `/api/v1/devices/${encodeURIComponent(id)}`, body: { active } });
  }

  /** A device already gone counts as deleted. */
  async deleteDevice(id: string): Promise<void> {
    await this.http.delete({ path: `/api/v1/devices/${encodeURIComponent(id)}`, accept: [404] });
  }

  /** The integration of this exact name, or null. */
  async findIntegration(name: string): Promise<HeliumApiIntegration | null> {
    const { status, body } = await this.http.get<HeliumApiIntegration | HeliumApiIntegration[]>({
      path: '/api/v1/integrations',
      query: { name },
      accept: [404],
    });
    if (status === 404) return null;
    // The search answers one integration; a server that ignores `name` answers the whole list.
    const candidates = Array.isArray(body) ? body : [body];
    return candidates.find((integration) => integration?.name === name) ?? null;
  }

  async createHttpIntegration(integration: HeliumNewHttpIntegration): Promise<HeliumApiIntegration> {
    return (await this.http.post<HeliumApiIntegration>({ path: '/api/v1/integrations', body: { type: 'http', ...integration } })).body;
  }

  /** Console deletes the integration's flows with it; one already gone counts as deleted. */
  async deleteIntegration(id: string): Promise<void> {
    await this.http.delete({ path: `/api/v1/integrations/${encodeURIComponent(id)}`, accept: [404] });
  }

  async createLabelFlow(integrationId: string, labelId: string): Promise<void> {
    await this.http.post({ path: '/api/v1/flows', body: { integration_id: integrationId, label_id: labelId } });
  }

  async listFlows(integrationId: string): Promise<HeliumApiFlow[]> {
    const { body } = await this.http.get<HeliumApiFlow[]>({ path: '/api/v1/flows', query: { integration_id: integrationId } });
    return Array.isArray(body) ? body : [];
  }

  /** Console v1 answers the organization's whole list at once: it has no pagination. */
  async listDevices(): Promise<HeliumApiDevice[]> {
    const { body } = await this.http.get<HeliumApiDevice[]>({ path: '/api/v1/devices' });
    return Array.isArray(body) ? body : [];
  }
}

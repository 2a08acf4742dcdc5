import { HttpClient, HttpRequest, HttpResponse } from '../http-client';

/** A device as Sigfox API v2 lists it. */
export interface SigfoxApiDevice {
  id: string;
  name?: string;
  pac?: string;
  deviceType?: { id: string };
}

interface SigfoxPage {
  data?: SigfoxApiDevice[];
  paging?: { next?: string };
}

export interface SigfoxNewDevice {
  id: string;
  name: string;
  deviceTypeId: string;
  pac: string;
  prototype: boolean;
}

/** A device-type callback as Sigfox lists it (v1 calls its URL `urlPattern`, v2 `url`). */
export interface SigfoxApiCallback {
  id: string;
  channel?: string;
  callbackType?: number;
  callbackSubtype?: number;
  url?: string;
  urlPattern?: string;
}

/** A URL callback sending JSON (reference 001, "Create a callback"). */
export interface SigfoxNewUrlCallback {
  channel: 'URL';
  /** 0 DATA, 1 SERVICE, 2 ERROR. */
  callbackType: number;
  /** DATA: 2 UPLINK, 3 BIDIR; SERVICE: 0 STATUS, 4 ACKNOWLEDGE; ERROR: 0. */
  callbackSubtype: number;
  url: string;
  httpMethod: 'POST';
  contentType: 'application/json';
  headers: Record<string, string>;
  bodyTemplate: string;
  enabled: boolean;
  sendDuplicate: boolean;
  sendSni: boolean;
}

/** Sigfox errors are `{"message", "errors"?: [{field, message}]}`. */
function sigfoxErrorMessage(body: unknown): string | undefined {
  const { message, errors } = (body ?? {}) as { message?: unknown; errors?: Array<{ field?: unknown; message?: unknown }> };
  if (typeof message !== 'string') return undefined;
  const details = Array.isArray(errors) ? errors.map((e) => `${String(e.field)} ${String(e.message)}`).join('; ') : '';
  return details ? `${message}: ${details}` : message;
}

/** Sigfox backend API v2 with HTTP Basic (the API login and password of the group). */
export class SigfoxApiClient {
  private readonly http: HttpClient;

  constructor(baseUrl: string, login: string, password: string) {
    const basic = Buffer.from(`${login}:${password}`).toString('base64');
    this.http = new HttpClient({ baseUrl, headers: { authorization: `Basic ${basic}` }, errorMessage: sigfoxErrorMessage });
  }

  async createDevice(device: SigfoxNewDevice): Promise<void> {
    await this.http.post({ path: '/v2/devices/', body: device });
  }

  async updateDevice(id: string, changes: { name: string }): Promise<void> {
    await this.http.put({ path: `/v2/devices/${encodeURIComponent(id)}`, body: changes });
  }

  /** A device already gone counts as deleted. */
  async deleteDevice(id: string): Promise<void> {
    await this.http.delete({ path: `/v2/devices/${encodeURIComponent(id)}`, accept: [404] });
  }

  /** `downlinkMode`: 0 direct, 1 callback (the BIDIR callback's answer is the downlink), 2 none, 3 managed. */
  async getDeviceType(deviceTypeId: string): Promise<{ id: string; downlinkMode?: number }> {
    return (await this.http.get<{ id: string; downlinkMode?: number }>({ path: `/v2/device-types/${encodeURIComponent(deviceTypeId)}` })).body;
  }

  async listCallbacks(deviceTypeId: string): Promise<SigfoxApiCallback[]> {
    const { body } = await this.http.get<{ data?: SigfoxApiCallback[] } | undefined>({ path: `/v2/device-types/${encodeURIComponent(deviceTypeId)}/callbacks` });
    return body?.data ?? [];
  }

  /** Answers the new callback's id. */
  async createCallback(deviceTypeId: string, callback: SigfoxNewUrlCallback): Promise<string> {
    const { body } = await this.http.post<{ id: string }>({ path: `/v2/device-types/${encodeURIComponent(deviceTypeId)}/callbacks`, body: callback });
    return body.id;
  }

  /** A callback already gone counts as deleted. */
  async deleteCallback(deviceTypeId: string, callbackId: string): Promise<void> {
    await this.http.delete({ path: `/v2/device-types/${encodeURIComponent(deviceTypeId)}/callbacks/${encodeURIComponent(callbackId)}`, accept: [404] });
  }

  /** Makes this BIDIR callback the one whose answer carries the device type's downlinks. */
  async selectDownlinkCallback(deviceTypeId: string, callbackId: string): Promise<void> {
    await this.http.put({ path: `/v2/device-types/${encodeURIComponent(deviceTypeId)}/callbacks/${encodeURIComponent(callbackId)}/downlink` });
  }

  /** Every device of the device type, following `paging.next` (Sigfox's default page size). */
  async listDevices(deviceTypeId: string): Promise<SigfoxApiDevice[]> {
    const devices: SigfoxApiDevice[] = [];
    const seen = new Set<string>();
    let request: HttpRequest | null = { path: '/v2/devices/', query: { deviceTypeId } };
    while (request) {
      const page: HttpResponse<SigfoxPage | undefined> = await this.http.get<SigfoxPage | undefined>(request);
      devices.push(...(page.body?.data ?? []));
      const next: string | undefined = page.body?.paging?.next;
      // A next link seen before would loop forever.
      request = next && !seen.has(next) ? { path: next } : null;
      if (next) seen.add(next);
    }
    return devices;
  }
}

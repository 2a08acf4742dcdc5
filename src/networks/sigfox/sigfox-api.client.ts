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

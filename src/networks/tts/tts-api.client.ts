import { HttpClient } from '../http-client';

/** The Identity Server's registry (`is`) and the Join, Network and Application Servers' ones. */
export type TtsRegistry = 'is' | 'js' | 'ns' | 'as';

export const REGISTRY_NAMES: Record<TtsRegistry, string> = {
  is: 'Identity Server',
  js: 'Join Server',
  ns: 'Network Server',
  as: 'Application Server',
};

/** `{end_device, field_mask}`: every registry write names the fields it sets (reference 003). */
export interface SetEndDeviceRequest {
  end_device: Record<string, unknown> & { ids: Record<string, unknown> };
  field_mask: { paths: string[] };
}

export interface TtsEndDevice {
  ids: { device_id: string; dev_eui?: string; join_eui?: string; dev_addr?: string };
  name?: string;
}

/** TTS errors are `{"code","message","details"}`, sometimes wrapped in `{"error": …}`. */
function ttsErrorMessage(body: unknown): string | undefined {
  const error = (body as { error?: { message?: unknown } } | undefined)?.error ?? body;
  const message = (error as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? message : undefined;
}

/** The end-device registries of one TTS application (reference 002), with a Bearer API key. */
export class TtsApiClient {
  private readonly http: HttpClient;

  constructor(
    baseUrl: string,
    apiKey: string,
    private readonly applicationId: string,
  ) {
    this.http = new HttpClient({ baseUrl, headers: { authorization: `Bearer ${apiKey}` }, errorMessage: ttsErrorMessage });
  }

  /** EndDeviceRegistry.Create: the first registration, in the Identity Server. */
  async create(request: SetEndDeviceRequest): Promise<void> {
    await this.http.post({ path: `/api/v3/applications/${this.app}/devices`, body: request });
  }

  /** EndDeviceRegistry.Update (Identity Server) or the Js/Ns/AsEndDeviceRegistry.Set of one device. */
  async set(registry: TtsRegistry, deviceId: string, request: SetEndDeviceRequest): Promise<void> {
    await this.http.put({ path: this.devicePath(registry, deviceId), body: request });
  }

  /** Get of one device: its ids (always answered) and timestamps; null when the registry has no device of that id. */
  async get(registry: TtsRegistry, deviceId: string): Promise<TtsEndDevice | null> {
    const { status, body } = await this.http.get<TtsEndDevice>({ path: this.devicePath(registry, deviceId), accept: [404] });
    return status === 404 ? null : body;
  }

  /** A device the registry does not have counts as deleted. */
  async delete(registry: TtsRegistry, deviceId: string): Promise<void> {
    await this.http.delete({ path: this.devicePath(registry, deviceId), accept: [404] });
  }

  /** One page of EndDeviceRegistry.List (pages count from 1); an empty page is `{}`. */
  async list(page: number, limit: number, fieldMask: string[]): Promise<TtsEndDevice[]> {
    const { body } = await this.http.get<{ end_devices?: TtsEndDevice[] }>({
      path: `/api/v3/applications/${this.app}/devices`,
      query: { field_mask: fieldMask.join(','), limit, page },
    });
    return body?.end_devices ?? [];
  }

  private get app(): string {
    return encodeURIComponent(this.applicationId);
  }

  private devicePath(registry: TtsRegistry, deviceId: string): string {
    const prefix = registry === 'is' ? '/api/v3' : `/api/v3/${registry}`;
    return `${prefix}/applications/${this.app}/devices/${encodeURIComponent(deviceId)}`;
  }
}

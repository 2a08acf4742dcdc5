import { NetworkError } from '../http-client';
import type { InstalledItem, InstallResult, InstallTarget, NetworkInstaller } from '../network-installer';
import { SigfoxApiCallback, SigfoxApiClient } from './sigfox-api.client';
import { SIGFOX_CALLBACK_TEMPLATES, SigfoxCallbackTemplate } from './sigfox-callback-templates';

interface SigfoxConnectionSettings {
  baseUrl: string;
  login: string;
  password: string;
  deviceTypeId: string;
}

/** The callbacks the bridge needs on its device type: a BIDIR DATA one covers uplinks and downlinks. */
const CALLBACKS: Array<{ detail: string; callbackType: number; callbackSubtype: number; ingest: string; template: SigfoxCallbackTemplate }> = [
  { detail: 'DATA BIDIR', callbackType: 0, callbackSubtype: 3, ingest: 'data', template: 'data' },
  { detail: 'SERVICE STATUS', callbackType: 1, callbackSubtype: 0, ingest: 'service', template: 'status' },
  { detail: 'SERVICE ACKNOWLEDGE', callbackType: 1, callbackSubtype: 4, ingest: 'service', template: 'acknowledge' },
  { detail: 'ERROR', callbackType: 2, callbackSubtype: 0, ingest: 'error', template: 'error' },
];

/**
 * Sigfox backend (reference 001): the connection's device type gets the callbacks of the README,
 * as JSON with the token in the `x-bridge-token` header; the BIDIR one is selected for downlinks.
 * The bridge's callbacks are those pointing at the connection's ingest URLs.
 */
export class SigfoxInstaller implements NetworkInstaller {
  missingSettings(settings: Record<string, unknown>): string | null {
    const missing = ['login', 'password', 'deviceTypeId'].filter((key) => !settings[key]);
    if (missing.length === 0) return null;
    return `settings.${missing.join(', settings.')} ${missing.length > 1 ? 'are' : 'is'} required to install the callbacks`;
  }

  async install(settings: Record<string, unknown>, target: InstallTarget): Promise<InstallResult> {
    const { client, deviceTypeId } = this.open(settings);
    // Also checks the device type exists before anything is changed.
    const { downlinkMode } = await client.getDeviceType(deviceTypeId);
    // The callback API has no edit (reference 001): earlier ones, with an older token, are replaced.
    for (const old of await this.bridgeCallbacks(client, deviceTypeId, target)) await client.deleteCallback(deviceTypeId, old.id);
    const installed: InstalledItem[] = [];
    try {
      for (const callback of CALLBACKS) {
        const url = target.ingestUrls[callback.ingest];
        const id = await client.createCallback(deviceTypeId, {
          channel: 'URL',
          callbackType: callback.callbackType,
          callbackSubtype: callback.callbackSubtype,
          url,
          httpMethod: 'POST',
          contentType: 'application/json',
          headers: { 'x-bridge-token': target.ingestToken },
          bodyTemplate: SIGFOX_CALLBACK_TEMPLATES[callback.template],
          enabled: true,
          // Sigfox's default; checking it merges every base station's copy into the event's gateways.
          sendDuplicate: false,
          // HTTPS hosts behind shared load balancers need SNI to present the right certificate.
          sendSni: url.startsWith('https:'),
        });
        installed.push({ kind: 'callback', id, url, detail: callback.detail });
      }
      await client.selectDownlinkCallback(deviceTypeId, installed[0].id);
    } catch (error) {
      for (const made of installed) await client.deleteCallback(deviceTypeId, made.id).catch(() => undefined);
      throw error;
    }
    return downlinkMode === 1 ? { installed } : { installed, note: "downlinks need the device type's downlink mode set to CALLBACK in the Sigfox backend" };
  }

  async uninstall(settings: Record<string, unknown>, target: Omit<InstallTarget, 'ingestToken'>): Promise<InstalledItem[]> {
    const { client, deviceTypeId } = this.open(settings);
    const removed: InstalledItem[] = [];
    for (const callback of await this.bridgeCallbacks(client, deviceTypeId, target)) {
      await client.deleteCallback(deviceTypeId, callback.id);
      removed.push({ kind: 'callback', id: callback.id, url: urlOf(callback), detail: describe(callback) });
    }
    return removed;
  }

  /** The device type's callbacks that call this connection's ingest URLs (query strings aside). */
  private async bridgeCallbacks(client: SigfoxApiClient, deviceTypeId: string, target: Omit<InstallTarget, 'ingestToken'>): Promise<SigfoxApiCallback[]> {
    const ours = new Set(Object.values(target.ingestUrls));
    return (await client.listCallbacks(deviceTypeId)).filter((callback) => ours.has(urlOf(callback).split('?')[0]));
  }

  private open(settings: Record<string, unknown>) {
    const missing = this.missingSettings(settings);
    if (missing) throw new NetworkError(400, missing);
    const { baseUrl, login, password, deviceTypeId } = settings as unknown as SigfoxConnectionSettings;
    return { client: new SigfoxApiClient(baseUrl, login, password), deviceTypeId };
  }
}

function urlOf(callback: SigfoxApiCallback): string {
  return callback.url ?? callback.urlPattern ?? '';
}

function describe(callback: SigfoxApiCallback): string | undefined {
  return CALLBACKS.find((c) => c.callbackType === callback.callbackType && c.callbackSubtype === callback.callbackSubtype)?.detail;
}

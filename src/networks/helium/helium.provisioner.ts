import { z } from 'zod';
import { DeviceProvisioner, DeviceRegistration, NetworkDevice, noSettingsPatch, ProvisionedDevice, required } from '../device-provisioner';
import { NetworkError } from '../http-client';
import { joinEuiOf, otaaFields } from '../lorawan';
import { HeliumApiClient } from './helium-api.client';

interface HeliumConnectionSettings {
  baseUrl: string;
  apiKey?: string;
  labelIds?: string[];
}

const registrationSchema: z.ZodType<DeviceRegistration> = z
  .object(otaaFields)
  .strict()
  .transform((input, ctx) => ({
    externalId: input.devEui,
    devEui: input.devEui,
    joinEui: joinEuiOf(input, ctx),
    settings: {},
    secrets: { appKey: input.appKey },
  }));

/**
 * Helium Console (reference 000). Devices get the connection's `labelIds` when created, so the
 * flows from those labels to the bridge's integration carry their uplinks; the bridge's own
 * labels are not Console labels and stay in the bridge.
 */
export class HeliumProvisioner implements DeviceProvisioner {
  readonly registrationSchema = registrationSchema;
  readonly settingsPatchSchema = noSettingsPatch;

  missingSettings(settings: Record<string, unknown>): string | null {
    return settings.apiKey ? null : 'settings.apiKey (a Console API key) is required to provision devices';
  }

  describe(): Record<string, unknown> {
    return {};
  }

  async create(settings: Record<string, unknown>, device: ProvisionedDevice): Promise<{ networkDeviceId: string }> {
    const { client, labelIds } = this.open(settings);
    const wanted = {
      name: device.name ?? device.externalId,
      dev_eui: device.devEui ?? device.externalId,
      app_eui: required(device.joinEui, 'joinEui'),
      app_key: required(device.secrets.appKey, 'appKey'),
    };
    let id: string;
    try {
      id = (await client.createDevice({ ...wanted, ...(labelIds.length ? { label_ids: labelIds } : {}) })).id;
    } catch (error) {
      // A create whose answer was lost (timeout) did happen: Console then refuses the copy with 422.
      const existing = error instanceof NetworkError && error.status === 422 ? await client.findDevice(wanted.dev_eui, wanted.app_eui, wanted.app_key) : null;
      if (!existing) throw error;
      id = existing.id;
    }
    if (!device.active) {
      try {
        await client.setActive(id, false);
      } catch (error) {
        await client.deleteDevice(id).catch(() => undefined);
        throw error;
      }
    }
    return { networkDeviceId: id };
  }

  /** Console's API can change a device's `active` flag (its name and keys only by re-creating it). */
  async update(settings: Record<string, unknown>, device: ProvisionedDevice): Promise<void> {
    if (!device.networkDeviceId) return;
    await this.open(settings).client.setActive(device.networkDeviceId, device.active);
  }

  async delete(settings: Record<string, unknown>, device: ProvisionedDevice): Promise<void> {
    // Without Console's id the device was never registered (its create is still queued or failed).
    if (!device.networkDeviceId) return;
    await this.open(settings).client.deleteDevice(device.networkDeviceId);
  }

  async list(settings: Record<string, unknown>): Promise<NetworkDevice[]> {
    const devices = await this.open(settings).client.listDevices();
    return devices.map((d) => ({
      externalId: d.dev_eui.toUpperCase(),
      networkDeviceId: d.id,
      name: d.name ?? null,
      devEui: d.dev_eui.toUpperCase(),
      joinEui: d.app_eui ? d.app_eui.toUpperCase() : null,
      active: typeof d.active === 'boolean' ? d.active : null,
      settings: {},
      secrets: d.app_key ? { appKey: d.app_key.toUpperCase() } : ({} as Record<string, string>),
    }));
  }

  private open(settings: Record<string, unknown>) {
    const { baseUrl, apiKey, labelIds } = settings as unknown as HeliumConnectionSettings;
    if (!apiKey) throw new NetworkError(400, this.missingSettings(settings) as string);
    return { client: new HeliumApiClient(baseUrl, apiKey), labelIds: labelIds ?? [] };
  }
}

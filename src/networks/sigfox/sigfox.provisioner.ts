import { z } from 'zod';
import { DeviceProvisioner, DeviceRegistration, NetworkDevice, ProvisionedDevice, required } from '../device-provisioner';
import { NetworkError } from '../http-client';
import { hexSchema } from '../lorawan';
import { SigfoxApiClient } from './sigfox-api.client';
import { canonicalSigfoxId, SIGFOX_ID_PATTERN, SIGFOX_ID_PROBLEM } from './sigfox-device-id';

interface SigfoxConnectionSettings {
  baseUrl: string;
  login?: string;
  password?: string;
  deviceTypeId?: string;
}

/** Builds the schemas around the payload config check (passed in: it lives in the adapter). */
function schemas(payloadConfigSchema: z.ZodType<string>) {
  const registrationSchema: z.ZodType<DeviceRegistration> = z
    .object({
      /** Padded or not, one device: kept and sent to Sigfox in its canonical form. */
      sigfoxId: z.string().regex(SIGFOX_ID_PATTERN, SIGFOX_ID_PROBLEM).transform(canonicalSigfoxId),
      pac: hexSchema(16, 'a Sigfox PAC'),
      /** Decodes this device's uplinks instead of the connection's payloadConfig. */
      payloadConfig: payloadConfigSchema.optional(),
    })
    .strict()
    .transform((input) => ({
      externalId: input.sigfoxId,
      devEui: null,
      joinEui: null,
      settings: input.payloadConfig ? { payloadConfig: input.payloadConfig } : {},
      secrets: { pac: input.pac },
    }));
  /** `payloadConfig: null` removes the device's own config (the connection's applies again). */
  const settingsPatchSchema = z.object({ payloadConfig: payloadConfigSchema.nullable().optional() }).strict();
  return { registrationSchema, settingsPatchSchema };
}

/** Sigfox backend API v2: devices are registered in the connection's device type. */
export class SigfoxProvisioner implements DeviceProvisioner {
  readonly registrationSchema: z.ZodType<DeviceRegistration>;
  readonly settingsPatchSchema: z.ZodType<Record<string, unknown>>;

  constructor(payloadConfigSchema: z.ZodType<string>) {
    ({ registrationSchema: this.registrationSchema, settingsPatchSchema: this.settingsPatchSchema } = schemas(payloadConfigSchema));
  }

  missingSettings(settings: Record<string, unknown>): string | null {
    const missing = ['login', 'password', 'deviceTypeId'].filter((key) => !settings[key]);
    if (missing.length === 0) return null;
    return `settings.${missing.join(', settings.')} ${missing.length > 1 ? 'are' : 'is'} required to provision devices`;
  }

  describe(device: { externalId: string; settings: Record<string, unknown> }): Record<string, unknown> {
    return { sigfoxId: device.externalId, payloadConfig: device.settings.payloadConfig ?? null };
  }

  async create(settings: Record<string, unknown>, device: ProvisionedDevice): Promise<{ networkDeviceId: string }> {
    const { client, deviceTypeId } = this.open(settings);
    await client.createDevice({
      id: device.externalId,
      name: device.name ?? device.externalId,
      deviceTypeId,
      pac: required(device.secrets.pac, 'pac'),
      prototype: false,
    });
    return { networkDeviceId: device.externalId };
  }

  async update(settings: Record<string, unknown>, device: ProvisionedDevice): Promise<void> {
    if (!device.networkDeviceId) return;
    await this.open(settings).client.updateDevice(device.networkDeviceId, { name: device.name ?? device.externalId });
  }

  async delete(settings: Record<string, unknown>, device: ProvisionedDevice): Promise<void> {
    // Without a network id the bridge never registered it: a device of that id is someone else's.
    if (!device.networkDeviceId) return;
    await this.open(settings).client.deleteDevice(device.networkDeviceId);
  }

  async list(settings: Record<string, unknown>): Promise<NetworkDevice[]> {
    const { client, deviceTypeId } = this.open(settings);
    const devices = await client.listDevices(deviceTypeId);
    return devices.map((d) => ({
      // Sigfox may list "002C" for the device the bridge knows as "2C".
      externalId: canonicalSigfoxId(d.id),
      networkDeviceId: canonicalSigfoxId(d.id),
      name: d.name ?? null,
      devEui: null,
      joinEui: null,
      active: null,
      settings: {},
      secrets: d.pac ? { pac: d.pac.toUpperCase() } : ({} as Record<string, string>),
    }));
  }

  private open(settings: Record<string, unknown>) {
    const missing = this.missingSettings(settings);
    if (missing) throw new NetworkError(400, missing);
    const { baseUrl, login, password, deviceTypeId } = settings as unknown as Required<SigfoxConnectionSettings>;
    return { client: new SigfoxApiClient(baseUrl, login, password), deviceTypeId };
  }
}

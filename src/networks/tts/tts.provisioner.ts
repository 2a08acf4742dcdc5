import { Logger } from '@nestjs/common';
import { z } from 'zod';
import { DeviceProvisioner, DeviceRegistration, NetworkDevice, noSettingsPatch, ProvisionedDevice, required } from '../device-provisioner';
import { NetworkError } from '../http-client';
import { abpFields, activationOf, aesKeySchema, euiSchema, joinEuiOf } from '../lorawan';
import { REGISTRY_NAMES, SetEndDeviceRequest, TtsApiClient, TtsRegistry } from './tts-api.client';
import { abpSteps, otaaSteps, TtsConnectionSettings, TtsProvisioningSettings } from './tts-registration-steps';

const TTS_ID = /^[a-z0-9](?:[-]?[a-z0-9]){2,35}$/;
const DEFAULT_LORAWAN_VERSION = 'MAC_V1_0_3';
const DEFAULT_PHY_VERSION = 'PHY_V1_0_3_REV_A';
/** Page size of the Identity Server list when reconciling (TTS allows up to 1000). */
const LIST_PAGE_SIZE = 200;
/** Removal order: the Identity Server refuses to delete a device the other servers still have. */
const DELETE_ORDER: TtsRegistry[] = ['as', 'ns', 'js', 'is'];

/** OTAA (devEui, joinEui/appEui, appKey) or LoRaWAN 1.0.x ABP (devEui, devAddr, nwkSKey, appSKey). */
const registrationSchema: z.ZodType<DeviceRegistration> = z
  .object({
    deviceId: z.string().regex(TTS_ID, 'must be a TTS device id: 3-36 lower-case letters, digits and single dashes').optional(),
    devEui: euiSchema,
    joinEui: euiSchema.optional(),
    appEui: euiSchema.optional(),
    appKey: aesKeySchema.optional(),
    ...abpFields,
  })
  .strict()
  .transform((input, ctx): DeviceRegistration => {
    const deviceId = input.deviceId ?? `eui-${input.devEui.toLowerCase()}`;
    if (activationOf(input, ctx) === 'abp') {
      return {
        externalId: input.devEui,
        devEui: input.devEui,
        joinEui: null,
        settings: { deviceId, activation: 'abp', devAddr: input.devAddr },
        secrets: { nwkSKey: input.nwkSKey ?? '', appSKey: input.appSKey ?? '' },
      };
    }
    return {
      externalId: input.devEui,
      devEui: input.devEui,
      joinEui: joinEuiOf(input, ctx),
      settings: { deviceId, activation: 'otaa' },
      secrets: { appKey: input.appKey ?? '' },
    };
  });

/**
 * The Things Stack: a device lives in four registries. Registration goes Identity Server, Join
 * Server (OTAA only), Network Server, Application Server, exactly as reference 003 shows it;
 * a step that fails removes what the earlier ones made, as `ttn-lw-cli end-devices create` does.
 * A registration the bridge could not finish (it stopped midway) resumes where it was cut.
 */
export class TtsProvisioner implements DeviceProvisioner {
  private readonly logger = new Logger('TtsProvisioner');
  readonly registrationSchema = registrationSchema;
  readonly settingsPatchSchema = noSettingsPatch;

  missingSettings(settings: Record<string, unknown>): string | null {
    if (!settings.apiKey) return 'settings.apiKey (an API key with rights on the application\'s devices) is required to provision devices';
    if (!settings.frequencyPlanId) return 'settings.frequencyPlanId (e.g. EU_863_870_TTN) is required to provision devices';
    return null;
  }

  describe(device: { settings: Record<string, unknown> }): Record<string, unknown> {
    const { deviceId, activation, devAddr } = device.settings;
    return { deviceId: deviceId ?? null, ...(activation ? { activation } : {}), ...(devAddr ? { devAddr } : {}) };
  }

  async create(settings: Record<string, unknown>, device: ProvisionedDevice): Promise<{ networkDeviceId: string }> {
    const connection = this.connection(settings);
    const client = this.client(connection);
    const deviceId = this.deviceId(device);
    const steps = device.settings.activation === 'abp' ? abpSteps(connection, device, deviceId) : otaaSteps(connection, device, deviceId);
    const done: TtsRegistry[] = [];
    for (const [registry, request] of steps) {
      try {
        if (registry === 'is') await this.createInIdentityServer(client, request, device, deviceId);
        else await client.set(registry, deviceId, request);
        done.push(registry);
      } catch (error) {
        throw await this.undo(client, deviceId, done, asNetworkError(error).withContext(REGISTRY_NAMES[registry]));
      }
    }
    return { networkDeviceId: deviceId };
  }

  /** The name is the one thing of the bridge's device the Identity Server keeps that can change. */
  async update(settings: Record<string, unknown>, device: ProvisionedDevice): Promise<void> {
    if (!device.networkDeviceId) return;
    const connection = this.connection(settings);
    const request = { end_device: { ids: { device_id: device.networkDeviceId }, name: device.name ?? '' }, field_mask: { paths: ['name'] } };
    try {
      await this.client(connection).set('is', device.networkDeviceId, request);
    } catch (error) {
      throw asNetworkError(error).withContext(REGISTRY_NAMES.is);
    }
  }

  async delete(settings: Record<string, unknown>, device: ProvisionedDevice): Promise<void> {
    // Without a network id the bridge never registered it: a device of that id is someone else's.
    if (!device.networkDeviceId) return;
    const client = this.client(this.connection(settings));
    for (const registry of DELETE_ORDER) {
      try {
        await client.delete(registry, device.networkDeviceId);
      } catch (error) {
        throw asNetworkError(error).withContext(REGISTRY_NAMES[registry]);
      }
    }
  }

  async list(settings: Record<string, unknown>): Promise<NetworkDevice[]> {
    const client = this.client(this.connection(settings));
    const devices: NetworkDevice[] = [];
    for (let page = 1; ; page++) {
      const batch = await client.list(page, LIST_PAGE_SIZE, ['name']);
      for (const d of batch) {
        // Matched on the DevEUI; a device registered without one cannot be matched.
        if (!d.ids.dev_eui) continue;
        devices.push({
          externalId: d.ids.dev_eui.toUpperCase(),
          networkDeviceId: d.ids.device_id,
          name: d.name ?? null,
          devEui: d.ids.dev_eui.toUpperCase(),
          joinEui: d.ids.join_eui ? d.ids.join_eui.toUpperCase() : null,
          active: null,
          settings: { deviceId: d.ids.device_id },
          secrets: {},
        });
      }
      if (batch.length < LIST_PAGE_SIZE) return devices;
    }
  }

  /**
   * A registration cut short after this step (the bridge stopped) left the device in the Identity
   * Server, and its retry finds the id taken: the device there with this DevEUI is that same
   * registration, and the other registries' Set calls are safe to repeat. A device of another
   * DevEUI is someone else's, and is left alone.
   */
  private async createInIdentityServer(client: TtsApiClient, request: SetEndDeviceRequest, device: ProvisionedDevice, deviceId: string): Promise<void> {
    try {
      await client.create(request);
    } catch (error) {
      if (!(error instanceof NetworkError && error.status === 409)) throw error;
      const existing = await client.get('is', deviceId);
      // The id is free: the DevEUI is what is taken, under another id, and the network's message says which.
      if (!existing) throw error;
      const devEui = required(device.devEui, 'devEui').toUpperCase();
      const theirs = existing.ids.dev_eui?.toUpperCase();
      if (theirs !== devEui) {
        throw new NetworkError(
          409,
          `device id ${deviceId} is taken by another device (DevEUI ${theirs ?? 'none'}), not this one (DevEUI ${devEui}): register this device with another deviceId`,
        );
      }
      this.logger.log(`${deviceId} is already in the ${REGISTRY_NAMES.is} with DevEUI ${devEui}: resuming its registration`);
    }
  }

  /** Removes, newest first, what a failed registration made; the registration's error is what the user sees. */
  private async undo(client: TtsApiClient, deviceId: string, done: TtsRegistry[], failure: NetworkError): Promise<NetworkError> {
    for (const registry of [...done].reverse()) {
      try {
        await client.delete(registry, deviceId);
      } catch (error) {
        this.logger.warn(`could not remove ${deviceId} from the ${REGISTRY_NAMES[registry]} after a failed registration: ${(error as Error).message}`);
        return new NetworkError(failure.status, `${failure.message} (removing it from the ${REGISTRY_NAMES[registry]} failed too: ${(error as Error).message})`, failure.retryAfterMs);
      }
    }
    return failure;
  }

  private deviceId(device: ProvisionedDevice): string {
    return required(device.settings.deviceId, 'TTS device id');
  }

  private connection(settings: Record<string, unknown>): TtsProvisioningSettings {
    const c = settings as unknown as TtsConnectionSettings;
    const missing = this.missingSettings(settings);
    if (missing) throw new NetworkError(400, missing);
    const host = new URL(c.baseUrl).host;
    return {
      ...c,
      apiKey: c.apiKey as string,
      frequencyPlanId: c.frequencyPlanId as string,
      lorawanVersion: c.lorawanVersion ?? DEFAULT_LORAWAN_VERSION,
      lorawanPhyVersion: c.lorawanPhyVersion ?? DEFAULT_PHY_VERSION,
      joinServerAddress: c.joinServerAddress ?? host,
      networkServerAddress: c.networkServerAddress ?? host,
      applicationServerAddress: c.applicationServerAddress ?? host,
    };
  }

  private client(c: TtsProvisioningSettings): TtsApiClient {
    return new TtsApiClient(c.baseUrl, c.apiKey, c.applicationId);
  }
}

function asNetworkError(error: unknown): NetworkError {
  return error instanceof NetworkError ? error : new NetworkError(null, (error as Error).message);
}

import { GetApplicationRequest } from '@chirpstack/chirpstack-api/api/application_pb';
import * as pb from '@chirpstack/chirpstack-api/api/device_pb';
import { status as grpcStatus } from '@grpc/grpc-js';
import { z } from 'zod';
import { DeviceProvisioner, DeviceRegistration, NetworkDevice, noSettingsPatch, ProvisionedDevice, required } from '../device-provisioner';
import { NetworkError } from '../http-client';
import { abpFields, activationOf, aesKeySchema, euiSchema } from '../lorawan';
import { ChirpstackApiClient, ChirpstackApiError, ChirpstackApiSettings, chirpstackClient } from './chirpstack-api.client';

/** ChirpStack's own limit on device names. */
const MAX_NAME_LENGTH = 100;
const LIST_PAGE = 250;

/** OTAA (devEui, appKey, joinEui optional: ChirpStack learns it at the join) or LoRaWAN 1.0.x ABP (devEui, devAddr, nwkSKey, appSKey). */
const registrationSchema: z.ZodType<DeviceRegistration> = z
  .object({
    devEui: euiSchema,
    joinEui: euiSchema.optional(),
    appEui: euiSchema.optional(),
    appKey: aesKeySchema.optional(),
    ...abpFields,
  })
  .strict()
  .transform((input, ctx): DeviceRegistration => {
    if (input.joinEui && input.appEui && input.joinEui !== input.appEui) {
      ctx.addIssue({ code: 'custom', path: ['appEui'], message: 'differs from joinEui: give one of them' });
    }
    const joinEui = input.joinEui ?? input.appEui ?? null;
    if (activationOf(input, ctx) === 'abp') {
      return {
        externalId: input.devEui,
        devEui: input.devEui,
        joinEui: null,
        settings: { activation: 'abp', devAddr: input.devAddr },
        secrets: { nwkSKey: input.nwkSKey ?? '', appSKey: input.appSKey ?? '' },
      };
    }
    return { externalId: input.devEui, devEui: input.devEui, joinEui, settings: { activation: 'otaa' }, secrets: { appKey: input.appKey ?? '' } };
  });

/**
 * ChirpStack v4 through its gRPC DeviceService (reference §6). Create, then CreateKeys (OTAA) or
 * Activate (ABP); a failed second step deletes the device the first one made. Its id is the DevEUI.
 */
export class ChirpstackProvisioner implements DeviceProvisioner {
  readonly registrationSchema = registrationSchema;
  readonly settingsPatchSchema = noSettingsPatch;
  readonly attributesInNetwork = true;

  missingSettings(settings: Record<string, unknown>): string | null {
    if (!settings.apiToken) return 'settings.apiToken (a ChirpStack API key of the tenant) is required to provision devices';
    if (!settings.deviceProfileId) return 'settings.deviceProfileId (the device profile of the devices the bridge creates) is required to provision devices';
    return null;
  }

  describe(device: { settings: Record<string, unknown> }): Record<string, unknown> {
    const { activation, devAddr } = device.settings;
    return { activation: activation ?? null, ...(devAddr ? { devAddr } : {}) };
  }

  async create(settings: Record<string, unknown>, device: ProvisionedDevice): Promise<{ networkDeviceId: string }> {
    const { client, connection } = this.open(settings);
    const devEui = (device.devEui ?? device.externalId).toLowerCase();
    const keys = this.keysStep(device, devEui);
    let created = true;
    try {
      await client.call(client.devices, client.devices.create, 'DeviceService/Create', createRequest(this.deviceOf(connection, device, devEui)));
    } catch (error) {
      // A create whose answer was lost did happen; a DevEUI of another application is not ours to take.
      if (!(error instanceof ChirpstackApiError && error.isDuplicate)) throw error;
      const existing = await this.get(client, devEui);
      if (existing.getApplicationId() !== connection.applicationId) {
        throw new NetworkError(409, `DevEUI ${devEui} is registered in another ChirpStack application (${existing.getApplicationId()})`);
      }
      created = false;
    }
    try {
      await keys(client);
    } catch (error) {
      if (created) await this.remove(client, devEui).catch(() => undefined);
      throw error;
    }
    return { networkDeviceId: devEui };
  }

  /** Update replaces every field: the device is read, and written back with the bridge's changes. */
  async update(settings: Record<string, unknown>, device: ProvisionedDevice): Promise<void> {
    if (!device.networkDeviceId) return;
    const { client } = this.open(settings);
    const current = await this.get(client, device.networkDeviceId);
    current.setName(nameOf(device));
    current.setIsDisabled(!device.active);
    setTags(current, device.attributes);
    const request = new pb.UpdateDeviceRequest();
    request.setDevice(current);
    await client.call(client.devices, client.devices.update, 'DeviceService/Update', request);
  }

  async delete(settings: Record<string, unknown>, device: ProvisionedDevice): Promise<void> {
    if (!device.networkDeviceId) return;
    const { client, connection } = this.open(settings);
    try {
      await this.remove(client, device.networkDeviceId);
    } catch (error) {
      if (!(error instanceof ChirpstackApiError)) throw error;
      if (error.isNotFound) return;
      // A tenant key sees a device that does not exist as UNAUTHENTICATED: if the key still reads
      // the application, the device is simply gone.
      if (error.code === grpcStatus.UNAUTHENTICATED && (await this.readsApplication(client, connection.applicationId))) return;
      throw error;
    }
  }

  async list(settings: Record<string, unknown>): Promise<NetworkDevice[]> {
    const { client, connection } = this.open(settings);
    const devices: NetworkDevice[] = [];
    for (let offset = 0; ; offset += LIST_PAGE) {
      const request = new pb.ListDevicesRequest();
      request.setApplicationId(connection.applicationId);
      request.setLimit(LIST_PAGE);
      request.setOffset(offset);
      request.setOrderBy(pb.ListDevicesRequest.OrderBy.DEV_EUI);
      const page = await client.call(client.devices, client.devices.list, 'DeviceService/List', request);
      for (const item of page.getResultList()) {
        devices.push({
          externalId: item.getDevEui().toUpperCase(),
          networkDeviceId: item.getDevEui().toLowerCase(),
          name: item.getName() || null,
          devEui: item.getDevEui().toUpperCase(),
          // The listing has neither JoinEUI nor keys nor the disabled flag.
          joinEui: null,
          active: null,
          settings: {},
          secrets: {},
        });
      }
      if (page.getResultList().length < LIST_PAGE || offset + LIST_PAGE >= page.getTotalCount()) return devices;
    }
  }

  private deviceOf(connection: ChirpstackApiSettings, device: ProvisionedDevice, devEui: string): pb.Device {
    const created = new pb.Device();
    created.setDevEui(devEui);
    created.setName(nameOf(device));
    created.setApplicationId(connection.applicationId);
    created.setDeviceProfileId(connection.deviceProfileId as string);
    created.setIsDisabled(!device.active);
    if (device.joinEui) created.setJoinEui(device.joinEui.toLowerCase());
    setTags(created, device.attributes);
    return created;
  }

  /** The second step: OTAA keys (LoRaWAN 1.0.x's AppKey is ChirpStack's `nwk_key`), or an ABP session. */
  private keysStep(device: ProvisionedDevice, devEui: string): (client: ChirpstackApiClient) => Promise<unknown> {
    if (device.settings.activation === 'abp') {
      const activation = new pb.DeviceActivation();
      const nwkSKey = required(device.secrets.nwkSKey, 'nwkSKey').toLowerCase();
      activation.setDevEui(devEui);
      activation.setDevAddr(required(device.settings.devAddr, 'devAddr').toLowerCase());
      activation.setAppSKey(required(device.secrets.appSKey, 'appSKey').toLowerCase());
      // LoRaWAN 1.0.x has one network session key: ChirpStack wants it in all three.
      activation.setNwkSEncKey(nwkSKey);
      activation.setSNwkSIntKey(nwkSKey);
      activation.setFNwkSIntKey(nwkSKey);
      const request = new pb.ActivateDeviceRequest();
      request.setDeviceActivation(activation);
      return (client) => client.call(client.devices, client.devices.activate, 'DeviceService/Activate', request);
    }
    const keys = new pb.DeviceKeys();
    keys.setDevEui(devEui);
    keys.setNwkKey(required(device.secrets.appKey, 'appKey').toLowerCase());
    return async (client) => {
      const create = new pb.CreateDeviceKeysRequest();
      create.setDeviceKeys(keys);
      try {
        await client.call(client.devices, client.devices.createKeys, 'DeviceService/CreateKeys', create);
      } catch (error) {
        if (!(error instanceof ChirpstackApiError && error.isDuplicate)) throw error;
        const update = new pb.UpdateDeviceKeysRequest();
        update.setDeviceKeys(keys);
        await client.call(client.devices, client.devices.updateKeys, 'DeviceService/UpdateKeys', update);
      }
    };
  }

  private async get(client: ChirpstackApiClient, devEui: string): Promise<pb.Device> {
    const request = new pb.GetDeviceRequest();
    request.setDevEui(devEui);
    const device = (await client.call(client.devices, client.devices.get, 'DeviceService/Get', request)).getDevice();
    if (!device) throw new NetworkError(502, `DeviceService/Get ${devEui}: the answer has no device`);
    return device;
  }

  private async remove(client: ChirpstackApiClient, devEui: string): Promise<void> {
    const request = new pb.DeleteDeviceRequest();
    request.setDevEui(devEui);
    await client.call(client.devices, client.devices.delete, 'DeviceService/Delete', request);
  }

  private async readsApplication(client: ChirpstackApiClient, applicationId: string): Promise<boolean> {
    const request = new GetApplicationRequest();
    request.setId(applicationId);
    return client.call(client.applications, client.applications.get, 'ApplicationService/Get', request).then(
      () => true,
      () => false,
    );
  }

  private open(settings: Record<string, unknown>) {
    const connection = settings as unknown as ChirpstackApiSettings;
    const missing = this.missingSettings(settings);
    if (missing) throw new NetworkError(400, missing);
    return { client: chirpstackClient(connection, 'provision devices'), connection };
  }
}

function createRequest(device: pb.Device): pb.CreateDeviceRequest {
  const request = new pb.CreateDeviceRequest();
  request.setDevice(device);
  return request;
}

function nameOf(device: ProvisionedDevice): string {
  return (device.name ?? device.externalId).slice(0, MAX_NAME_LENGTH);
}

/** The bridge's attributes are the device's ChirpStack tags (strings; a null attribute is no tag). */
function setTags(device: pb.Device, attributes: ProvisionedDevice['attributes']): void {
  const tags = device.getTagsMap();
  tags.clear();
  for (const [key, value] of Object.entries(attributes ?? {})) if (value !== null) tags.set(key, String(value));
}

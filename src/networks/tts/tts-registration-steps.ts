import { ProvisionedDevice, required } from '../device-provisioner';
import { NetworkError } from '../http-client';
import type { SetEndDeviceRequest, TtsRegistry } from './tts-api.client';

/** The EU868 channels the reference's ABP example presets, for devices that start without a join. */
const EU868_FACTORY_PRESET_FREQUENCIES = ['868100000', '868300000', '868500000', '867100000', '867300000', '867500000', '867700000', '867900000'];

/** What provisioning reads of a TTS connection's settings. */
export interface TtsConnectionSettings {
  baseUrl: string;
  applicationId: string;
  apiKey?: string;
  frequencyPlanId?: string;
  lorawanVersion?: string;
  lorawanPhyVersion?: string;
  joinServerAddress?: string;
  networkServerAddress?: string;
  applicationServerAddress?: string;
}

/** The connection's settings with the provisioner's defaults filled in. */
export type TtsProvisioningSettings = Required<TtsConnectionSettings>;

/**
 * The Set calls of a registration, registry by registry in the order they are made (reference
 * 003): Identity Server, Join Server (OTAA only), Network Server, Application Server.
 */
export function otaaSteps(c: TtsProvisioningSettings, device: ProvisionedDevice, deviceId: string): Array<[TtsRegistry, SetEndDeviceRequest]> {
  const ids = { device_id: deviceId, dev_eui: required(device.devEui, 'devEui'), join_eui: required(device.joinEui, 'joinEui') };
  return [
    [
      'is',
      {
        end_device: {
          ids,
          ...name(device),
          join_server_address: c.joinServerAddress,
          network_server_address: c.networkServerAddress,
          application_server_address: c.applicationServerAddress,
        },
        field_mask: {
          paths: ['join_server_address', 'network_server_address', 'application_server_address', 'ids.dev_eui', 'ids.join_eui', ...namePath(device)],
        },
      },
    ],
    [
      'js',
      {
        end_device: {
          ids,
          network_server_address: c.networkServerAddress,
          application_server_address: c.applicationServerAddress,
          root_keys: { app_key: { key: required(device.secrets.appKey, 'appKey') } },
        },
        field_mask: {
          paths: ['network_server_address', 'application_server_address', 'ids.device_id', 'ids.dev_eui', 'ids.join_eui', 'root_keys.app_key.key'],
        },
      },
    ],
    [
      'ns',
      {
        end_device: {
          supports_join: true,
          lorawan_version: c.lorawanVersion,
          ids,
          lorawan_phy_version: c.lorawanPhyVersion,
          frequency_plan_id: c.frequencyPlanId,
        },
        field_mask: {
          paths: ['supports_join', 'lorawan_version', 'ids.device_id', 'ids.dev_eui', 'ids.join_eui', 'lorawan_phy_version', 'frequency_plan_id'],
        },
      },
    ],
    ['as', { end_device: { ids }, field_mask: { paths: ['ids.device_id', 'ids.dev_eui', 'ids.join_eui'] } }],
  ];
}

/** LoRaWAN 1.0.x ABP: no Join Server; the session keys go to the Network and Application Servers. */
export function abpSteps(c: TtsProvisioningSettings, device: ProvisionedDevice, deviceId: string): Array<[TtsRegistry, SetEndDeviceRequest]> {
  if (!c.lorawanVersion.startsWith('MAC_V1_0')) {
    throw new NetworkError(400, `ABP registration supports LoRaWAN 1.0.x session keys; the connection's lorawanVersion is ${c.lorawanVersion}`);
  }
  const ids = { device_id: deviceId, dev_eui: required(device.devEui, 'devEui') };
  const devAddr = required(device.settings.devAddr, 'devAddr');
  // The reference's preset channels are EU868's; other plans take the band's defaults.
  const presets = c.frequencyPlanId.startsWith('EU_863_870');
  return [
    [
      'is',
      {
        end_device: { ids, ...name(device), network_server_address: c.networkServerAddress, application_server_address: c.applicationServerAddress },
        field_mask: { paths: ['network_server_address', 'application_server_address', 'ids.dev_eui', ...namePath(device)] },
      },
    ],
    [
      'ns',
      {
        end_device: {
          supports_join: false,
          lorawan_version: c.lorawanVersion,
          ids,
          session: { keys: { f_nwk_s_int_key: { key: required(device.secrets.nwkSKey, 'nwkSKey') } }, dev_addr: devAddr },
          mac_settings: { resets_f_cnt: true, ...(presets ? { factory_preset_frequencies: EU868_FACTORY_PRESET_FREQUENCIES } : {}) },
          lorawan_phy_version: c.lorawanPhyVersion,
          frequency_plan_id: c.frequencyPlanId,
        },
        field_mask: {
          paths: [
            'supports_join',
            'lorawan_version',
            'ids.device_id',
            'ids.dev_eui',
            'session.keys.f_nwk_s_int_key.key',
            'session.dev_addr',
            'mac_settings.resets_f_cnt',
            ...(presets ? ['mac_settings.factory_preset_frequencies'] : []),
            'lorawan_phy_version',
            'frequency_plan_id',
          ],
        },
      },
    ],
    [
      'as',
      {
        end_device: {
          ids,
          session: { keys: { app_s_key: { key: required(device.secrets.appSKey, 'appSKey') } }, dev_addr: devAddr },
          skip_payload_crypto: false,
        },
        field_mask: { paths: ['ids.device_id', 'ids.dev_eui', 'session.keys.app_s_key.key', 'session.dev_addr', 'skip_payload_crypto'] },
      },
    ],
  ];
}

function name(device: ProvisionedDevice): { name?: string } {
  return device.name ? { name: device.name } : {};
}

function namePath(device: ProvisionedDevice): string[] {
  return device.name ? ['name'] : [];
}

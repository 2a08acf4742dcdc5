import { hexToBase64 } from '../../common/bytes';
import { DownlinkDelivery, DownlinkDraft, DownlinkRejected, DownlinkSender } from '../../downlinks/downlink-sender';
import type { IncomingEvent } from '../../events/normalized-event';
import { jsonErrorMessage, postDownlink } from '../downlink-http';
import { validateLorawanDownlink } from '../lorawan-downlink';
import { BRIDGE_CORRELATION_PREFIX } from './tts.mapper';

interface TtsConnectionSettings {
  baseUrl: string;
  applicationId: string;
  apiKey?: string;
}

/**
 * TTS: the downlink is pushed to the Application Server's queue of the device, tagged with the
 * correlation id `lpwan-bridge:<downlinkId>`, which TTS hands back in its downlink_* messages.
 */
export class TtsDownlinkSender implements DownlinkSender {
  readonly usesPort = true;

  validate(draft: DownlinkDraft) {
    return validateLorawanDownlink(draft);
  }

  async send({ connection, device, downlink }: DownlinkDelivery): Promise<void> {
    const settings = connection.settings as unknown as TtsConnectionSettings;
    if (!settings.apiKey) throw new DownlinkRejected(`connection "${connection.id}" has no apiKey: TTS needs one to push downlinks`);
    const ttsDeviceId = ttsDeviceIdOf(device);
    if (!ttsDeviceId) throw new DownlinkRejected('the TTS device id is unknown: the device has neither settings.deviceId nor a name');
    const url =
      `${settings.baseUrl.replace(/\/+$/, '')}/api/v3/as/applications/${encodeURIComponent(settings.applicationId)}` +
      `/devices/${encodeURIComponent(ttsDeviceId)}/down/push`;
    const body = {
      downlinks: [
        {
          f_port: downlink.port,
          frm_payload: hexToBase64(downlink.payloadHex),
          confirmed: downlink.confirmed,
          priority: 'NORMAL',
          correlation_ids: [`${BRIDGE_CORRELATION_PREFIX}${downlink.id}`],
        },
      ],
    };
    await postDownlink('TTS', url, body, { authorization: `Bearer ${settings.apiKey}` }, jsonErrorMessage);
  }

  downlinkIdOf(event: IncomingEvent): string | null {
    const reference = event.ack?.downlinkId;
    return reference?.startsWith(BRIDGE_CORRELATION_PREFIX) ? reference.slice(BRIDGE_CORRELATION_PREFIX.length) : null;
  }
}

/**
 * A registered device's TTS id is its settings.deviceId (the TTS provisioner's); a discovered one is
 * named after it (the TTS mapper sets name = device_id).
 */
function ttsDeviceIdOf(device: DownlinkDelivery['device']): string | null {
  const fromSettings = (device.settings as { deviceId?: unknown } | null)?.deviceId;
  return typeof fromSettings === 'string' && fromSettings ? fromSettings : device.name;
}

import { hexToBase64 } from '../../common/bytes';
import { DownlinkDelivery, DownlinkDraft, DownlinkRejected, DownlinkSender } from '../../downlinks/downlink-sender';
import { postDownlink } from '../downlink-http';
import { validateLorawanDownlink } from '../lorawan-downlink';

/**
 * Helium: the downlink is POSTed to the `downlink_url` of the device's latest HTTP-integration
 * uplink (the event store keeps it in devices.downlink_url); the URL carries its own key.
 */
export class HeliumDownlinkSender implements DownlinkSender {
  readonly usesPort = true;

  validate(draft: DownlinkDraft) {
    return validateLorawanDownlink(draft);
  }

  async send({ device, downlink }: DownlinkDelivery): Promise<void> {
    if (!device.downlinkUrl) {
      throw new DownlinkRejected('no downlink_url yet: the device has not sent an uplink through the HTTP integration');
    }
    const body = { payload_raw: hexToBase64(downlink.payloadHex), port: downlink.port, confirmed: downlink.confirmed };
    await postDownlink('Helium', device.downlinkUrl, body, {}, heliumErrorText);
  }
}

/** Console answers errors as `{"errors": {"error": ["…"]}}`, or as plain text. */
function heliumErrorText(body: string): string | null {
  try {
    const errors = (JSON.parse(body) as { errors?: { error?: unknown } }).errors?.error;
    return Array.isArray(errors) ? errors.map(String).join('; ') : null;
  } catch {
    return null;
  }
}

import * as pb from '@chirpstack/chirpstack-api/api/device_pb';
import { DownlinkDelivery, DownlinkDraft, DownlinkRejected, DownlinkSender } from '../../downlinks/downlink-sender';
import type { IncomingEvent } from '../../events/normalized-event';
import { validateLorawanDownlink } from '../lorawan-downlink';
import { ChirpstackApiError, ChirpstackApiSettings, chirpstackClient } from './chirpstack-api.client';

/**
 * ChirpStack: the downlink goes into the device's queue with DeviceService/Enqueue, which answers
 * the queue item id (it makes its own: a given id is not kept). The item's `txack`, `ack` and `log`
 * events name that id; they make the bridge's downlink sent, acked or failed.
 */
export class ChirpstackDownlinkSender implements DownlinkSender {
  readonly usesPort = true;

  validate(draft: DownlinkDraft) {
    return validateLorawanDownlink(draft);
  }

  async send({ connection, device, downlink }: DownlinkDelivery): Promise<{ networkRef: string }> {
    const settings = connection.settings as unknown as ChirpstackApiSettings;
    if (!settings.apiToken) throw new DownlinkRejected(`connection "${connection.id}" has no apiToken: ChirpStack needs one to enqueue downlinks`);
    const client = chirpstackClient(settings, 'enqueue downlinks');
    const item = new pb.DeviceQueueItem();
    item.setDevEui((device.devEui ?? device.externalId).toLowerCase());
    item.setFPort(downlink.port ?? 0);
    item.setConfirmed(downlink.confirmed);
    item.setData(Buffer.from(downlink.payloadHex, 'hex'));
    const request = new pb.EnqueueDeviceQueueItemRequest();
    request.setQueueItem(item);
    try {
      const answer = await client.call(client.devices, client.devices.enqueue, 'DeviceService/Enqueue', request);
      return { networkRef: answer.getId() };
    } catch (error) {
      if (error instanceof ChirpstackApiError && !error.retryable) throw new DownlinkRejected(error.message);
      throw error;
    }
  }

  networkRefOf(event: IncomingEvent): string | null {
    return event.ack?.downlinkId ?? null;
  }
}

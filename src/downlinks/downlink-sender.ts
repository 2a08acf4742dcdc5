import type { OpenConnection } from '../connections/connections.service';
import type { IncomingEvent } from '../events/normalized-event';
import type { Device, Downlink } from '../generated/prisma/client';

/** A downlink as the network rules see it, before it is stored. */
export interface DownlinkDraft {
  port: number | undefined;
  payload: Buffer;
}

/** Why a network refuses a downlink; `field` is `port` or `payload`. */
export interface DownlinkProblem {
  field: 'port' | 'payload';
  message: string;
}

export interface DownlinkDelivery {
  connection: OpenConnection;
  device: Device;
  downlink: Downlink;
}

/** The network refused the downlink for good (a 4xx, no downlink URL…): it is not retried. */
export class DownlinkRejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DownlinkRejected';
  }
}

/**
 * How one network takes downlinks; set on its NetworkAdapter. The downlinks module knows no
 * network: it asks the sender for the rules, the delivery and the acknowledgements.
 */
export interface DownlinkSender {
  /** False where the network has no port (Sigfox): a given port is ignored and stored as null. */
  readonly usesPort: boolean;
  /** The network's rules for a downlink; a problem is refused with 400 before anything is stored. */
  validate(draft: DownlinkDraft): DownlinkProblem | null;
  /**
   * Hands the downlink to the network (from the `downlinks` queue); resolves once the network
   * accepted it, and it is then `sent`. A network that only queues it answers its reference for it
   * (ChirpStack's queue item id): the downlink stays `queued`, with that `networkRef`, until the
   * network's own events about it (`networkRefOf`) move it on. Throws DownlinkRejected when the
   * network refused it for good; any other error is retried. Absent: the network collects queued
   * downlinks itself (Sigfox BIDIR callbacks).
   */
  send?(delivery: DownlinkDelivery): Promise<void | { networkRef: string }>;
  /**
   * The bridge downlink a network's own `downlink.*` event is about, from the reference the network
   * echoes back (TTS correlation ids); null when it is not one of the bridge's.
   */
  downlinkIdOf?(event: IncomingEvent): string | null;
  /** The `networkRef` (answered by `send`) a network's own `downlink.*` event is about; null when it names none. */
  networkRefOf?(event: IncomingEvent): string | null;
}

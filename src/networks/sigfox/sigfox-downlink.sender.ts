import type { DownlinkDraft, DownlinkSender } from '../../downlinks/downlink-sender';

/** A Sigfox downlink frame is always 8 bytes. */
const SIGFOX_DOWNLINK_BYTES = 8;

/**
 * Sigfox: no push. The downlink waits in `queued` until the device's next BIDIR callback, which
 * answers it (SigfoxIngestService → DownlinksService.takeNextQueued); ACKNOWLEDGE settles it.
 */
export class SigfoxDownlinkSender implements DownlinkSender {
  readonly usesPort = false;

  validate({ payload }: DownlinkDraft) {
    if (payload.length === SIGFOX_DOWNLINK_BYTES) return null;
    return { field: 'payload' as const, message: `must be exactly ${SIGFOX_DOWNLINK_BYTES} bytes for Sigfox, got ${payload.length}` };
  }
}

import type { DownlinkDraft, DownlinkProblem } from '../downlinks/downlink-sender';

/** The largest application payload of a LoRaWAN downlink (at the fastest data rates; slower ones take less). */
export const LORAWAN_MAX_PAYLOAD_BYTES = 242;

/** LoRaWAN's rules (Helium, TTS): an FPort of 1 to 223, 0 being MAC commands and 224+ reserved. */
export function validateLorawanDownlink(draft: DownlinkDraft): DownlinkProblem | null {
  if (draft.port === undefined) return { field: 'port', message: 'is required: the LoRaWAN FPort, 1 to 223' };
  if (draft.port < 1 || draft.port > 223) {
    return { field: 'port', message: 'must be 1 to 223 (LoRaWAN FPort: 0 carries MAC commands, 224 and above are reserved)' };
  }
  if (draft.payload.length > LORAWAN_MAX_PAYLOAD_BYTES) {
    return { field: 'payload', message: `must be at most ${LORAWAN_MAX_PAYLOAD_BYTES} bytes for LoRaWAN, got ${draft.payload.length}` };
  }
  return null;
}

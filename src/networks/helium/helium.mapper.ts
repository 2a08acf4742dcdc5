import { createHash } from 'node:crypto';
import { base64ToHex } from '../../common/bytes';
import type { EventType, Gateway, IncomingEvent, Radio } from '../../events/normalized-event';
import { radioWithGateways } from '../../events/radio';
import type { HeliumHotspot, HeliumIntegrationBody } from './helium.schema';

const EVENT_TYPE: Record<HeliumIntegrationBody['type'], EventType> = { uplink: 'uplink', join: 'join', ack: 'downlink.acked' };

/** Helium reports MHz as float32 (904.7000122070313); channels sit on whole kHz. */
export function frequencyHz(mhz: number | null | undefined): number | null {
  return typeof mhz === 'number' ? Math.round(mhz * 1000) * 1000 : null;
}

/** "SF9BW125" → spreading factor 9, bandwidth 125 kHz. */
export function parseSpreading(spreading: string | null | undefined): { spreadingFactor: number | null; bandwidthHz: number | null } {
  const match = /^SF(\d+)BW(\d+)$/.exec(spreading ?? '');
  return match ? { spreadingFactor: Number(match[1]), bandwidthHz: Number(match[2]) * 1000 } : { spreadingFactor: null, bandwidthHz: null };
}

function toGateway(hotspot: HeliumHotspot): Gateway {
  const hasLocation = typeof hotspot.lat === 'number' && typeof hotspot.long === 'number';
  return {
    id: hotspot.id,
    name: hotspot.name ?? null,
    rssi: hotspot.rssi ?? null,
    snr: hotspot.snr ?? null,
    location: hasLocation ? { lat: hotspot.lat as number, lng: hotspot.long as number } : null,
  };
}

function toRadio(hotspots: HeliumHotspot[]): Radio | null {
  if (hotspots.length === 0) return null;
  const first = hotspots[0];
  return radioWithGateways(
    { frequencyHz: frequencyHz(first.frequency), dataRate: first.spreading ?? null, ...parseSpreading(first.spreading) },
    hotspots.map(toGateway),
  );
}

/**
 * Helium names no message, so its identity is its content: multi-buy copies (seconds apart) fall
 * well within this window around `reported_at`; the same device, address, counter and payload
 * later (a rejoin, an ABP device whose counters reset) is a new transmission.
 */
export const HELIUM_COPY_WINDOW_MS = 5 * 60_000;

/**
 * One Helium integration post → one event. Multi-buy posts the same packet once per buying
 * hotspot: same device, session address, counter and payload, hence the same dedup key.
 */
export function mapHeliumIntegration(body: HeliumIntegrationBody, raw: unknown = body): IncomingEvent {
  const payloadBase64 = body.payload ?? '';
  const payloadDigest = createHash('sha256').update(payloadBase64).digest('hex').slice(0, 12);
  const devEui = body.dev_eui.toUpperCase();
  return {
    type: EVENT_TYPE[body.type],
    dedupKey: `helium:${body.type}:${devEui}:${body.devaddr ?? ''}:${body.fcnt ?? ''}:${payloadDigest}`,
    identityWindowMs: HELIUM_COPY_WINDOW_MS,
    device: { externalId: devEui, name: body.name ?? null, devEui, joinEui: body.app_eui?.toUpperCase() ?? null },
    time: new Date(body.reported_at).toISOString(),
    uplink:
      body.type === 'uplink'
        ? {
            port: body.port ?? null,
            fcnt: body.fcnt ?? null,
            confirmed: body.confirmed ?? false,
            payloadHex: base64ToHex(payloadBase64),
            payloadBase64,
            decoded: body.decoded && body.decoded.status !== 'error' ? (body.decoded.payload ?? null) : null,
          }
        : null,
    radio: toRadio(body.hotspots),
    status: null,
    ack: body.type === 'ack' ? { downlinkId: null, info: null } : null,
    location: null,
    raw,
  };
}

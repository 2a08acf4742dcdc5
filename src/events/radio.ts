import { Gateway, Radio } from './normalized-event';

function maxOrNull(values: Array<number | null>): number | null {
  const present = values.filter((v): v is number => v !== null);
  return present.length ? Math.max(...present) : null;
}

/** The radio part with `rssi`/`snr` set to the best of its gateways (SPEC §4). */
export function radioWithGateways(radio: Omit<Radio, 'rssi' | 'snr' | 'gateways'>, gateways: Gateway[]): Radio {
  return {
    ...radio,
    rssi: maxOrNull(gateways.map((g) => g.rssi)),
    snr: maxOrNull(gateways.map((g) => g.snr)),
    gateways,
  };
}

/** Merges the gateways of a later copy of an event into the first one, one entry per gateway id. */
export function mergeRadio(first: Radio | null, later: Radio | null): Radio | null {
  if (!first || !later) return first ?? later;
  const byId = new Map(first.gateways.map((g) => [g.id, g]));
  for (const gateway of later.gateways) if (!byId.has(gateway.id)) byId.set(gateway.id, gateway);
  return radioWithGateways(first, [...byId.values()]);
}

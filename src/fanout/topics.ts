import type { EventType, NormalizedEvent } from '../events/normalized-event';

const TOPIC_SUFFIX: Record<EventType, string> = {
  uplink: 'event/up',
  join: 'event/join',
  status: 'event/status',
  ack: 'event/ack',
  location: 'event/location',
  error: 'event/error',
  'downlink.queued': 'event/down/queued',
  'downlink.sent': 'event/down/sent',
  'downlink.acked': 'event/down/acked',
  'downlink.failed': 'event/down/failed',
};

/** `{prefix}/{network}/{externalId}/event/...` (SPEC §5). */
export function eventTopic(prefix: string, event: Pick<NormalizedEvent, 'network' | 'type' | 'device'>): string {
  return `${prefix}/${event.network}/${event.device.externalId}/${TOPIC_SUFFIX[event.type]}`;
}

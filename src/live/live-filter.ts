import { z } from 'zod';
import { EVENT_TYPES, networkNameSchema } from '../events/normalized-event';
import type { LiveEvent } from './live-message';

/** `GET /api/events/live` filters: every given one must match. */
export const liveFilterSchema = z.object({
  network: networkNameSchema.optional(),
  connectionId: z.string().min(1).max(36).optional(),
  deviceId: z.uuid().optional(),
  type: z.enum(EVENT_TYPES).optional(),
});
export type LiveFilter = z.infer<typeof liveFilterSchema>;

export function matchesLiveFilter(filter: LiveFilter, event: Pick<LiveEvent, 'network' | 'connectionId' | 'deviceId' | 'type'>): boolean {
  return (
    (filter.network === undefined || event.network === filter.network) &&
    (filter.connectionId === undefined || event.connectionId === filter.connectionId) &&
    (filter.deviceId === undefined || event.deviceId === filter.deviceId) &&
    (filter.type === undefined || event.type === filter.type)
  );
}

import { z } from 'zod';

/** `?limit=&cursor=` of every list (SPEC §8). */
export const pageQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  cursor: z.string().min(1).max(200).optional(),
});

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

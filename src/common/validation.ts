import { BadRequestException } from '@nestjs/common';
import { z } from 'zod';

/** One line naming every bad field, e.g. `fcnt: expected number, received string`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length ? issue.path.join('.') : 'body'}: ${issue.message}`)
    .join('; ');
}

/** Validates input at the edge; a failure is a 400 naming the fields. */
export function parseOrBadRequest<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw new BadRequestException(describeIssues(result.error));
  return result.data;
}

/** Runs a mapper that validates as it goes; its ZodError becomes a 400 naming the fields. */
export function mapOrBadRequest<T>(map: () => T): T {
  try {
    return map();
  } catch (error) {
    if (error instanceof z.ZodError) throw new BadRequestException(describeIssues(error));
    throw error;
  }
}

/** An ISO 8601 time with its offset, from year 1 on: Postgres has no year 0, which JavaScript and the format allow. */
export const isoTimestamp = z.iso.datetime({ offset: true }).refine((time) => !time.startsWith('0000'), 'must be a time from year 1 on');

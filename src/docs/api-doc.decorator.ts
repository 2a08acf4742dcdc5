import { SetMetadata } from '@nestjs/common';
import type { z } from 'zod';

export const API_DOC = 'apiDoc';

export interface ApiDocOptions {
  summary: string;
  /** The zod schema the handler validates its body with: the same one becomes the OpenAPI schema. */
  body?: z.ZodType;
  query?: z.ZodObject;
  /** An example answer. */
  example?: unknown;
  /** Success status when it is not 200. */
  status?: number;
}

/** Documents a route in /docs from the schemas that validate it. */
export const ApiDoc = (options: ApiDocOptions) => SetMetadata(API_DOC, options);

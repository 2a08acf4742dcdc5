import type { FastifyRequest } from 'fastify';

/**
 * The ingest token as the network could send it: `x-bridge-token`, `Authorization: Bearer`,
 * or `?token=` (Sigfox and Helium let users set either headers or a URL, not always both).
 */
export function ingestToken(request: FastifyRequest): string | undefined {
  const header = request.headers['x-bridge-token'];
  if (typeof header === 'string' && header) return header;
  const bearer = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '')?.[1];
  if (bearer) return bearer.trim();
  const query = (request.query as Record<string, unknown> | undefined)?.token;
  return typeof query === 'string' && query ? query : undefined;
}

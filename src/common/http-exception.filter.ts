import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { MetricsService } from '../metrics/metrics.service';
import { isPostgresUnavailable, isUnavailable } from './unavailable';

/**
 * Every error leaves as `{ statusCode, error, message }` (SPEC §8). Framework errors raised
 * before Nest (body too large, bad JSON, media type) carry their own status and keep it.
 */
@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('http');

  constructor(private readonly metrics: MetricsService) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const request = host.switchToHttp().getRequest<FastifyRequest>();
    let statusCode: number;
    let message: string;
    if (exception instanceof HttpException) {
      statusCode = exception.getStatus();
      const response = exception.getResponse();
      const raw = typeof response === 'string' ? response : (response as { message?: unknown }).message;
      message = Array.isArray(raw) ? raw.join('; ') : String(raw ?? exception.message);
    } else if (typeof (exception as { statusCode?: unknown })?.statusCode === 'number' && (exception as { statusCode: number }).statusCode < 500) {
      statusCode = (exception as { statusCode: number }).statusCode;
      message = (exception as Error).message;
    } else if (isUnavailable(exception)) {
      // Store or queue unreachable: the caller should retry, so 503 rather than 500.
      statusCode = 503;
      message = isPostgresUnavailable(exception)
        ? 'Postgres is unreachable and this request needs it; retry later (ingest goes on into the journal)'
        : 'storage temporarily unavailable, retry later';
      this.logger.warn(`unavailable: ${(exception as Error)?.message}`);
    } else {
      statusCode = 500;
      message = 'internal error';
      this.logger.error(exception instanceof Error ? exception.stack : String(exception));
    }
    if (statusCode === 415) {
      message = `unsupported content type "${request.headers['content-type'] ?? ''}": send application/json or application/x-www-form-urlencoded`;
    }
    this.metrics.ingestErrors.inc({ kind: request.url.startsWith('/ingest/') ? 'ingest' : 'api', status: String(statusCode) });
    if (statusCode === 503) void reply.header('retry-after', '5');
    void reply.status(statusCode).send({ statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message });
  }
}

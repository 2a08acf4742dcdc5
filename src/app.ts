import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { AppModule } from './app.module';
import { parseSettings } from './config/settings';

/** Paths a worker-only process still serves: it is probed and scraped like any other. */
const WORKER_PATHS = /^\/(health|metrics)(\/|$|\?)/;

export async function createApp(env: Record<string, string | undefined> = {}): Promise<NestFastifyApplication> {
  const settings = parseSettings({ ...process.env, ...env });
  const adapter = new FastifyAdapter({
    bodyLimit: settings.INGEST_BODY_LIMIT,
    genReqId: (req: IncomingMessage) => (typeof req.headers['x-request-id'] === 'string' ? req.headers['x-request-id'] : randomUUID()),
    // `__proto__` / `constructor.prototype` keys are refused with 400 rather than silently kept.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(env), adapter, { bufferLogs: true });
  app.useLogger(app.get(Logger));
  const fastify = app.getHttpAdapter().getInstance();
  // JSON and urlencoded (Sigfox's default callback encoding) are parsed; anything else is 415.
  fastify.removeContentTypeParser('text/plain');
  // Postgres cannot store NUL in text or jsonb: refuse it at the edge rather than fail at the store.
  fastify.addHook('preValidation', async (request, reply) => {
    const where = [['path', request.params], ['query', request.query], ['body', request.body]].find(([, value]) => containsNul(value));
    if (where) {
      await reply.status(400).send({ statusCode: 400, error: 'Bad Request', message: `${where[0]}: NUL characters (\\u0000) are not accepted` });
    }
  });
  if (settings.BRIDGE_ROLE === 'worker') {
    fastify.addHook('onRequest', async (request, reply) => {
      if (!WORKER_PATHS.test(request.url)) {
        await reply.status(404).send({ statusCode: 404, error: 'Not Found', message: 'this process has BRIDGE_ROLE=worker: HTTP serves only /health and /metrics' });
      }
    });
  }
  return app;
}

function containsNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (value === null || typeof value !== 'object' || depth > 64) return false;
  for (const key in value) {
    if (key.includes('\u0000') || containsNul((value as Record<string, unknown>)[key], depth + 1)) return true;
  }
  return false;
}

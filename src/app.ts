import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import { AppModule } from './app.module';
import { jsonMayHoldUnstorableText, unstorableText } from './common/storable-text';
import { parseSettings } from './config/settings';
import { NetworkRegistry } from './networks/network-registry';

/** Paths a worker-only process still serves: it is probed and scraped like any other. */
const WORKER_PATHS = /^\/(health|metrics)(\/|$|\?)/;

declare module 'fastify' {
  interface FastifyRequest {
    /** The JSON body's text cannot hold what Postgres refuses (set by the body parser below). */
    bodyTextIsStorable: boolean;
  }
}

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
  // JSON and urlencoded (Sigfox's default callback encoding) are parsed; anything else is 415,
  // except raw bytes for the ingest endpoints of networks that send them (ChirpStack Protobuf).
  fastify.removeContentTypeParser('text/plain');
  const networks = app.get(NetworkRegistry);
  const binaryIngest = networks.networks().filter((network) => networks.get(network).binaryIngest).map((network) => `/ingest/${network}/`);
  fastify.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (request, body, done) => {
    if (binaryIngest.some((prefix) => request.url.startsWith(prefix))) done(null, body);
    else done(Object.assign(new Error('unsupported content type'), { statusCode: 415 }), undefined);
  });
  // Text Postgres cannot store is refused here, before it can fail a batch of other requests' events.
  // A JSON body whose text shows it cannot hold such text is not walked again once parsed. A flag
  // on the request, not a WeakSet of requests: under load the set's table was reallocated so often
  // that it was a fifth of what the bridge promoted to V8's old space (README, Performance).
  fastify.decorateRequest('bodyTextIsStorable', false);
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  app.useBodyParser<Server>('application/json', { bodyLimit: settings.INGEST_BODY_LIMIT }, (request, body, done) => {
    const text = body.toString('utf8');
    request.bodyTextIsStorable = !jsonMayHoldUnstorableText(text);
    parseJson(request, text, done);
  });
  // A callback hook, not an async one: it runs on every request.
  fastify.addHook('preValidation', (request, reply, done) => {
    for (const [where, value] of [['path', request.params], ['query', request.query], ['body', request.body]] as const) {
      if (where === 'body' && request.bodyTextIsStorable) continue;
      const problem = unstorableText(value);
      if (problem) {
        void reply.status(400).send({ statusCode: 400, error: 'Bad Request', message: `${where}: ${problem}` });
        return;
      }
    }
    done();
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

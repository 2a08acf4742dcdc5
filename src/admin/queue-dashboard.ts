import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { Injectable, Module, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { matchesHash, sha256Hex } from '../common/constant-time';
import { Settings } from '../config/settings';
import { MonitoredQueues } from '../metrics/monitored-queues';

const BASE_PATH = '/admin/queues';

/**
 * bull-board at /admin/queues, behind the API key. Browsers cannot send a Bearer header, so the
 * key is also accepted as the password of HTTP Basic auth (any user name), which they prompt for.
 */
@Injectable()
export class QueueDashboard implements OnModuleInit {
  constructor(
    private readonly http: HttpAdapterHost,
    private readonly queues: MonitoredQueues,
    private readonly config: ConfigService<Settings, true>,
  ) {}

  onModuleInit(): void {
    const fastify = this.http.httpAdapter.getInstance<FastifyInstance>();
    const serverAdapter = new FastifyAdapter().setBasePath(BASE_PATH);
    createBullBoard({ queues: this.queues.all.map((queue) => new BullMQAdapter(queue)), serverAdapter });
    const keyHashes = this.config.get('API_KEYS', { infer: true }).map(sha256Hex);
    void fastify.register(async (scope) => {
      scope.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
        if (keyHashes.length === 0) return;
        const key = presentedKey(request.headers.authorization ?? '');
        if (key === undefined || !keyHashes.map((hash) => matchesHash(key, hash)).includes(true)) {
          await reply
            .status(401)
            .header('www-authenticate', 'Basic realm="lpwan-bridge", charset="UTF-8"')
            .send({ statusCode: 401, error: 'Unauthorized', message: 'missing or invalid API key (Bearer, or Basic with the key as password)' });
        }
      });
      await scope.register(serverAdapter.registerPlugin(), { prefix: BASE_PATH });
    });
  }
}

function presentedKey(authorization: string): string | undefined {
  const [scheme, value] = authorization.split(' ', 2);
  if (/^bearer$/i.test(scheme)) return value?.trim();
  if (/^basic$/i.test(scheme) && value) return Buffer.from(value, 'base64').toString('utf8').split(':').slice(1).join(':');
  return undefined;
}

@Module({ providers: [QueueDashboard] })
export class AdminModule {}

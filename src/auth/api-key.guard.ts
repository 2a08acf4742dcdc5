import { CanActivate, ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { matchesHash, sha256Hex } from '../common/constant-time';
import { Settings } from '../config/settings';
import { IS_PUBLIC } from './public.decorator';

/** Global guard: management routes need `Authorization: Bearer <one of API_KEYS>`. */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly keyHashes: string[];
  private readonly open: boolean;

  constructor(
    private readonly reflector: Reflector,
    config: ConfigService<Settings, true>,
  ) {
    const keys = config.get('API_KEYS', { infer: true });
    this.keyHashes = keys.map(sha256Hex);
    // Only reachable with NODE_ENV=development (settings refuse it otherwise).
    this.open = keys.length === 0;
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.open || this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()])) {
      return true;
    }
    const header = context.switchToHttp().getRequest<FastifyRequest>().headers.authorization ?? '';
    const key = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim();
    // Check every key, so the time taken does not tell which one was close.
    const matched = key !== undefined && this.keyHashes.map((hash) => matchesHash(key, hash)).includes(true);
    if (!matched) throw new UnauthorizedException('missing or invalid API key (Authorization: Bearer <key>)');
    return true;
  }
}

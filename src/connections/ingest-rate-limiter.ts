import { HttpException, HttpStatus, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Settings } from '../config/settings';

/**
 * A token bucket per connection, in this process: a misconfigured or hostile sender on one
 * connection gets 429 instead of starving the others. Kept in memory so the check costs no
 * round trip; with N api processes the effective limit is N times the setting.
 */
@Injectable()
export class IngestRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; refilledAt: number }>();
  private readonly perSecond: number;

  constructor(config: ConfigService<Settings, true>) {
    this.perSecond = config.get('INGEST_RATE_LIMIT', { infer: true });
  }

  /** Takes one request's token, or throws 429 with the time to wait. */
  take(connectionId: string): void {
    if (this.perSecond === 0) return;
    const now = Date.now();
    const burst = this.perSecond * 2;
    const bucket = this.buckets.get(connectionId) ?? { tokens: burst, refilledAt: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.refilledAt) / 1000) * this.perSecond);
    bucket.refilledAt = now;
    this.buckets.set(connectionId, bucket);
    if (bucket.tokens < 1) {
      throw new HttpException(`ingest rate limit of ${this.perSecond}/s reached for connection "${connectionId}"`, HttpStatus.TOO_MANY_REQUESTS);
    }
    bucket.tokens -= 1;
  }
}

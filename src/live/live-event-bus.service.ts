import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import Redis from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { Settings } from '../config/settings';
import { RedisService } from '../database/redis.service';
import { decodeLiveMessage, encodeLiveMessage, LiveEvent } from './live-message';

const SUBSCRIBE_TIMEOUT_MS = 3000;
/** How long a count of subscribers above zero is trusted before it is asked again. */
const LISTENERS_TRUSTED_MS = 1000;
/**
 * How long "nobody listens" is trusted. A process's first subscription is used only this long
 * after it is made: by then no publisher still trusts an answer from before it.
 */
const NOBODY_TRUSTED_MS = 200;

/**
 * Carries published events from the processes that publish them (workers) to the processes that
 * serve live streams (api), over Redis pub/sub: one message per published batch, and nothing kept
 * when nobody listens. Live is best effort: what history and MQTT promise, it does not.
 */
@Injectable()
export class LiveEventBus implements OnModuleDestroy {
  private readonly logger = new Logger(LiveEventBus.name);
  private readonly channel: string;
  private readonly handlers = new Set<(events: LiveEvent[]) => void>();
  private subscriber?: Redis;
  private subscribed?: Promise<void>;
  private listeners = { count: 0, checkedAt: 0 };

  constructor(
    private readonly config: ConfigService<Settings, true>,
    private readonly redis: RedisService,
  ) {
    this.channel = `${config.get('REDIS_PREFIX', { infer: true })}:live-events`;
  }

  /**
   * Never waits and never fails: a lost message costs live listeners events, not fan-out. Sent
   * only when some process listens: writing every batch to Redis for nobody was a good part of
   * the fan-out's CPU under load.
   */
  publish(events: LiveEvent[]): void {
    if (events.length === 0) return;
    this.anyListener()
      .then((listened) => (listened ? this.redis.client.publish(this.channel, encodeLiveMessage(events)) : undefined))
      .catch((error: Error) => this.logger.debug(`live publish: ${error.message}`));
  }

  /**
   * Whether a process (this one or another api) subscribes to the channel. Each answer is trusted
   * a while: "someone" for longer (a batch sent to a stream that closed meanwhile is harmless),
   * "nobody" briefly, as long as a new subscription waits before it is used (see connect), so that
   * a stream that just opened misses nothing. Asking at every batch was a Redis round trip per batch.
   */
  private async anyListener(): Promise<boolean> {
    const trustedMs = this.listeners.count > 0 ? LISTENERS_TRUSTED_MS : NOBODY_TRUSTED_MS;
    if (Date.now() - this.listeners.checkedAt < trustedMs) return this.listeners.count > 0;
    // Trusted from before it was asked: a subscription Redis saw after the answer is not in it.
    const askedAt = Date.now();
    const [, count] = (await this.redis.client.pubsub('NUMSUB', this.channel)) as [string, number | string];
    this.listeners = { count: Number(count), checkedAt: askedAt };
    return this.listeners.count > 0;
  }

  /** Resolves once this process receives the channel (ioredis resubscribes after a reconnect). */
  async subscribe(handler: (events: LiveEvent[]) => void): Promise<void> {
    this.handlers.add(handler);
    this.subscribed ??= this.connect().catch((error: Error) => {
      this.subscriber?.disconnect();
      this.subscriber = undefined;
      this.subscribed = undefined;
      throw error;
    });
    await this.subscribed;
  }

  private async connect(): Promise<void> {
    const subscriber = new Redis(this.config.get('REDIS_URL', { infer: true }), { lazyConnect: true, maxRetriesPerRequest: null });
    this.subscriber = subscriber;
    subscriber.on('error', (error: Error) => this.logger.debug(`live subscriber: ${error.message}`));
    subscriber.on('message', (_channel: string, message: string) => this.deliver(message));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('Redis did not answer')), SUBSCRIBE_TIMEOUT_MS);
    });
    try {
      await Promise.race([subscriber.connect().then(() => subscriber.subscribe(this.channel)), timeout]);
    } finally {
      clearTimeout(timer);
    }
    await sleep(NOBODY_TRUSTED_MS);
  }

  private deliver(message: string): void {
    try {
      const events = decodeLiveMessage(message);
      for (const handler of this.handlers) handler(events);
    } catch (error) {
      // Another program on the channel must not take this process down.
      this.logger.warn(`live: dropped a message on ${this.channel}: ${(error as Error).message}`);
    }
  }

  onModuleDestroy(): void {
    this.subscriber?.disconnect();
  }
}

import type Redis from 'ioredis';

/** Extends the lease only while it still holds this instance's token. */
const RENEW_SCRIPT = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
/** Deletes the lease only while it still holds this instance's token. */
const RELEASE_SCRIPT = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/**
 * A Redis lease that makes one bridge instance the only holder of something (the consumer of one
 * TTS stream, one ChirpStack MQTT client id). The holder renews it every third of its lifetime; an
 * instance that dies stops renewing and another takes over once it expires. While Redis cannot be reached the holder keeps its lease only as long as it was last
 * known valid, so that two instances never consume after the first one's lease ran out.
 */
export class RedisLease {
  private renewTimer?: NodeJS.Timeout;
  /** Date.now() until which the lease is known to be this instance's. */
  private validUntil = 0;
  private held = false;

  constructor(
    private readonly redis: Redis,
    readonly key: string,
    private readonly token: string,
    private readonly ttlMs: number,
    /** Called once when the lease is lost while held (taken over, expired, Redis unreachable too long). */
    private readonly onLost: (reason: string) => void,
  ) {}

  /** True when this instance now holds the lease (and keeps renewing it until released or lost). */
  async acquire(): Promise<boolean> {
    const sentAt = Date.now();
    const taken = (await this.redis.set(this.key, this.token, 'PX', this.ttlMs, 'NX')) === 'OK';
    if (!taken) return false;
    this.held = true;
    this.validUntil = sentAt + this.ttlMs;
    this.renewTimer = setInterval(() => void this.renew(), this.renewIntervalMs);
    return true;
  }

  /** Gives the lease up at once so that another instance can take over without waiting for it to expire. */
  async release(): Promise<void> {
    const wasHeld = this.held;
    this.stopRenewing();
    if (wasHeld) await this.redis.eval(RELEASE_SCRIPT, 1, this.key, this.token);
  }

  private get renewIntervalMs(): number {
    return Math.floor(this.ttlMs / 3);
  }

  private async renew(): Promise<void> {
    const sentAt = Date.now();
    try {
      const renewed = (await this.redis.eval(RENEW_SCRIPT, 1, this.key, this.token, String(this.ttlMs))) === 1;
      if (!this.held) return;
      if (renewed) this.validUntil = sentAt + this.ttlMs;
      else this.lose('another instance holds the lease');
    } catch (error) {
      // Give up before the lease can expire unseen: the next try would come too late.
      if (this.held && Date.now() + this.renewIntervalMs >= this.validUntil) this.lose(`could not renew the lease: ${(error as Error).message}`);
    }
  }

  private lose(reason: string): void {
    this.stopRenewing();
    this.onLost(reason);
  }

  private stopRenewing(): void {
    this.held = false;
    clearInterval(this.renewTimer);
  }
}

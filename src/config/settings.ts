import { z } from 'zod';

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** 32 bytes, given as 64 hex characters or as base64. */
function readSecretsKey(value: string): Buffer | null {
  const key = /^[0-9a-fA-F]{64}$/.test(value) ? Buffer.from(value, 'hex') : Buffer.from(value, 'base64');
  return key.length === 32 ? key : null;
}

const secretsKey = z.string().transform((value, ctx) => {
  const key = readSecretsKey(value);
  if (!key) {
    ctx.addIssue({ code: 'custom', message: 'must be 32 bytes, as 64 hex characters or base64' });
    return z.NEVER;
  }
  return key;
});

/** Earlier SECRETS_KEYs, comma-separated: what they sealed is still opened, and sealed again with SECRETS_KEY. */
const previousSecretsKeys = z
  .string()
  .default('')
  .transform((value, ctx) => {
    const keys = value.split(',').map((part) => part.trim()).filter(Boolean);
    const read = keys.map(readSecretsKey);
    const bad = read.findIndex((key) => !key);
    if (bad >= 0) {
      ctx.addIssue({ code: 'custom', message: `key ${bad + 1} must be 32 bytes, as 64 hex characters or base64` });
      return z.NEVER;
    }
    return read as Buffer[];
  });

const settingsSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('production'),
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    DATABASE_URL: z.url().default('postgresql://postgres@localhost:5432/lpwan_bridge'),
    REDIS_URL: z.url().default('redis://localhost:6379'),
    MQTT_URL: z.url().default('mqtt://localhost:1883'),
    MQTT_USERNAME: z.string().optional(),
    MQTT_PASSWORD: z.string().optional(),
    MQTT_TOPIC_PREFIX: z
      .string()
      .regex(/^[^#+/]+(?:\/[^#+/]+)*$/, 'must be topic levels without wildcards')
      .default('lpwan'),
    MQTT_INCLUDE_RAW: bool.default(false),
    /** Namespace of the bridge's keys in Redis, so that several bridges can share one Redis. */
    REDIS_PREFIX: z.string().regex(/^[\w-]+$/).default('lpwan-bridge'),
    API_KEYS: z
      .string()
      .default('')
      .transform((v) => v.split(',').map((k) => k.trim()).filter(Boolean)),
    SECRETS_KEY: secretsKey.optional(),
    SECRETS_KEY_PREVIOUS: previousSecretsKeys,
    BRIDGE_ROLE: z.enum(['api', 'worker', 'all']).default('all'),
    PUBLIC_URL: z.url().optional(),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** How long an event waits for its duplicates (multi-buy, Sigfox base stations) before it is published. */
    DEDUP_WINDOW_MS: z.coerce.number().int().min(0).max(60000).default(200),
    /**
     * Uplinks a process with both roles holds in memory through their dedup window; beyond, they
     * wait in the fan-out queue (a delayed job, in Redis) instead.
     */
    FANOUT_WAITING_MAX: z.coerce.number().int().min(0).default(10_000),
    /**
     * How long the identity of a stored event is kept (SPEC §4): a copy of it arriving later
     * becomes a new event. Longer than any network re-delivers (stream replays, MQTT sessions).
     */
    EVENT_IDENTITY_TTL_HOURS: z.coerce.number().min(0.01).max(24 * 365).default(48),
    /** Where an api process journals the events it accepted while Postgres was unreachable or slow (SPEC §3). */
    JOURNAL_DIR: z.string().min(1).default('./data/journal'),
    /** Beyond this many bytes the journal is full and ingest answers 503. */
    JOURNAL_MAX_BYTES: z.coerce.number().int().min(64 * 1024).default(1024 ** 3),
    /** An ingest that Postgres has not committed within this bound is journaled (the networks give up at ~5 s). */
    JOURNAL_STORE_TIMEOUT_MS: z.coerce.number().int().min(50).max(4000).default(1500),
    /** Requests per second accepted per connection by each api process (429 beyond; 0: no limit). */
    INGEST_RATE_LIMIT: z.coerce.number().int().min(0).default(5000),
    /** Ingest bodies above this many bytes are refused with 413. */
    INGEST_BODY_LIMIT: z.coerce.number().int().min(1024).default(256 * 1024),
    /** A TTS events stream silent this long is torn down and reopened (TTS sends no heartbeats). */
    TTS_STREAM_IDLE_TIMEOUT_MS: z.coerce.number().int().min(100).default(120_000),
    /** Lifetime of the Redis lease that makes one instance the consumer of a TTS stream; renewed every third of it. */
    TTS_STREAM_LEASE_MS: z.coerce.number().int().min(300).default(10_000),
    /** Lifetime of the Redis lease by which one instance holds one ChirpStack MQTT client id; renewed every third of it. */
    CHIRPSTACK_MQTT_LEASE_MS: z.coerce.number().int().min(300).default(10_000),
    /** Deliver webhooks to private, loopback and link-local addresses (SSRF guard); default: only outside production. */
    WEBHOOK_ALLOW_PRIVATE: bool.optional(),
    /** First webhook retry delay; each next one doubles (capped at 1 h), with jitter. */
    WEBHOOK_RETRY_BASE_MS: z.coerce.number().int().min(10).default(30_000),
    /** A delivery still failing this long after it was created is kept as failed. */
    WEBHOOK_RETRY_WINDOW_MS: z.coerce.number().int().min(0).default(25 * 3600_000),
    /** Events whose time is older are dropped (whole weeks, with their webhook deliveries) and never shown; 0 keeps them. */
    EVENTS_RETENTION_DAYS: z.coerce.number().int().min(0).max(36500).default(0),
    /** An active device not seen for longer counts in the lpwan_devices_silent gauge. */
    DEVICE_SILENT_AFTER_MS: z.coerce.number().int().min(1000).default(24 * 3600_000),
    /** A `: heartbeat` comment on every live stream this often, so that proxies keep it open. */
    LIVE_HEARTBEAT_MS: z.coerce.number().int().min(100).default(15_000),
    /** A live-stream client this many bytes behind is disconnected. */
    LIVE_CLIENT_BUFFER_BYTES: z.coerce.number().int().min(1024).default(1024 * 1024),
  })
  .superRefine((s, ctx) => {
    if (s.API_KEYS.length === 0 && s.NODE_ENV !== 'development') {
      ctx.addIssue({ code: 'custom', path: ['API_KEYS'], message: 'is required (comma-separated keys) unless NODE_ENV=development' });
    }
    if (!s.SECRETS_KEY) {
      ctx.addIssue({ code: 'custom', path: ['SECRETS_KEY'], message: 'is required: 32 bytes as hex or base64 (openssl rand -hex 32)' });
    }
  })
  .transform((s) => ({
    ...s,
    SECRETS_KEY: s.SECRETS_KEY as Buffer,
    PUBLIC_URL: s.PUBLIC_URL ?? `http://localhost:${s.PORT}`,
    WEBHOOK_ALLOW_PRIVATE: s.WEBHOOK_ALLOW_PRIVATE ?? s.NODE_ENV !== 'production',
  }));

export type Settings = z.infer<typeof settingsSchema>;

/** Validates the environment; the error names every bad setting on one line. */
export function parseSettings(env: Record<string, string | undefined>): Settings {
  const result = settingsSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || 'settings'} ${i.message}`);
    throw new Error(`Invalid settings: ${problems.join('; ')}`);
  }
  return result.data;
}

/** Whether debug lines are written: the hot path skips building the ones per event when they are not. */
export function logsDebug(level: Settings['LOG_LEVEL']): boolean {
  return level === 'debug' || level === 'trace';
}

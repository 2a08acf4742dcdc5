import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Set by global-setup.ts to this run's own database. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL as string;
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_MQTT_URL = process.env.TEST_MQTT_URL ?? 'mqtt://127.0.0.1:1883';
export const TEST_API_KEY = 'test-api-key-0123456789';
export const TEST_SECRETS_KEY = '7f'.repeat(32);

/** Settings for one bridge under test; a unique MQTT prefix and Redis namespace keep test files apart. */
export function testSettings(overrides: Record<string, string> = {}): Record<string, string> {
  const run = randomBytes(4).toString('hex');
  return {
    NODE_ENV: 'test',
    PORT: '0',
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    MQTT_URL: TEST_MQTT_URL,
    MQTT_TOPIC_PREFIX: `test-${run}`,
    REDIS_PREFIX: `test-${run}`,
    API_KEYS: TEST_API_KEY,
    SECRETS_KEY: TEST_SECRETS_KEY,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DEDUP_WINDOW_MS: '150',
    // Each bridge its own journal: one process per journal directory.
    JOURNAL_DIR: mkdtempSync(join(tmpdir(), 'lpwan-journal-')),
    ...overrides,
  };
}

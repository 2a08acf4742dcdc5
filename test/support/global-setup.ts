import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate } from '../../src/database/migrate';

/**
 * A fresh database for every test run, migrated the way the bridge migrates in production.
 * Its name is unique to the run, so that concurrent runs on one machine cannot disturb each other.
 */
export default async function globalSetup(): Promise<void> {
  // Every temporary file of the run (journals, fake servers' certificates, bridges' own) goes
  // under one folder that the teardown removes: os.tmpdir() reads TMPDIR, and bridges inherit it.
  process.env.TEST_TMP_DIR = mkdtempSync(join(tmpdir(), 'lpwan-bridge-test-'));
  // Traversable, as /tmp is: the image test runs its tree as an unprivileged user.
  chmodSync(process.env.TEST_TMP_DIR, 0o755);
  process.env.TMPDIR = process.env.TEST_TMP_DIR;
  // Read now, not at import: the fault suite's setup sets it to its own Postgres first.
  const url = new URL(process.env.TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres');
  url.pathname = `/lpwan_bridge_test_${process.pid}`;
  process.env.TEST_DATABASE_URL = url.toString();
  await migrate(process.env.TEST_DATABASE_URL, join(__dirname, '..', '..', 'prisma', 'migrations'));
}

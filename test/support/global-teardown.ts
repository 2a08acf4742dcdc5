import { rmSync } from 'node:fs';
import { Client } from 'pg';

export default async function globalTeardown(): Promise<void> {
  const name = new URL(process.env.TEST_DATABASE_URL as string).pathname.slice(1);
  const admin = new Client({ connectionString: process.env.TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.end();
  removeRunTempDir();
}

/** The run's temporary folder (global-setup.ts). */
export function removeRunTempDir(): void {
  if (process.env.TEST_TMP_DIR) rmSync(process.env.TEST_TMP_DIR, { recursive: true, force: true });
}

import { join } from 'node:path';
import { Client } from 'pg';
import { migrate } from '../../src/database/migrate';
import { TEST_DATABASE_URL } from './env';

/** A fresh test database for every run, migrated the way the bridge migrates in production. */
export default async function globalSetup(): Promise<void> {
  const admin = new Client({ connectionString: TEST_DATABASE_URL.replace(/\/[^/]+$/, '/postgres') });
  await admin.connect();
  const name = new URL(TEST_DATABASE_URL).pathname.slice(1);
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.end();
  await migrate(TEST_DATABASE_URL, join(__dirname, '..', '..', 'prisma', 'migrations'));
}

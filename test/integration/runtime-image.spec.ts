import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { BridgeProcess, freePort } from '../support/bridge-process';
import { TEST_API_KEY, TEST_DATABASE_URL, testSettings } from '../support/env';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
/** `nobody`: the image runs as an unprivileged user too. */
const UNPRIVILEGED = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

/** What the image's runtime stage holds, assembled by the script the Dockerfile runs, run as the image runs it. */
describe('the runtime tree of the image', () => {
  const parent = mkdtempSync(join(tmpdir(), 'lpwan-image-'));
  const tree = join(parent, 'app');
  const database = new URL(TEST_DATABASE_URL);
  database.pathname = `${database.pathname}_image`;

  beforeAll(() => chmodSync(parent, 0o755));
  afterAll(async () => {
    rmSync(parent, { recursive: true, force: true });
    const admin = new Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${database.pathname.slice(1)}" WITH (FORCE)`);
    await admin.end();
  });

  it('holds production dependencies only, within 150 MB, and migrates, starts and gets ready as a non-root user', async () => {
    const { stdout } = await run(process.execPath, [join(ROOT, 'scripts', 'runtime-tree.js'), tree], { maxBuffer: 16 * 1024 * 1024 });
    const report = JSON.parse(stdout.trim().split('\n').at(-1) as string) as { nodeModulesMB: number };
    expect(report.nodeModulesMB).toBeLessThanOrEqual(150);
    for (const tool of ['prisma', 'typescript', '@nestjs/cli', '@prisma/studio-core', 'jest', 'playwright-core', 'pino-pretty', '@swc/core']) {
      expect(`${tool}: ${existsSync(join(tree, 'node_modules', tool))}`).toBe(`${tool}: false`);
    }

    // As the image's command: migrate (here into a database it creates), then start.
    const env = { ...testSettings({ NODE_ENV: 'production', LOG_LEVEL: 'info' }), DATABASE_URL: database.toString(), PORT: freePort() };
    const migrated = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = execFile(process.execPath, ['dist/database/migrate.js'], { cwd: tree, env: { PATH: process.env.PATH ?? '', ...env }, ...UNPRIVILEGED }, (error, out, err) =>
        resolve({ code: error ? (error.code as number) : 0, output: out + err }),
      );
      child.on('error', () => undefined);
    });
    expect(migrated).toMatchObject({ code: 0, output: expect.stringMatching(/migration\(s\) applied/) });

    const bridge = BridgeProcess.spawn(env, { cwd: tree, root: tree, ...UNPRIVILEGED });
    try {
      await bridge.ready();
      expect((await fetch(`${bridge.url}/health/ready`)).status).toBe(200);
      expect((await fetch(`${bridge.url}/api/connections`, { headers: { authorization: `Bearer ${TEST_API_KEY}` } })).status).toBe(200);
      for (const path of ['/', '/docs', '/docs/swagger-ui-bundle.js']) expect(`${path} ${(await fetch(bridge.url + path)).status}`).toBe(`${path} 200`);
      // Not root: the kernel's word for it.
      const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${bridge.child.pid}/status`, 'utf8'))?.[1];
      expect(Number(uid)).not.toBe(0);
    } finally {
      await bridge.stop();
    }
    // Production logs are JSON lines.
    const lines = bridge.output.join('').trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
  }, 300_000);
});

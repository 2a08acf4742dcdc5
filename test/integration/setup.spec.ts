import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BridgeProcess, freePort } from '../support/bridge-process';
import { TEST_DATABASE_URL } from '../support/env';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');

describe('npm run setup && npm start, with nothing to edit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lpwan-setup-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a .env with fresh keys once, never overwrites it, and the bridge starts on it', async () => {
    const first = await run(process.execPath, [join(ROOT, 'scripts', 'setup-env.js')], { cwd: dir });
    const env = readFileSync(join(dir, '.env'), 'utf8');
    const apiKey = /^API_KEYS=(\S+)$/m.exec(env)?.[1] as string;
    const secretsKey = /^SECRETS_KEY=([0-9a-f]{64})$/m.exec(env)?.[1] as string;
    expect(apiKey).toMatch(/^lpk_[\w-]{32}$/);
    expect(secretsKey).toBeDefined();
    expect(first.stdout).toContain(apiKey);
    expect(first.stdout).toContain(secretsKey);
    expect(first.stdout).toMatch(/kept in .*\.env/);
    expect(first.stdout).toMatch(/Back up SECRETS_KEY/);
    expect(statSync(join(dir, '.env')).mode & 0o777).toBe(0o600);
    expect(env).toMatch(/^NODE_ENV=development$/m);

    const second = await run(process.execPath, [join(ROOT, 'scripts', 'setup-env.js')], { cwd: dir });
    expect(second.stdout).toMatch(/exists: kept as it is/);
    expect(second.stdout).not.toContain(apiKey);
    expect(readFileSync(join(dir, '.env'), 'utf8')).toBe(env);

    // `npm start` in that directory: keys from .env; only the database (this run's) and the
    // namespaces are set from outside, as the environment wins over .env.
    const namespace = `test-${randomBytes(4).toString('hex')}`;
    const bridge = BridgeProcess.spawn({ DATABASE_URL: TEST_DATABASE_URL, PORT: freePort(), REDIS_PREFIX: namespace, MQTT_TOPIC_PREFIX: namespace }, { cwd: dir });
    try {
      await bridge.ready();
      expect((await fetch(`${bridge.url}/api/connections`, { headers: { authorization: `Bearer ${apiKey}` } })).status).toBe(200);
      expect((await fetch(`${bridge.url}/api/connections`)).status).toBe(401);
    } finally {
      await bridge.stop();
    }
    // Development logs are pretty lines for a terminal, not JSON.
    const logs = bridge.output.join('');
    expect(logs).toMatch(/INFO.*connected to the MQTT broker/);
    expect(logs).not.toMatch(/^\{"level"/m);
    expect(logs).not.toContain(secretsKey);
  });
});

import { randomBytes, randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import heliumUplink from '../fixtures/helium-uplink.json';
import { SecretBox } from '../../src/common/secret-box';
import { parseSettings } from '../../src/config/settings';
import { PrismaService } from '../../src/database/prisma.service';
import { TestBridge } from '../support/bridge';
import { testSettings } from '../support/env';
import { eventually } from '../support/mqtt-collector';

/**
 * An operator changed SECRETS_KEY: the connections' secrets, in Postgres and in the api's copy on
 * disk, were sealed with the earlier key. Ingest needs no secret and goes on; what needs one says so.
 */
describe('after SECRETS_KEY changed', () => {
  const run = randomBytes(3).toString('hex');
  const resealed = `helium-resealed-${run}`;
  const stale = `helium-stale-${run}`;
  const tokens: Record<string, string> = {};
  let bridge: TestBridge;

  beforeAll(async () => {
    // Saved under the earlier key, whose bridge leaves its copy of the connections on disk.
    const before = await TestBridge.start({ SECRETS_KEY: randomBytes(32).toString('hex') });
    const snapshot = join(before.settings.JOURNAL_DIR, 'connections.json');
    try {
      for (const id of [resealed, stale]) tokens[id] = (await before.createConnection({ id, network: 'helium', settings: { apiKey: `console-key-${id}` } })).ingestToken;
      await eventually('the copy on disk', () => existsSync(snapshot) && readFileSync(snapshot, 'utf8'), (text) => !!text && text.includes(stale) && text.includes(resealed));
      const journalDir = mkdtempSync(join(tmpdir(), 'lpwan-journal-'));
      copyFileSync(snapshot, join(journalDir, 'connections.json'));
      // Started with the new key: the copy on disk it finds is sealed with the earlier one.
      bridge = await TestBridge.start({ SECRETS_KEY: randomBytes(32).toString('hex'), JOURNAL_DIR: journalDir });
    } finally {
      await before.stop();
    }
    // One connection's secrets sealed again with the new key (as a PATCH of them does), in Postgres only.
    await bridge.app.get(PrismaService).connection.update({ where: { id: resealed }, data: { secrets: bridge.app.get(SecretBox).seal({ apiKey: 'console-key' }) } });
  });

  afterAll(async () => {
    for (const id of [resealed, stale]) await bridge.api('DELETE', `/api/connections/${id}`);
    await bridge.stop();
  });

  const ingest = (id: string, fcnt: number) => bridge.post(`/ingest/helium/${id}`, { ...heliumUplink, fcnt }, { 'x-bridge-token': tokens[id] });

  it('ingests for a connection whose copy on disk was sealed with the earlier key', async () => {
    const response = await ingest(resealed, 1);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ id: expect.any(String), duplicate: false });
  });

  it('ingests for a connection whose secrets in Postgres were sealed with the earlier key too', async () => {
    for (const fcnt of [1, 2]) expect((await ingest(stale, fcnt)).status).toBe(200);
  });

  it('answers 503 naming the problem for what needs the secrets, and takes them set again', async () => {
    const install = await bridge.api('POST', `/api/connections/${stale}/install`);
    expect(install.status).toBe(503);
    expect(((await install.json()) as { message: string }).message).toMatch(
      new RegExp(`secrets of connection "${stale}" cannot be opened with this SECRETS_KEY .*PATCH /api/connections/${stale}`),
    );
    const shown = (await (await bridge.api('GET', `/api/connections/${stale}`)).json()) as { settings: Record<string, unknown> };
    expect(shown.settings.apiKey).toBe('*** (unreadable with this SECRETS_KEY)');

    const patched = await bridge.api('PATCH', `/api/connections/${stale}`, { settings: { apiKey: 'console-key-again' } });
    expect(patched.status).toBe(200);
    expect(((await patched.json()) as { settings: Record<string, unknown> }).settings.apiKey).toBe('***');
    const sealed = (await bridge.app.get(PrismaService).connection.findUniqueOrThrow({ where: { id: stale } })).secrets;
    expect(bridge.app.get(SecretBox).open(sealed)).toEqual({ apiKey: 'console-key-again' });
    expect((await ingest(stale, 3)).status).toBe(200);
  });
});

/**
 * An operator changed SECRETS_KEY and gave the earlier one in SECRETS_KEY_PREVIOUS: everything
 * sealed with it still opens, and the worker seals it again with the new key, so that the earlier
 * key can then be dropped.
 */
describe('after SECRETS_KEY changed, with the earlier key in SECRETS_KEY_PREVIOUS', () => {
  const run = randomBytes(3).toString('hex');
  const connectionId = `helium-rotated-${run}`;
  const earlierKey = randomBytes(32);
  const newKey = randomBytes(32);
  /** Opens with the new key alone: what the worker has sealed again. */
  const newKeyOnly = new SecretBox({ get: (name: string) => (name === 'SECRETS_KEY' ? newKey : []) } as unknown as ConstructorParameters<typeof SecretBox>[0]);
  let bridge: TestBridge;
  let webhookId: string;
  let deviceId: string;

  beforeAll(async () => {
    const before = await TestBridge.start({ SECRETS_KEY: earlierKey.toString('hex') });
    try {
      await before.createConnection({ id: connectionId, network: 'helium', settings: { apiKey: 'console-key' } });
      const webhook = await before.api('POST', '/api/webhooks', { url: 'https://example.com/hook', events: ['uplink'], connectionIds: [connectionId] });
      webhookId = ((await webhook.json()) as { id: string }).id;
      // A registered device's keys, as registration seals them (without a network to register with).
      const device = await before.app.get(PrismaService).device.create({
        data: { id: randomUUID(), connectionId, externalId: `A81758FFFE${run.toUpperCase()}01`.slice(0, 16), origin: 'registered', secrets: before.app.get(SecretBox).seal({ appKey: '00112233445566778899AABBCCDDEEFF' }) },
      });
      deviceId = device.id;
    } finally {
      await before.stop();
    }
    bridge = await TestBridge.start({ SECRETS_KEY: newKey.toString('base64'), SECRETS_KEY_PREVIOUS: `${randomBytes(32).toString('hex')}, ${earlierKey.toString('hex')}` });
  });

  afterAll(async () => {
    await bridge.api('DELETE', `/api/webhooks/${webhookId}`);
    await bridge.api('DELETE', `/api/connections/${connectionId}`);
    await bridge.stop();
  });

  it('opens what the earlier key sealed', async () => {
    const shown = (await (await bridge.api('GET', `/api/connections/${connectionId}`)).json()) as { settings: Record<string, unknown> };
    expect(shown.settings.apiKey).toBe('***');
  });

  it('seals connections, device keys and webhook secrets again with the new key', async () => {
    const prisma = bridge.app.get(PrismaService);
    const sealed = async () => ({
      connection: (await prisma.connection.findUniqueOrThrow({ where: { id: connectionId } })).secrets,
      device: (await prisma.device.findUniqueOrThrow({ where: { id: deviceId } })).secrets,
      webhook: (await prisma.webhook.findUniqueOrThrow({ where: { id: webhookId } })).secret,
    });
    const now = await eventually('sealed again', sealed, (rows) => Object.values(rows).every((value) => opensWith(newKeyOnly, value)));
    expect(newKeyOnly.open(now.connection)).toEqual({ apiKey: 'console-key' });
    expect(newKeyOnly.open(now.device)).toEqual({ appKey: '00112233445566778899AABBCCDDEEFF' });
    expect(Object.keys(newKeyOnly.open(now.webhook))).toEqual(['secret']);
  });

  it('refuses a previous key that is not 32 bytes, naming it', () => {
    expect(() => parseSettings(testSettings({ SECRETS_KEY_PREVIOUS: `${randomBytes(32).toString('hex')},abcd` }))).toThrow(
      'Invalid settings: SECRETS_KEY_PREVIOUS key 2 must be 32 bytes, as 64 hex characters or base64',
    );
  });
});

function opensWith(box: SecretBox, sealed: string | null): boolean {
  try {
    box.open(sealed);
    return true;
  } catch {
    return false;
  }
}

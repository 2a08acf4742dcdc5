/*
 * An https:// apiUrl speaks TLS (a TLS-terminating proxy in front of ChirpStack's h2c API). The
 * fake's self-signed certificate is made trusted the way grpc-js allows, through
 * GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, which it reads when it is loaded: so it is set before anything
 * of the bridge is required (each test file has its own module registry).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'fake-chirpstack-tls-'));
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost',
  '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
process.env.GRPC_DEFAULT_SSL_ROOTS_FILE_PATH = join(dir, 'cert.pem');

/* eslint-disable @typescript-eslint/no-require-imports */
const { randomBytes } = require('node:crypto') as typeof import('node:crypto');
const { CHIRPSTACK_API_TOKEN, FakeChirpstack } = require('../fakes/fake-chirpstack') as typeof import('../fakes/fake-chirpstack');
const { TestBridge } = require('../support/bridge') as typeof import('../support/bridge');
const { randomEui, randomKey, settled } = require('../support/networks') as typeof import('../support/networks');
const { eventually } = require('../support/mqtt-collector') as typeof import('../support/mqtt-collector');

describe('ChirpStack API over TLS', () => {
  const chirpstack = new FakeChirpstack();
  let bridge: import('../support/bridge').TestBridge;

  beforeAll(async () => {
    await chirpstack.start({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) });
    bridge = await TestBridge.start();
  });

  afterAll(async () => {
    await bridge.stop();
    await chirpstack.stop();
  });

  it('provisions through an https:// apiUrl', async () => {
    const connectionId = `cs-tls-${randomBytes(3).toString('hex')}`;
    expect(chirpstack.apiUrl).toMatch(/^https:\/\/localhost:\d+$/);
    await bridge.createConnection({
      id: connectionId,
      network: 'chirpstack',
      settings: { apiUrl: chirpstack.apiUrl, apiToken: CHIRPSTACK_API_TOKEN, applicationId: chirpstack.applicationId, deviceProfileId: chirpstack.deviceProfileId },
    });
    const devEui = randomEui();
    const created = (await (await bridge.api('POST', '/api/devices', { connectionId, name: 'over TLS', devEui, appKey: randomKey() })).json()) as { id: string };
    expect((await settled(bridge, created.id)).sync.state).toBe('synced');
    expect(chirpstack.devices.has(devEui.toLowerCase())).toBe(true);
  });

  it('an http:// apiUrl to a TLS endpoint fails, and is retried as an outage', async () => {
    const connectionId = `cs-tls-${randomBytes(3).toString('hex')}`;
    await bridge.createConnection({
      id: connectionId,
      network: 'chirpstack',
      settings: { apiUrl: chirpstack.apiUrl.replace('https://localhost', 'http://127.0.0.1'), apiToken: CHIRPSTACK_API_TOKEN, applicationId: chirpstack.applicationId, deviceProfileId: chirpstack.deviceProfileId },
    });
    const created = (await (await bridge.api('POST', '/api/devices', { connectionId, name: 'plaintext', devEui: randomEui(), appKey: randomKey() })).json()) as { id: string };
    const calls = chirpstack.calls.length;
    const device = await eventually(
      'a failed attempt',
      async () => (await (await bridge.api('GET', `/api/devices/${created.id}`)).json()) as { sync: { state: string; error: string | null } },
      (d) => d.sync.error !== null,
    );
    expect(device.sync).toMatchObject({ state: 'pending', error: expect.stringMatching(/UNAVAILABLE/) });
    expect(chirpstack.calls.length).toBe(calls);
  });
});

import { randomBytes } from 'node:crypto';
import { FakeHelium, HELIUM_API_KEY } from '../fakes/fake-helium';
import { FakeSigfox, SIGFOX_DEVICE_TYPE_ID, SIGFOX_LOGIN, SIGFOX_PASSWORD } from '../fakes/fake-sigfox';
import { FakeTts, TTS_API_KEY } from '../fakes/fake-tts';
import type { TestBridge } from './bridge';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export const TTS_APP = 'app1';

/** The three fake networks, started on free ports. */
export class FakeNetworks {
  readonly helium = new FakeHelium();
  readonly tts = new FakeTts();
  readonly sigfox = new FakeSigfox();

  async start(): Promise<this> {
    await Promise.all([this.helium.start(), this.tts.start(), this.sigfox.start()]);
    return this;
  }

  async stop(): Promise<void> {
    await Promise.all([this.helium.stop(), this.tts.stop(), this.sigfox.stop()]);
  }

  /** One connection per network pointing at the fakes, with everything provisioning needs. */
  async connect(bridge: TestBridge, options: { heliumLabelIds?: string[] } = {}): Promise<{ helium: string; tts: string; sigfox: string }> {
    const run = randomBytes(3).toString('hex');
    const ids = { helium: `helium-${run}`, tts: `tts-${run}`, sigfox: `sigfox-${run}` };
    await bridge.createConnection({
      id: ids.helium,
      network: 'helium',
      settings: { baseUrl: this.helium.baseUrl, apiKey: HELIUM_API_KEY, ...(options.heliumLabelIds ? { labelIds: options.heliumLabelIds } : {}) },
    });
    await bridge.createConnection({
      id: ids.tts,
      network: 'tts',
      settings: {
        baseUrl: this.tts.baseUrl,
        applicationId: TTS_APP,
        apiKey: TTS_API_KEY,
        frequencyPlanId: 'EU_863_870_TTN',
        lorawanVersion: 'MAC_V1_0_3',
        lorawanPhyVersion: 'PHY_V1_0_3_REV_A',
      },
    });
    await bridge.createConnection({
      id: ids.sigfox,
      network: 'sigfox',
      settings: { baseUrl: this.sigfox.baseUrl, login: SIGFOX_LOGIN, password: SIGFOX_PASSWORD, deviceTypeId: SIGFOX_DEVICE_TYPE_ID },
    });
    return ids;
  }
}

/** A DevEUI of random digits, so test files sharing a database never collide. */
export function randomEui(): string {
  return randomBytes(8).toString('hex').toUpperCase();
}

export function randomKey(): string {
  return randomBytes(16).toString('hex').toUpperCase();
}

/** Polls until `check` returns a value (not undefined/false) or the generous deadline passes. */
export async function waitFor<T>(check: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Waits for the device to leave `pending` and answers it. */
export async function settled(bridge: TestBridge, id: string, timeoutMs = 10_000): Promise<Json> {
  return waitFor(
    async () => {
      const device = (await (await bridge.api('GET', `/api/devices/${id}`)).json()) as Json;
      return device.sync?.state !== 'pending' ? device : undefined;
    },
    `device ${id} to be synced or failed`,
    timeoutMs,
  );
}

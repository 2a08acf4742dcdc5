/**
 * TTS registration that the bridge could not finish: a crash after the Identity Server create
 * leaves the device there alone, and the retried job must carry on rather than fail on the 409,
 * while a device of another DevEUI under the same id (or the same DevEUI under another id) is left alone.
 */
import { TestBridge } from '../support/bridge';
import { FakeNetworks, Json, randomEui, randomKey, settled, TTS_APP } from '../support/networks';

const JOIN_EUI = '70B3D57ED0008E64';
const REGISTRIES = ['is', 'js', 'ns', 'as'] as const;

describe('TTS registration cut short', () => {
  let bridge: TestBridge;
  const fakes = new FakeNetworks();
  let connectionId: string;
  const base = `/api/v3/applications/${TTS_APP}/devices`;
  const path = (registry: string, id: string) => (registry === 'is' ? `${base}/${id}` : `/api/v3/${registry}/applications/${TTS_APP}/devices/${id}`);
  const calls = () => fakes.tts.requests.map((r) => `${r.method} ${r.path}`);

  beforeAll(async () => {
    await fakes.start();
    bridge = await TestBridge.start();
    connectionId = (await fakes.connect(bridge)).tts;
  });

  afterAll(async () => {
    await bridge.stop();
    await fakes.stop();
  });

  beforeEach(() => fakes.tts.reset());

  async function register(body: Record<string, unknown>): Promise<Json> {
    const response = await bridge.api('POST', '/api/devices', { connectionId, ...body });
    expect(response.status).toBe(201);
    return response.json();
  }

  it('resumes a registration the Identity Server already holds with this DevEUI, and ends synced in all four registries', async () => {
    const devEui = randomEui();
    const appKey = randomKey();
    const deviceId = `eui-${devEui.toLowerCase()}`;
    const host = new URL(fakes.tts.baseUrl).host;
    // What the first attempt's Identity Server create left before the bridge died.
    fakes.tts.seedDevice(
      TTS_APP,
      deviceId,
      { dev_eui: devEui, join_eui: JOIN_EUI, name: 'Half Done', join_server_address: host, network_server_address: host, application_server_address: host },
      ['is'],
    );
    const leftByTheCrash = fakes.tts.device('is', TTS_APP, deviceId);

    const device = await register({ name: 'Half Done', devEui, joinEui: JOIN_EUI, appKey });
    const synced = await settled(bridge, device.id);
    expect(synced.sync).toEqual({ state: 'synced', networkId: deviceId, error: null, attempts: 1 });

    expect(calls()).toEqual([`POST ${base}`, `GET ${path('is', deviceId)}`, `PUT ${path('js', deviceId)}`, `PUT ${path('ns', deviceId)}`, `PUT ${path('as', deviceId)}`]);
    for (const registry of REGISTRIES) {
      expect(fakes.tts.device(registry, TTS_APP, deviceId)?.ids).toMatchObject({ device_id: deviceId, dev_eui: devEui, join_eui: JOIN_EUI });
    }
    // The Identity Server's device is the one the first attempt made, not a new one.
    expect(fakes.tts.device('is', TTS_APP, deviceId)).toEqual(leftByTheCrash);
    expect(fakes.tts.device('js', TTS_APP, deviceId)?.root_keys).toEqual({ app_key: { key: appKey } });
    expect(fakes.tts.device('ns', TTS_APP, deviceId)).toMatchObject({ frequency_plan_id: 'EU_863_870_TTN', supports_join: true });
  });

  it('fails naming the conflict when the id is taken by a device of another DevEUI, and leaves that device alone', async () => {
    const otherEui = randomEui();
    const otherAppKey = randomKey();
    fakes.tts.seedDevice(TTS_APP, 'basement-sensor', { dev_eui: otherEui, join_eui: JOIN_EUI, name: 'Someone else', root_keys: { app_key: { key: otherAppKey } } });
    const before = REGISTRIES.map((registry) => fakes.tts.device(registry, TTS_APP, 'basement-sensor'));

    const devEui = randomEui();
    const device = await register({ name: 'Mine', deviceId: 'basement-sensor', devEui, joinEui: JOIN_EUI, appKey: randomKey() });
    const failed = await settled(bridge, device.id);
    expect(failed.sync).toEqual({
      state: 'failed',
      networkId: null,
      error: `Identity Server: device id basement-sensor is taken by another device (DevEUI ${otherEui}), not this one (DevEUI ${devEui}): register this device with another deviceId`,
      attempts: 1,
    });

    // Looked, and neither wrote nor removed anything.
    expect(calls()).toEqual([`POST ${base}`, `GET ${path('is', 'basement-sensor')}`]);
    expect(REGISTRIES.map((registry) => fakes.tts.device(registry, TTS_APP, 'basement-sensor'))).toEqual(before);
    expect(fakes.tts.device('js', TTS_APP, 'basement-sensor')?.root_keys).toEqual({ app_key: { key: otherAppKey } });
  });

  it("fails with the network's message when the DevEUI is registered under another id, and leaves that device alone", async () => {
    const devEui = randomEui();
    fakes.tts.seedDevice(TTS_APP, 'registered-by-hand', { dev_eui: devEui, join_eui: JOIN_EUI, name: 'By hand' });
    const before = REGISTRIES.map((registry) => fakes.tts.device(registry, TTS_APP, 'registered-by-hand'));

    const device = await register({ name: 'Same radio', devEui, joinEui: JOIN_EUI, appKey: randomKey() });
    const failed = await settled(bridge, device.id);
    expect(failed.sync).toMatchObject({ state: 'failed', networkId: null, attempts: 1 });
    expect(failed.sync.error).toMatch(/^Identity Server: HTTP 409: .*end_device_euis_taken.*registered-by-hand/);

    const deviceId = `eui-${devEui.toLowerCase()}`;
    expect(calls()).toEqual([`POST ${base}`, `GET ${path('is', deviceId)}`]);
    expect(REGISTRIES.map((registry) => fakes.tts.device(registry, TTS_APP, 'registered-by-hand'))).toEqual(before);
    for (const registry of REGISTRIES) expect(fakes.tts.device(registry, TTS_APP, deviceId)).toBeUndefined();
  });
});

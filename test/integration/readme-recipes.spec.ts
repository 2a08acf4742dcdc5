import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { TestBridge } from '../support/bridge';
import { MqttCollector } from '../support/mqtt-collector';
import { fillSigfoxTemplate } from '../support/sigfox-callback-values';

/** The Sigfox callback bodies of the README, exactly as a user pastes them into the Sigfox backend. */
const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
function template(name: string): string {
  const match = new RegExp('```json ' + name + '\\n([^`]+)```').exec(readme);
  if (!match) throw new Error(`README has no template "${name}"`);
  return match[1].trim();
}

describe('README recipes', () => {
  let bridge: TestBridge;
  let mqtt: MqttCollector;
  let token: string;
  const id = `readme-${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    bridge = await TestBridge.start();
    mqtt = await MqttCollector.subscribe(`${bridge.topicPrefix}/#`);
    token = (await bridge.createConnection({ id, network: 'sigfox' })).ingestToken;
  });

  afterAll(async () => {
    await mqtt.close();
    await bridge.stop();
  });

  it.each([
    ['sigfox-data', 'data', 'event/up', { type: 'uplink', uplink: { payloadHex: '0102030405060708', fcnt: 77 }, radio: { rssi: -121, snr: 9.5 } }],
    ['sigfox-status', 'service', 'event/status', { type: 'status', status: { temperatureC: 21.5, batteryV: 3.2 } }],
    ['sigfox-acknowledge', 'service', 'event/down/failed', { type: 'downlink.failed', ack: { info: 'No answer from the device' } }],
    ['sigfox-error', 'error', 'event/error', { type: 'error', ack: { info: 'ERROR: No message received since 2023-11-14' } }],
  ])('the %s template gives its event', async (name, kind, topic, expected) => {
    const body = fillSigfoxTemplate(template(name));
    expect(body).not.toMatch(/\{\w+\}/);
    const response = await bridge.post(`/ingest/sigfox/${id}/${kind}`, body, { 'x-bridge-token': token });
    expect(response.status).toBe(200);
    const full = `${bridge.topicPrefix}/sigfox/7E57AB/${topic}`;
    await mqtt.waitFor(() => mqtt.on(full).length === 1);
    expect(mqtt.on(full)[0].payload).toMatchObject(expected);
  });
});

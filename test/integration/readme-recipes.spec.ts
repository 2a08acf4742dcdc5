import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { TestBridge } from '../support/bridge';
import { MqttCollector } from '../support/mqtt-collector';

/** The Sigfox callback bodies of the README, exactly as a user pastes them into the Sigfox backend. */
const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
function template(name: string): string {
  const match = new RegExp('```json ' + name + '\\n([^`]+)```').exec(readme);
  if (!match) throw new Error(`README has no template "${name}"`);
  return match[1].trim();
}

/** What Sigfox puts in place of each {variable}. */
const VALUES: Record<string, string> = {
  device: '7E57AB',
  time: '1700001000',
  data: '0102030405060708',
  seqNumber: '77',
  ack: 'false',
  duplicate: 'false',
  station: '37F1',
  rssi: '-121.00',
  snr: '9.50',
  avgSnr: 'N/A',
  lat: '43',
  lng: '6',
  deviceTypeId: '5f0c1a2b3c4d5e6f7a8b9c0d',
  linkQuality: 'GOOD',
  temp: '21.50',
  batt: '3.20',
  downlinkAck: 'false',
  infoCode: '1',
  infoMessage: 'No answer from the device',
  info: 'No message received since 2023-11-14',
  severity: 'ERROR',
};
const fill = (text: string) => text.replace(/\{(\w+)\}/g, (_, name: string) => VALUES[name] ?? `{${name}}`);

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
    const body = fill(template(name));
    expect(body).not.toMatch(/\{\w+\}/);
    const response = await bridge.post(`/ingest/sigfox/${id}/${kind}`, body, { 'x-bridge-token': token });
    expect(response.status).toBe(200);
    const full = `${bridge.topicPrefix}/sigfox/7E57AB/${topic}`;
    await mqtt.waitFor(() => mqtt.on(full).length === 1);
    expect(mqtt.on(full)[0].payload).toMatchObject(expected);
  });
});

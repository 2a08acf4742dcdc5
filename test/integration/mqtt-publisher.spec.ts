import { ConfigService } from '@nestjs/config';
import { MqttPublisher } from '../../src/fanout/mqtt-publisher.service';
import { TEST_MQTT_URL } from '../support/env';
import { TcpProxy } from '../support/tcp-proxy';

/** The fan-out's publisher on the real broker, through a relay that can go silent (a hung broker). */
describe('MQTT publisher', () => {
  let proxy: TcpProxy;
  let publisher: MqttPublisher;
  const messages = (n: number) => Array.from({ length: n }, (_, i) => ({ topic: `test-publisher/${process.pid}/${i}`, payload: JSON.stringify({ i }) }));

  beforeAll(async () => {
    const broker = new URL(TEST_MQTT_URL);
    proxy = await TcpProxy.start({ host: broker.hostname, port: Number(broker.port || 1883) });
    publisher = new MqttPublisher(new ConfigService({ MQTT_URL: proxy.urlFor(TEST_MQTT_URL) }));
    const client = publisher.connection();
    if (!client.connected) await new Promise((resolve) => client.once('connect', resolve));
  });

  afterAll(async () => {
    await proxy.stop();
    // Forced: the unacknowledged messages would keep a graceful end waiting.
    await publisher.connection().endAsync(true);
  });

  it('settles each message of a batch on its PUBACK', async () => {
    const outcomes = await publisher.publishAll(messages(50));
    expect(outcomes.map((outcome) => outcome.status)).toEqual(Array(50).fill('fulfilled'));
    expect(await publisher.publishAll([])).toEqual([]);
  });

  it('fails the messages a silent broker never acknowledges, once the deadline has passed', async () => {
    await proxy.stall();
    const started = Date.now();
    const outcomes = await publisher.publishAll(messages(3));
    expect(Date.now() - started).toBeGreaterThanOrEqual(4900);
    expect(outcomes).toEqual(Array(3).fill({ status: 'rejected', reason: new Error('MQTT publish timed out') }));
  }, 15_000);
});

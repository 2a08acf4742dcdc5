import mqtt, { MqttClient } from 'mqtt';
import { TEST_MQTT_URL } from './env';

export interface ReceivedMessage {
  topic: string;
  payload: Record<string, unknown>;
}

/** Subscribes like a user's consumer does and keeps every message for assertions. */
export class MqttCollector {
  readonly messages: ReceivedMessage[] = [];

  private constructor(private readonly client: MqttClient) {
    client.on('message', (topic, payload) => {
      this.messages.push({ topic, payload: JSON.parse(payload.toString()) as Record<string, unknown> });
    });
  }

  static async subscribe(filter: string): Promise<MqttCollector> {
    const client = await mqtt.connectAsync(TEST_MQTT_URL, { reconnectPeriod: 500 });
    const collector = new MqttCollector(client);
    await client.subscribeAsync(filter, { qos: 1 });
    // Resubscribe after a broker restart (clean session).
    client.on('connect', () => void client.subscribeAsync(filter, { qos: 1 }).catch(() => undefined));
    return collector;
  }

  on(topic: string): ReceivedMessage[] {
    return this.messages.filter((m) => m.topic === topic);
  }

  async waitFor(predicate: (messages: ReceivedMessage[]) => boolean, timeoutMs = 10_000): Promise<ReceivedMessage[]> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.messages)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for MQTT messages; got ${JSON.stringify(this.messages.map((m) => m.topic))}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    return this.messages;
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until `accept` holds, or fails naming `what` and the last value seen. */
export async function eventually<T>(what: string, probe: () => Promise<T> | T, accept: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value)}`);
    await sleep(50);
  }
}

import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import mqtt, { MqttClient } from 'mqtt';
import { Settings } from '../config/settings';

/** How long a publish may wait for the broker's PUBACK before the job is retried. */
const PUBLISH_TIMEOUT_MS = 5000;

/** One MQTT connection per process, opened on first use and kept up by mqtt.js's reconnect. */
@Injectable()
export class MqttPublisher implements OnModuleDestroy {
  private readonly logger = new Logger(MqttPublisher.name);
  private client?: MqttClient;

  constructor(private readonly config: ConfigService<Settings, true>) {}

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  get started(): boolean {
    return this.client !== undefined;
  }

  connection(): MqttClient {
    if (!this.client) {
      this.client = mqtt.connect(this.config.get('MQTT_URL', { infer: true }), {
        username: this.config.get('MQTT_USERNAME', { infer: true }),
        password: this.config.get('MQTT_PASSWORD', { infer: true }),
        clientId: `lpwan-bridge-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
        reconnectPeriod: 1000,
        connectTimeout: 5000,
        // mqtt.js logs each packet through `debug` even when DEBUG is unset: its arguments were a
        // good part of the publisher's allocations. DEBUG=mqttjs* still turns them on.
        ...(process.env.DEBUG ? {} : { log: () => undefined }),
        // Not mqtt-packet's 65,536 pre-made message-id buffers: 7 MB of heap each major GC walks.
        writeCache: false,
      });
      this.client.on('connect', () => this.logger.log('connected to the MQTT broker'));
      this.client.on('offline', () => this.logger.warn('MQTT broker unreachable, reconnecting'));
      this.client.on('error', (error) => this.logger.warn(`MQTT: ${error.message}`));
    }
    return this.client;
  }

  /**
   * QoS 1, each settled by the broker's PUBACK; those not answered within PUBLISH_TIMEOUT_MS fail
   * (one deadline for the batch: a timer per message was a good part of the publisher's cost).
   */
  publishAll(messages: Array<{ topic: string; payload: string }>): Promise<Array<PromiseSettledResult<void>>> {
    const client = this.connection();
    if (messages.length === 0) return Promise.resolve([]);
    if (!client.connected) return Promise.resolve(messages.map(() => ({ status: 'rejected', reason: new Error('MQTT broker not connected') })));
    return new Promise((resolve) => {
      const outcomes: Array<PromiseSettledResult<void> | undefined> = messages.map(() => undefined);
      let pending = messages.length;
      const settle = (i: number, error?: Error) => {
        if (outcomes[i]) return;
        outcomes[i] = error ? { status: 'rejected', reason: error } : { status: 'fulfilled', value: undefined };
        if (--pending === 0) {
          clearTimeout(timer);
          resolve(outcomes as Array<PromiseSettledResult<void>>);
        }
      };
      const timer = setTimeout(() => messages.forEach((_, i) => settle(i, new Error('MQTT publish timed out'))), PUBLISH_TIMEOUT_MS);
      messages.forEach(({ topic, payload }, i) => client.publish(topic, payload, { qos: 1, retain: false }, (error) => settle(i, error)));
    });
  }

  async onModuleDestroy(): Promise<void> {
    await this.client?.endAsync().catch(() => undefined);
  }
}

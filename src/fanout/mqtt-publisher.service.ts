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
      });
      this.client.on('connect', () => this.logger.log('connected to the MQTT broker'));
      this.client.on('offline', () => this.logger.warn('MQTT broker unreachable, reconnecting'));
      this.client.on('error', (error) => this.logger.warn(`MQTT: ${error.message}`));
    }
    return this.client;
  }

  /** QoS 1, resolved on the broker's PUBACK. */
  publish(topic: string, payload: string): Promise<void> {
    const client = this.connection();
    if (!client.connected) return Promise.reject(new Error('MQTT broker not connected'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('MQTT publish timed out')), PUBLISH_TIMEOUT_MS);
      client.publish(topic, payload, { qos: 1, retain: false }, (error) => {
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      });
    });
  }

  async onModuleDestroy(): Promise<void> {
    await this.client?.endAsync().catch(() => undefined);
  }
}

import { HttpException, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { storableText } from '../common/storable-text';
import { describeIssues } from '../common/validation';
import { Settings } from '../config/settings';
import type { Network } from '../events/normalized-event';
import { MqttPublisher } from '../fanout/mqtt-publisher.service';
import { NetworkRegistry } from '../networks/network-registry';
import { mqttDownlinkCommandSchema } from './downlink.schema';
import { DownlinksService } from './downlinks.service';

/**
 * Instances of the bridge share the subscription, so the broker hands each command to one of them
 * (MQTT 5 shared subscriptions; Mosquitto ≥ 1.6, EMQX, HiveMQ, VerneMQ have them for 3.1.1 clients too).
 */
const SHARE_GROUP = 'lpwan-bridge';
/** A downlink command is a few hundred bytes; anything this large is not one. */
const MAX_COMMAND_BYTES = 16 * 1024;

/**
 * Worker role: downlinks published by consumers to `{prefix}/{network}/{externalId}/command/down`,
 * the same JSON as `POST /api/devices/{id}/downlinks`. There is no one to answer: a command for an
 * unknown device is logged and dropped; a bad command for a known device is logged and becomes an
 * `error` event of that device (…/event/error), which its publisher can watch.
 */
@Injectable()
export class DownlinkCommands implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(DownlinkCommands.name);
  private readonly prefix: string;
  private listener?: (topic: string, payload: Buffer) => void;
  /** Commands of one topic are taken one after the other, so that a device's downlinks keep their order. */
  private readonly inProgress = new Map<string, Promise<void>>();

  constructor(
    private readonly config: ConfigService<Settings, true>,
    private readonly mqtt: MqttPublisher,
    private readonly downlinks: DownlinksService,
    private readonly networks: NetworkRegistry,
  ) {
    this.prefix = config.get('MQTT_TOPIC_PREFIX', { infer: true });
  }

  onApplicationBootstrap(): void {
    if (this.config.get('BRIDGE_ROLE', { infer: true }) === 'api') return;
    const client = this.mqtt.connection();
    const filter = `$share/${SHARE_GROUP}/${this.prefix}/+/+/command/down`;
    this.listener = (topic, payload) => this.receiveInOrder(topic, payload);
    client.on('message', this.listener);
    // mqtt.js subscribes again by itself after every reconnect.
    client.subscribe(filter, { qos: 1 }, (error, granted) => {
      if (error) this.logger.error(`cannot subscribe to ${filter}: ${error.message}`);
      else if (granted?.some((grant) => grant.qos === 128)) {
        this.logger.error(`the broker refused ${filter}: downlink commands over MQTT need shared subscriptions`);
      }
    });
  }

  private receiveInOrder(topic: string, payload: Buffer): void {
    const next = (this.inProgress.get(topic) ?? Promise.resolve()).then(() => this.receive(topic, payload));
    this.inProgress.set(topic, next);
    void next.then(() => {
      if (this.inProgress.get(topic) === next) this.inProgress.delete(topic);
    });
  }

  /** Never rejects: whatever happens to a command is logged. */
  private async receive(topic: string, payload: Buffer): Promise<void> {
    const target = this.parseTopic(topic);
    if (!target) return;
    const { network, externalId } = target;
    try {
      const parsed = payload.length > MAX_COMMAND_BYTES ? undefined : parseJson(payload);
      const connectionId = typeof (parsed as { connectionId?: unknown })?.connectionId === 'string' ? (parsed as { connectionId: string }).connectionId : undefined;
      const devices = await this.downlinks.devicesFor(network, externalId, connectionId);
      if (devices.length !== 1) {
        const why = devices.length ? `several ${network} connections have device ${externalId}: add "connectionId"` : `no ${network} device ${externalId}`;
        this.logger.warn(`downlink command on ${topic} dropped: ${why}`);
        return;
      }
      const [device] = devices;
      const refuse = async (reason: string) => {
        this.logger.warn(`downlink command on ${topic} refused: ${reason}`);
        await this.downlinks.reportRefusedCommand(device, reason, { topic, command: storableText(payload.toString('utf8').slice(0, 1024)) });
      };
      if (parsed === undefined) return await refuse(payload.length > MAX_COMMAND_BYTES ? `larger than ${MAX_COMMAND_BYTES} bytes` : 'not JSON');
      const command = mqttDownlinkCommandSchema.safeParse(parsed);
      if (!command.success) return await refuse(describeIssues(command.error));
      try {
        const { connectionId: _connectionId, ...downlink } = command.data;
        await this.downlinks.queueFor(device, downlink);
      } catch (error) {
        if (error instanceof HttpException && error.getStatus() < 500) return await refuse(error.message);
        throw error;
      }
    } catch (error) {
      // Store or broker trouble: the command is lost (the broker got its PUBACK); say so loudly.
      this.logger.error(`downlink command on ${topic} lost: ${(error as Error).message}`);
    }
  }

  private parseTopic(topic: string): { network: Network; externalId: string } | null {
    if (!topic.startsWith(`${this.prefix}/`)) return null;
    const levels = topic.slice(this.prefix.length + 1).split('/');
    if (levels.length !== 4 || levels[2] !== 'command' || levels[3] !== 'down') return null;
    const [network, externalId] = levels;
    if (!this.networks.has(network)) {
      this.logger.warn(`downlink command on ${topic} dropped: unknown network "${network}"`);
      return null;
    }
    return { network: network as Network, externalId: this.networks.canonicalExternalId(network as Network, externalId) };
  }

  onModuleDestroy(): void {
    if (this.listener) this.mqtt.connection().off('message', this.listener);
  }
}

function parseJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

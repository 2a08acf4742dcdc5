import type { Logger } from '@nestjs/common';
import mqtt, { IPublishPacket, MqttClient } from 'mqtt';
import { setTimeout as sleep } from 'node:timers/promises';
import type { OpenConnection } from '../../connections/connections.service';
import type { PrismaService } from '../../database/prisma.service';
import type { IngestService } from '../../ingest/ingest.service';
import type { ChirpstackSettings } from './chirpstack.adapter';
import { readChirpstackEvent, UnreadableChirpstackEvent } from './chirpstack-event-reader';
import { EventTopicPattern, eventTopicPattern } from './chirpstack-topic';

/** What `GET /api/connections/{id}/status` shows as `stream.state` for the MQTT integration. */
export type SubscriptionState = 'connecting' | 'subscribed' | 'reconnecting' | 'refused' | 'stopped';

const RECONNECT_MS = 1000;
const STORE_RETRY_MAX_MS = 10_000;

export interface MqttConsumerDeps {
  ingest: IngestService;
  prisma: PrismaService;
  logger: Logger;
  /** Counts a message that could not be read. */
  onSkipped: () => void;
}

export interface MqttIdentity {
  /** Fixed per connection and slot: the broker keeps the session (and what arrives while away) under it. */
  clientId: string;
  /** The `$share/<group>/…` group: the broker hands each message to one member. */
  shareGroup: string;
}

/**
 * One persistent MQTT session (clean=false) on ChirpStack's broker, subscribed at QoS 1 through a
 * shared subscription. A message is acknowledged (PUBACK) only once its event is stored, so a
 * bridge that stops or crashes gets it again from the broker; one that cannot be read is logged
 * and acknowledged, and the subscription goes on.
 */
export class ChirpstackMqttConsumer {
  private client?: MqttClient;
  private readonly pattern: EventTopicPattern;
  private readonly settings: ChirpstackSettings;
  private stopping = false;
  private state: SubscriptionState = 'stopped';
  /** Date.now() of the last message handled. */
  lastMessageAt = 0;

  constructor(
    private readonly connection: OpenConnection,
    private readonly identity: MqttIdentity,
    private readonly deps: MqttConsumerDeps,
    /** A drain takes what an abandoned session holds and does not report its state. */
    private readonly reportState = true,
  ) {
    this.settings = connection.settings as unknown as ChirpstackSettings;
    this.pattern = eventTopicPattern(this.mqttSettings.eventTopic, this.settings.applicationId);
  }

  get filter(): string {
    return `$share/${this.identity.shareGroup}/${this.pattern.filter}`;
  }

  /** The filter this consumer's identity would have for the connection as given (after an update). */
  filterFor(connection: OpenConnection): string {
    const settings = connection.settings as unknown as ChirpstackSettings;
    return `$share/${this.identity.shareGroup}/${eventTopicPattern(settings.mqtt?.eventTopic ?? '', settings.applicationId).filter}`;
  }

  get subscribed(): boolean {
    return this.state === 'subscribed';
  }

  private get mqttSettings(): NonNullable<ChirpstackSettings['mqtt']> {
    return this.settings.mqtt as NonNullable<ChirpstackSettings['mqtt']>;
  }

  start(): void {
    const { url, username, password } = this.mqttSettings;
    void this.setState('connecting', null);
    const client = mqtt.connect(url, {
      clientId: this.identity.clientId,
      clean: false,
      username,
      password,
      reconnectPeriod: RECONNECT_MS,
      connectTimeout: 10_000,
      // Subscribed here on every connect instead: a resumed session has it, a lost one gets it back.
      resubscribe: false,
    });
    this.client = client;
    // PUBACK goes out when `done` is called: after the event is stored. Never while stopping with
    // the event not stored: the broker keeps it for the session's next connection.
    client.handleMessage = (packet, done) => {
      this.handle(packet)
        .catch((error: Error) => {
          this.deps.logger.error(`ChirpStack MQTT of connection ${this.connection.id}: message on ${packet.topic} lost to a bug: ${error.stack}`);
          return true;
        })
        .then((acknowledge) => acknowledge && done());
    };
    client.on('connect', (connack) => {
      client.subscribe(this.filter, { qos: 1 }, (error, granted) => {
        if (error) void this.setState('reconnecting', `cannot subscribe to ${this.filter}: ${error.message}`);
        else if (granted?.some((grant) => grant.qos === 128)) void this.setState('refused', `the broker refused ${this.filter} (shared subscriptions and the topic's ACL)`);
        else {
          if (!connack.sessionPresent) this.deps.logger.log(`ChirpStack MQTT of connection ${this.connection.id}: new session ${this.identity.clientId}`);
          void this.setState('subscribed', null);
        }
      });
    });
    client.on('offline', () => void this.setState('reconnecting', 'broker unreachable'));
    client.on('error', (error) => void this.setState('reconnecting', error.message));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.client?.endAsync().catch(() => undefined);
    await this.refreshState().catch(() => undefined);
    if (this.reportState) await this.setState('stopped', null);
  }

  /** Drain only: the session leaves the share group, so the broker queues nothing more for it. */
  async unsubscribe(): Promise<void> {
    await this.client?.unsubscribeAsync(this.filter).catch(() => undefined);
  }

  /**
   * Writes the current state again (another instance may have written its own meanwhile), and the
   * time of the last message as the stream's `position`.
   */
  async refreshState(): Promise<void> {
    if (!this.reportState) return;
    if (this.state === 'subscribed') await writeSubscriptionState(this.deps.prisma, this.connection.id, this.state, null, true);
    if (this.lastMessageAt) {
      const at = new Date(this.lastMessageAt);
      await this.deps.prisma.$executeRaw`UPDATE connections SET stream_position = ${at}
        WHERE id = ${this.connection.id} AND (stream_position IS NULL OR stream_position < ${at})`;
    }
  }

  /** True once the message is taken care of (stored, or unreadable and skipped): it may be acknowledged. */
  private async handle(packet: IPublishPacket): Promise<boolean> {
    this.lastMessageAt = Date.now();
    const type = this.pattern.eventOf(packet.topic);
    let mapped;
    try {
      mapped = readChirpstackEvent(type ?? undefined, decodePayload(packet.payload as Buffer));
    } catch (error) {
      if (!(error instanceof UnreadableChirpstackEvent)) throw error;
      this.deps.logger.warn(`ChirpStack MQTT of connection ${this.connection.id}: skipped a message on ${packet.topic}: ${error.message}`);
      this.deps.onSkipped();
      return true;
    }
    if ('ignored' in mapped) return true;
    const applicationId = (mapped.event.raw as { deviceInfo?: { applicationId?: string } }).deviceInfo?.applicationId;
    // The integration is global: with a template without {{application_id}} other applications' events come too.
    if (applicationId && applicationId !== this.settings.applicationId) return true;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.deps.ingest.accept(this.connection, [mapped.event]);
        return true;
      } catch (error) {
        // Not acknowledged while it cannot be stored: the broker keeps it and the next ones.
        if (this.stopping) return false;
        this.deps.logger.warn(`ChirpStack MQTT of connection ${this.connection.id}: cannot store an event yet: ${(error as Error).message}`);
        await sleep(Math.min(STORE_RETRY_MAX_MS, 200 * 2 ** attempt));
      }
    }
  }

  private async setState(state: SubscriptionState, error: string | null): Promise<void> {
    if (this.stopping && state !== 'stopped') return;
    const changed = this.state !== state;
    this.state = state;
    if (error && changed) this.deps.logger.warn(`ChirpStack MQTT of connection ${this.connection.id}: ${state}: ${error}`);
    if (this.reportState) await writeSubscriptionState(this.deps.prisma, this.connection.id, state, error, false).catch(() => undefined);
  }
}

/** JSON when it looks like it (ChirpStack's `json = true`, its default), else Protobuf bytes. */
function decodePayload(payload: Buffer): unknown {
  const first = payload.find((byte) => byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09);
  // A Protobuf message never starts with `{`: that would be field 15 as a (long deprecated) group.
  if (first !== 0x7b) return payload;
  try {
    return JSON.parse(payload.toString('utf8')) as unknown;
  } catch (error) {
    throw new UnreadableChirpstackEvent(`body: not JSON (${(error as Error).message}) and not Protobuf`);
  }
}

async function writeSubscriptionState(prisma: PrismaService, connectionId: string, state: SubscriptionState, error: string | null, onlyIfDifferent: boolean): Promise<void> {
  if (onlyIfDifferent) {
    await prisma.$executeRaw`UPDATE connections SET stream_state = ${state}, stream_error = ${error}
      WHERE id = ${connectionId} AND stream_state IS DISTINCT FROM ${state}`;
  } else {
    await prisma.$executeRaw`UPDATE connections SET stream_state = ${state}, stream_error = ${error} WHERE id = ${connectionId}`;
  }
}

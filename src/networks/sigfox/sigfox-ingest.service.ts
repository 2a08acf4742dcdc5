import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { settleWithin } from '../../common/settle-within';
import { isPostgresUnavailable } from '../../common/unavailable';
import { mapOrBadRequest } from '../../common/validation';
import { Settings } from '../../config/settings';
import type { OpenConnection } from '../../connections/connections.service';
import { PrismaService } from '../../database/prisma.service';
import { DownlinksService } from '../../downlinks/downlinks.service';
import type { IncomingEvent } from '../../events/normalized-event';
import { AcceptedEvent, IngestService } from '../../ingest/ingest.service';
import { decodePayload, parsePayloadConfig, PayloadField } from './payload-config';
import { canonicalSigfoxId } from './sigfox-device-id';
import { mapDataCallback, mapErrorCallback, mapServiceCallback, SigfoxPayloadDecoder } from './sigfox.mapper';

export type SigfoxCallbackKind = 'data' | 'service' | 'error';

/**
 * What the callback is answered with: a BIDIR downlink, or the stored event. The downlink's `device`
 * is the id as this callback wrote it ("002C", not the bridge's "2C"): Sigfox matches the answer's key.
 */
export type SigfoxAnswer = { downlinkData: string; device: string } | { event: AcceptedEvent } | null;

/** A device's payloadConfig changed through the API applies within this time. */
const DEVICE_CONFIG_TTL_MS = 5_000;

@Injectable()
export class SigfoxIngestService {
  private readonly parsedConfigs = new Map<string, PayloadField[]>();
  /** `undefined`: not known (Postgres did not answer). */
  private readonly deviceConfigs = new Map<string, { config: string | null | undefined; expires: number }>();

  private readonly logger = new Logger(SigfoxIngestService.name);
  private readonly readTimeoutMs: number;

  constructor(
    private readonly ingest: IngestService,
    private readonly downlinks: DownlinksService,
    private readonly prisma: PrismaService,
    config: ConfigService<Settings, true>,
  ) {
    this.readTimeoutMs = config.get('JOURNAL_STORE_TIMEOUT_MS', { infer: true });
  }

  async receive(connection: OpenConnection, kind: SigfoxCallbackKind, body: unknown): Promise<SigfoxAnswer> {
    if (kind === 'error') return this.store(connection, mapOrBadRequest(() => [mapErrorCallback(body)]));
    if (kind === 'service') return this.receiveService(connection, body);
    const sentDeviceId = typeof (body as { device?: unknown })?.device === 'string' ? (body as { device: string }).device.trim() : '';
    const decoder = await this.decoderFor(connection, canonicalSigfoxId(sentDeviceId));
    const events = mapOrBadRequest(() => mapDataCallback(body, decoder));
    const stored = await this.ingest.accept(connection, events);
    const uplink = events[0];
    // Only the first copy of a message gets the downlink: duplicates come from other stations.
    // A journaled uplink (Postgres unavailable) gets none: the queue cannot be read in time.
    const deviceId = stored[0].deviceId;
    if (uplink.uplink?.confirmed && stored[0].isNew && deviceId) {
      const device = { id: deviceId, externalId: uplink.device.externalId, name: null, devEui: null, joinEui: null };
      const downlink = await this.downlinks.takeNextQueued(connection, device).catch((error: Error) => {
        this.logger.warn(`BIDIR of ${sentDeviceId} answered without a downlink: the queue cannot be read (${error.message})`);
        return null;
      });
      return downlink ? { device: sentDeviceId, downlinkData: downlink.payloadHex } : null;
    }
    return uplink.uplink?.confirmed ? null : { event: stored[0] };
  }

  /** ACKNOWLEDGE settles the downlink the device was last sent; the event names it. */
  private async receiveService(connection: OpenConnection, body: unknown): Promise<SigfoxAnswer> {
    const event = mapOrBadRequest(() => mapServiceCallback(body));
    if (event.type === 'downlink.acked' || event.type === 'downlink.failed') {
      const settled = await this.settleSentDownlink(connection, event).catch((error: unknown) => {
        if (!isPostgresUnavailable(error)) throw error;
        // The event is kept all the same (journaled); the downlink stays `sent`.
        this.logger.warn(`ACKNOWLEDGE of ${event.device.externalId} not matched to its downlink: ${(error as Error).message}`);
        return null;
      });
      if (settled) event.ack = { downlinkId: settled.id, info: event.ack?.info ?? null };
    }
    return this.store(connection, [event]);
  }

  private async settleSentDownlink(connection: OpenConnection, event: IncomingEvent) {
    const device = await this.prisma.device.findUnique({
      where: { connectionId_externalId: { connectionId: connection.id, externalId: event.device.externalId } },
      select: { id: true },
    });
    return device && this.downlinks.settleLatestSent(device.id, event.type === 'downlink.acked' ? 'acked' : 'failed', event.ack?.info ?? null);
  }

  private async store(connection: OpenConnection, events: Parameters<IngestService['accept']>[1]): Promise<SigfoxAnswer> {
    const [stored] = await this.ingest.accept(connection, events);
    return { event: stored };
  }

  /**
   * The device's own payload config, else the connection's; parsed once per distinct config. None
   * when the device's cannot be read (Postgres unavailable): better no decoding than a wrong one.
   */
  private async decoderFor(connection: OpenConnection, deviceId: string): Promise<SigfoxPayloadDecoder | undefined> {
    const deviceConfig = await this.devicePayloadConfig(connection.id, deviceId);
    if (deviceConfig === undefined) return undefined;
    const config = deviceConfig ?? (connection.settings.payloadConfig as string | undefined);
    if (!config) return undefined;
    let fields = this.parsedConfigs.get(config);
    if (!fields) {
      fields = parsePayloadConfig(config);
      this.parsedConfigs.set(config, fields);
    }
    const parsed = fields;
    return (payload) => {
      const { values, missing } = decodePayload(parsed, payload);
      return missing.length ? { ...values, _undecoded: missing } : values;
    };
  }

  /** Null: the device has none; undefined: it cannot be known now (an expired entry is used meanwhile). */
  private async devicePayloadConfig(connectionId: string, deviceId: string): Promise<string | null | undefined> {
    const key = `${connectionId}\u0000${deviceId}`;
    const hit = this.deviceConfigs.get(key);
    if (hit && hit.expires > Date.now()) return hit.config;
    const read = await settleWithin(
      this.prisma.device.findUnique({ where: { connectionId_externalId: { connectionId, externalId: deviceId } }, select: { settings: true } }),
      this.readTimeoutMs,
    );
    if (read.kind === 'failed' && !isPostgresUnavailable(read.error)) throw read.error;
    if (read.kind !== 'done') {
      // Kept a while longer (or known to be unknown), so that the next callbacks do not wait again.
      this.deviceConfigs.set(key, { config: hit?.config, expires: Date.now() + DEVICE_CONFIG_TTL_MS });
      return hit?.config;
    }
    const device = read.value;
    const config = ((device?.settings as { payloadConfig?: string } | undefined)?.payloadConfig ?? null) || null;
    this.deviceConfigs.set(key, { config, expires: Date.now() + DEVICE_CONFIG_TTL_MS });
    return config;
  }
}

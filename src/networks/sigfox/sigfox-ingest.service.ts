import { Injectable } from '@nestjs/common';
import { mapOrBadRequest } from '../../common/validation';
import type { OpenConnection } from '../../connections/connections.service';
import { PrismaService } from '../../database/prisma.service';
import { DownlinksService } from '../../downlinks/downlinks.service';
import { IngestService } from '../../ingest/ingest.service';
import { decodePayload, parsePayloadConfig, PayloadField } from './payload-config';
import { canonicalSigfoxId } from './sigfox-device-id';
import { mapDataCallback, mapErrorCallback, mapServiceCallback, SigfoxPayloadDecoder } from './sigfox.mapper';

export type SigfoxCallbackKind = 'data' | 'service' | 'error';

/**
 * What the callback is answered with: a BIDIR downlink, or the stored event. The downlink's `device`
 * is the id as this callback wrote it ("002C", not the bridge's "2C"): Sigfox matches the answer's key.
 */
export type SigfoxAnswer = { downlinkData: string; device: string } | { eventId: string; duplicate: boolean } | null;

/** A device's payloadConfig changed through the API applies within this time. */
const DEVICE_CONFIG_TTL_MS = 5_000;

@Injectable()
export class SigfoxIngestService {
  private readonly parsedConfigs = new Map<string, PayloadField[]>();
  private readonly deviceConfigs = new Map<string, { config: string | null; expires: number }>();

  constructor(
    private readonly ingest: IngestService,
    private readonly downlinks: DownlinksService,
    private readonly prisma: PrismaService,
  ) {}

  async receive(connection: OpenConnection, kind: SigfoxCallbackKind, body: unknown): Promise<SigfoxAnswer> {
    if (kind === 'error') return this.store(connection, mapOrBadRequest(() => [mapErrorCallback(body)]));
    if (kind === 'service') return this.receiveService(connection, body);
    const sentDeviceId = typeof (body as { device?: unknown })?.device === 'string' ? (body as { device: string }).device.trim() : '';
    const decoder = await this.decoderFor(connection, canonicalSigfoxId(sentDeviceId));
    const events = mapOrBadRequest(() => mapDataCallback(body, decoder));
    const stored = await this.ingest.accept(connection, events);
    const uplink = events[0];
    // Only the first copy of a message gets the downlink: duplicates come from other stations.
    if (uplink.uplink?.confirmed && stored[0].isNew) {
      const device = { id: stored[0].deviceId, externalId: uplink.device.externalId, name: null, devEui: null, joinEui: null };
      const downlink = await this.downlinks.takeNextQueued(connection, device);
      return downlink ? { device: sentDeviceId, downlinkData: downlink.payloadHex } : null;
    }
    return uplink.uplink?.confirmed ? null : { eventId: stored[0].id, duplicate: !stored[0].isNew };
  }

  /** ACKNOWLEDGE settles the downlink the device was last sent; the event names it. */
  private async receiveService(connection: OpenConnection, body: unknown): Promise<SigfoxAnswer> {
    const event = mapOrBadRequest(() => mapServiceCallback(body));
    if (event.type === 'downlink.acked' || event.type === 'downlink.failed') {
      const device = await this.prisma.device.findUnique({
        where: { connectionId_externalId: { connectionId: connection.id, externalId: event.device.externalId } },
        select: { id: true },
      });
      const settled = device && (await this.downlinks.settleLatestSent(device.id, event.type === 'downlink.acked' ? 'acked' : 'failed', event.ack?.info ?? null));
      if (settled) event.ack = { downlinkId: settled.id, info: event.ack?.info ?? null };
    }
    return this.store(connection, [event]);
  }

  private async store(connection: OpenConnection, events: Parameters<IngestService['accept']>[1]): Promise<SigfoxAnswer> {
    const [stored] = await this.ingest.accept(connection, events);
    return { eventId: stored.id, duplicate: !stored.isNew };
  }

  /** The device's own payload config, else the connection's; parsed once per distinct config. */
  private async decoderFor(connection: OpenConnection, deviceId: string): Promise<SigfoxPayloadDecoder | undefined> {
    const config = (await this.devicePayloadConfig(connection.id, deviceId)) ?? (connection.settings.payloadConfig as string | undefined);
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

  private async devicePayloadConfig(connectionId: string, deviceId: string): Promise<string | null> {
    const key = `${connectionId}\u0000${deviceId}`;
    const hit = this.deviceConfigs.get(key);
    if (hit && hit.expires > Date.now()) return hit.config;
    const device = await this.prisma.device.findUnique({
      where: { connectionId_externalId: { connectionId, externalId: deviceId } },
      select: { settings: true },
    });
    const config = ((device?.settings as { payloadConfig?: string } | undefined)?.payloadConfig ?? null) || null;
    this.deviceConfigs.set(key, { config, expires: Date.now() + DEVICE_CONFIG_TTL_MS });
    return config;
  }
}

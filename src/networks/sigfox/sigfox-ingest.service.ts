import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ServerTiming } from '../../common/server-timing';
import { settleWithin } from '../../common/settle-within';
import { isPostgresUnavailable } from '../../common/unavailable';
import { mapOrBadRequest } from '../../common/validation';
import { Settings } from '../../config/settings';
import type { OpenConnection } from '../../connections/connections.service';
import { DeviceCodecs } from '../../devices/device-codecs.service';
import { DownlinkCollection } from '../../downlinks/downlink-collection.service';
import { AcceptedEvent, IngestService } from '../../ingest/ingest.service';
import { JournalService } from '../../journal/journal.service';
import { decodePayload, parsePayloadConfig, PayloadField } from './payload-config';
import { canonicalSigfoxId } from './sigfox-device-id';
import { mapDataCallback, mapErrorCallback, mapServiceCallback, SigfoxPayloadDecoder } from './sigfox.mapper';

export type SigfoxCallbackKind = 'data' | 'service' | 'error';

/**
 * What the callback is answered with: a BIDIR downlink, or the stored event. The downlink's `device`
 * is the id as this callback wrote it ("002C", not the bridge's "2C"): Sigfox matches the answer's key.
 */
export type SigfoxAnswer = { downlinkData: string; device: string } | { event: AcceptedEvent } | null;

@Injectable()
export class SigfoxIngestService {
  private readonly parsedConfigs = new Map<string, PayloadField[]>();
  private readonly logger = new Logger(SigfoxIngestService.name);
  private readonly readTimeoutMs: number;

  constructor(
    private readonly ingest: IngestService,
    private readonly downlinks: DownlinkCollection,
    private readonly deviceCodecs: DeviceCodecs,
    private readonly journal: JournalService,
    config: ConfigService<Settings, true>,
  ) {
    this.readTimeoutMs = config.get('JOURNAL_STORE_TIMEOUT_MS', { infer: true });
  }

  /** `timing` gets the durations of a data callback's steps. */
  async receive(connection: OpenConnection, kind: SigfoxCallbackKind, body: unknown, timing = new ServerTiming()): Promise<SigfoxAnswer> {
    if (kind === 'error') return this.store(connection, mapOrBadRequest(() => [mapErrorCallback(body)]));
    if (kind === 'service') return this.receiveService(connection, body);
    const sentDeviceId = typeof (body as { device?: unknown })?.device === 'string' ? (body as { device: string }).device.trim() : '';
    const decoder = await timing.measure('decoder', this.decoderFor(connection, canonicalSigfoxId(sentDeviceId)));
    const events = mapOrBadRequest(() => mapDataCallback(body, decoder));
    const uplink = events[0];
    if (!uplink.uplink?.confirmed) return { event: (await timing.measure('store', this.ingest.accept(connection, events)))[0] };
    // BIDIR: whether a downlink waits is asked beside the store (most devices have none), bounded
    // as the store is; only a device with one waits for it to be taken after the store. Not while
    // the journal holds events: Postgres is unavailable, and the uplink goes behind them.
    const queued = this.journal.isBuffering ? null : timing.measure('queued', settleWithin(this.downlinks.hasQueued(connection.id, uplink.device.externalId), this.readTimeoutMs));
    const [stored] = await timing.measure('store', this.ingest.accept(connection, events));
    // Only the first copy of a message gets the downlink: duplicates come from other stations.
    // A journaled uplink (Postgres unavailable) gets none: the queue cannot be read in time.
    if (!stored.isNew || !stored.deviceId || !queued) return null;
    const check = await queued;
    if (check.kind !== 'done') {
      this.logger.warn(`BIDIR of ${sentDeviceId} answered without a downlink: the queue cannot be read (${check.kind === 'failed' ? (check.error as Error).message : 'too slow'})`);
      return null;
    }
    if (!check.value) return null;
    const device = { id: stored.deviceId, externalId: uplink.device.externalId, name: null, devEui: null, joinEui: null };
    const downlink = await timing.measure('take', this.downlinks.takeNext(connection, device)).catch((error: Error) => {
      this.logger.warn(`BIDIR of ${sentDeviceId} answered without a downlink: the queue cannot be read (${error.message})`);
      return null;
    });
    return downlink ? { device: sentDeviceId, downlinkData: downlink.payloadHex } : null;
  }

  /** ACKNOWLEDGE settles the downlink the device was last sent; the event names it. */
  private async receiveService(connection: OpenConnection, body: unknown): Promise<SigfoxAnswer> {
    const event = mapOrBadRequest(() => mapServiceCallback(body));
    if (event.type === 'downlink.acked' || event.type === 'downlink.failed') {
      const outcome = event.type === 'downlink.acked' ? 'acked' : 'failed';
      const settled = await this.downlinks.settleLatestSent(connection.id, event.device.externalId, outcome, event.ack?.info ?? null).catch((error: unknown) => {
        if (!isPostgresUnavailable(error)) throw error;
        // The event is kept all the same (journaled); the downlink stays `sent`.
        this.logger.warn(`ACKNOWLEDGE of ${event.device.externalId} not matched to its downlink: ${(error as Error).message}`);
        return null;
      });
      if (settled) event.ack = { downlinkId: settled.id, info: event.ack?.info ?? null };
    }
    return this.store(connection, [event]);
  }

  private async store(connection: OpenConnection, events: Parameters<IngestService['accept']>[1]): Promise<SigfoxAnswer> {
    const [stored] = await this.ingest.accept(connection, events);
    return { event: stored };
  }

  /**
   * The device's own payload config, else the connection's; parsed once per distinct config. None
   * while the devices' configs were never read (Postgres unavailable since the process started):
   * better no decoding than a wrong one.
   */
  private async decoderFor(connection: OpenConnection, deviceId: string): Promise<SigfoxPayloadDecoder | undefined> {
    const own = await this.deviceCodecs.of(connection.id, deviceId);
    if (!this.deviceCodecs.loaded) return undefined;
    const config = own?.payloadConfig ?? (connection.settings.payloadConfig as string | undefined);
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
}

import { Injectable, OnModuleInit } from '@nestjs/common';
import type { IncomingEvent } from '../events/normalized-event';
import { IngestInterceptor, IngestService } from '../ingest/ingest.service';
import { CodecsService } from './codecs.service';
import { DeviceCodecs } from '../devices/device-codecs.service';

/** The fPort given to codecs for uplinks of networks without ports (Sigfox). */
export const PORTLESS_FPORT = 1;

/**
 * Runs the device's codec (else its connection's) on each uplink before it is stored, whatever
 * its network: it sees only the normalized event. The network's own decoded payload is kept
 * unless `codecOverrides`. Bounded: a call gives up after the sandbox's limits, and the thread it
 * runs on never holds up this one.
 */
@Injectable()
export class UplinkDecoder implements OnModuleInit {
  constructor(
    private readonly ingest: IngestService,
    private readonly codecs: CodecsService,
    private readonly devices: DeviceCodecs,
  ) {}

  onModuleInit(): void {
    this.ingest.intercept(this.decodeAll);
  }

  private readonly decodeAll: IngestInterceptor = async (connection, events) => {
    if (!events.some((event) => event.type === 'uplink' && event.uplink)) return events;
    const settings = connection.settings as { codecId?: string; codecOverrides?: boolean };
    return Promise.all(
      events.map(async (event) => {
        // LoRaWAN's port 0 carries MAC commands, never the application's payload.
        if (event.type !== 'uplink' || !event.uplink || event.uplink.port === 0) return event;
        const own = await this.devices.of(connection.id, event.device.externalId);
        const codecId = own?.codecId ?? settings.codecId;
        const overrides = own?.codecOverrides ?? settings.codecOverrides ?? false;
        if (!codecId || (event.uplink.decoded !== null && event.uplink.decoded !== undefined && !overrides)) return event;
        return this.decode(event, codecId);
      }),
    );
  };

  /** Never fails: an uplink that cannot be decoded is stored all the same, saying why. */
  private async decode(event: IncomingEvent, codecId: string): Promise<IncomingEvent> {
    const uplink = event.uplink!;
    const undecoded = (reason: string) => ({ ...event, uplink: { ...uplink, decoded: null, decodeErrors: [reason], decodeWarnings: [] } });
    const codec = await this.codecs.current(codecId).catch((error: Error) => error);
    if (codec instanceof Error) return undecoded(`not decoded: codec "${codecId}" could not be read (${codec.message})`);
    if (!codec) return undecoded(`codec "${codecId}" not found`);
    const decoding = await this.codecs.decode(codec, uplink.payloadHex, uplink.port ?? PORTLESS_FPORT, Date.parse(event.time));
    return { ...event, uplink: { ...uplink, ...decoding } };
  }
}

import { Injectable, OnModuleInit } from '@nestjs/common';
import { ConnectionsService } from '../connections/connections.service';
import { DeviceCodecs } from '../devices/device-codecs.service';
import { decodedBatteryStateOf } from '../devices/device-state';
import { DeviceStateRecorder } from '../devices/device-state-recorder.service';
import type { NormalizedEvent } from '../events/normalized-event';
import { FanoutWorker } from '../fanout/fanout-worker.service';
import { CodecsService } from './codecs.service';

/** The fPort given to codecs for uplinks of networks without ports (Sigfox). */
export const PORTLESS_FPORT = 1;

/**
 * Runs the device's codec (else its connection's) on each uplink once it is stored and before it
 * is published, whatever its network: it sees only the normalized event. The networks' requests
 * never wait for a codec. The network's own decoded payload is kept unless `codecOverrides`.
 * Bounded: a call gives up after the sandbox's limits, and the thread it runs on never holds up
 * this one.
 */
@Injectable()
export class UplinkDecoder implements OnModuleInit {
  constructor(
    private readonly fanout: FanoutWorker,
    private readonly codecs: CodecsService,
    private readonly devices: DeviceCodecs,
    private readonly connections: ConnectionsService,
    private readonly deviceState: DeviceStateRecorder,
  ) {}

  onModuleInit(): void {
    this.fanout.prepareWith((events) => Promise.all(events.map((event) => this.decoded(event))));
  }

  /** The event with its codec's decoding, or itself when no codec is to run (or one ran already: a publication retried). */
  private async decoded(event: NormalizedEvent): Promise<NormalizedEvent> {
    const uplink = event.uplink;
    // LoRaWAN's port 0 carries MAC commands, never the application's payload.
    if (event.type !== 'uplink' || !uplink || uplink.port === 0 || uplink.decodeErrors) return event;
    const codecId = await this.codecOf(event);
    if (!codecId) return event;
    // Unreadable (Postgres out of reach, nothing cached): the publication is retried, rather than made undecoded.
    const codec = await this.codecs.current(codecId);
    if (!codec) return { ...event, uplink: { ...uplink, decoded: null, decodeErrors: [`codec "${codecId}" not found`], decodeWarnings: [] } };
    const decoding = await this.codecs.decode(codec, uplink.payloadHex, uplink.port ?? PORTLESS_FPORT, Date.parse(event.time));
    const decodedEvent = { ...event, uplink: { ...uplink, ...decoding } };
    // A battery the codec decodes is the device's too.
    const battery = decoding.decoded === null ? null : decodedBatteryStateOf(decodedEvent);
    if (battery) this.deviceState.record(event.device.id, battery);
    return decodedEvent;
  }

  /** The device's codec, else its connection's, when it is to run on this uplink. */
  private async codecOf(event: NormalizedEvent): Promise<string | undefined> {
    const connection = await this.connections.open(event.connectionId);
    const settings = (connection?.settings ?? {}) as { codecId?: string; codecOverrides?: boolean };
    const own = await this.devices.of(event.connectionId, event.device.externalId);
    const codecId = own?.codecId ?? settings.codecId;
    const overrides = own?.codecOverrides ?? settings.codecOverrides ?? false;
    const networkDecoded = event.uplink!.decoded !== null && event.uplink!.decoded !== undefined;
    return codecId && (!networkDecoded || overrides) ? codecId : undefined;
  }
}

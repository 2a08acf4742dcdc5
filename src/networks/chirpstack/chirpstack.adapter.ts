import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import type { NetworkAdapter } from '../network-adapter';
import { NetworkRegistry } from '../network-registry';
import { ChirpstackDownlinkSender } from './chirpstack-downlink.sender';
import { ChirpstackInstaller } from './chirpstack.installer';
import { ChirpstackProvisioner } from './chirpstack.provisioner';
import { DEFAULT_EVENT_TOPIC, eventTopicProblem } from './chirpstack-topic';

/** ChirpStack's MQTT integration, consumed instead of (or beside) the HTTP one. */
const mqttSettingsSchema = z
  .object({
    url: z.url({ protocol: /^(mqtts?|wss?)$/, error: 'must be an mqtt://, mqtts://, ws:// or wss:// URL' }),
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    /** ChirpStack's `[integration.mqtt] event_topic` template. */
    eventTopic: z
      .string()
      .min(1)
      .superRefine((template, ctx) => {
        const problem = eventTopicProblem(template);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .default(DEFAULT_EVENT_TOPIC),
  })
  .strict();

export const chirpstackSettingsSchema = z
  .object({
    /** The gRPC API (the web interface's port), `http://` plaintext or `https://` behind a TLS proxy. */
    apiUrl: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL (ChirpStack\'s gRPC API, e.g. http://chirpstack:8080)' }),
    /** An API key of the tenant; needed for provisioning, downlinks and install, not for ingest. */
    apiToken: z.string().min(1).optional(),
    applicationId: z.uuid('must be the application\'s id (a UUID)'),
    /** The device profile of the devices the bridge creates. */
    deviceProfileId: z.uuid('must be a device profile id (a UUID)').optional(),
    tenantId: z.uuid('must be a tenant id (a UUID)').optional(),
    mqtt: mqttSettingsSchema.optional(),
  })
  .strict();
export type ChirpstackSettings = z.infer<typeof chirpstackSettingsSchema>;

@Injectable()
export class ChirpstackAdapter implements NetworkAdapter {
  readonly network = 'chirpstack';
  readonly settingsSchema = chirpstackSettingsSchema;
  readonly secretSettings = ['apiToken', 'mqtt.password'] as const;
  readonly binaryIngest = true;
  readonly downlinks = new ChirpstackDownlinkSender();
  readonly provisioner = new ChirpstackProvisioner();
  readonly installer = new ChirpstackInstaller();

  constructor(registry: NetworkRegistry) {
    registry.register(this);
  }

  ingestPaths(connectionId: string) {
    return { integration: `/ingest/chirpstack/${connectionId}` };
  }

  /** The MQTT integration's subscription; its state is the connection's `stream`. */
  hasStream(settings: Record<string, unknown>): boolean {
    return settings.mqtt !== undefined;
  }
}

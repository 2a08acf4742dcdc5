import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import type { NetworkAdapter } from '../network-adapter';
import { NetworkRegistry } from '../network-registry';
import { canonicalSigfoxId } from './sigfox-device-id';
import { SigfoxDownlinkSender } from './sigfox-downlink.sender';
import { SigfoxInstaller } from './sigfox.installer';
import { SigfoxProvisioner } from './sigfox.provisioner';
import { PayloadConfigError, parsePayloadConfig } from './payload-config';

/** A payload config is checked when it is set, never at decode time (400 with the error's position). */
export const payloadConfigSchema = z.string().superRefine((config, ctx) => {
  try {
    parsePayloadConfig(config);
  } catch (error) {
    if (!(error instanceof PayloadConfigError)) throw error;
    ctx.addIssue({ code: 'custom', message: `invalid at position ${error.position}: ${error.message}` });
  }
});

export const sigfoxSettingsSchema = z
  .object({
    baseUrl: z.url().default('https://api.sigfox.com'),
    login: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    deviceTypeId: z.string().min(1).optional(),
    payloadConfig: payloadConfigSchema.optional(),
  })
  .strict();

@Injectable()
export class SigfoxAdapter implements NetworkAdapter {
  readonly network = 'sigfox' as const;
  readonly settingsSchema = sigfoxSettingsSchema;
  readonly secretSettings = ['password'] as const;
  readonly downlinks = new SigfoxDownlinkSender();
  readonly provisioner = new SigfoxProvisioner(payloadConfigSchema);
  readonly installer = new SigfoxInstaller();

  constructor(registry: NetworkRegistry) {
    registry.register(this);
  }

  canonicalExternalId(externalId: string): string {
    return canonicalSigfoxId(externalId);
  }

  ingestPaths(connectionId: string) {
    const base = `/ingest/sigfox/${connectionId}`;
    return { data: `${base}/data`, service: `${base}/service`, error: `${base}/error` };
  }
}

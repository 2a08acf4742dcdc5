import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import type { NetworkAdapter } from '../network-adapter';
import { NetworkRegistry } from '../network-registry';
import { TtsDownlinkSender } from './tts-downlink.sender';
import { TtsInstaller } from './tts.installer';
import { TtsProvisioner } from './tts.provisioner';

export const ttsSettingsSchema = z
  .object({
    baseUrl: z.url(),
    applicationId: z.string().regex(/^[a-z0-9](?:[-]?[a-z0-9]){2,35}$/, 'must be a TTS application id'),
    apiKey: z.string().min(1).optional(),
    /** Consume `POST /api/v3/events` for this application (needs apiKey). */
    stream: z.boolean().default(false),
    frequencyPlanId: z.string().min(1).optional(),
    lorawanVersion: z.string().regex(/^MAC_V\d/, 'must look like MAC_V1_0_3').optional(),
    lorawanPhyVersion: z.string().regex(/^(PHY_V|TS\d)/, 'must look like PHY_V1_0_3_REV_A').optional(),
    /** Server addresses written into registered devices; by default the host of baseUrl. */
    identityServerAddress: z.string().min(1).optional(),
    joinServerAddress: z.string().min(1).optional(),
    networkServerAddress: z.string().min(1).optional(),
    applicationServerAddress: z.string().min(1).optional(),
  })
  .strict()
  .refine((s) => !s.stream || s.apiKey, { path: ['apiKey'], message: 'is required when stream is true' });

@Injectable()
export class TtsAdapter implements NetworkAdapter {
  readonly network = 'tts' as const;
  readonly settingsSchema = ttsSettingsSchema;
  readonly secretSettings = ['apiKey'] as const;
  readonly downlinks = new TtsDownlinkSender();
  readonly provisioner = new TtsProvisioner();
  readonly installer = new TtsInstaller();

  constructor(registry: NetworkRegistry) {
    registry.register(this);
  }

  ingestPaths(connectionId: string) {
    return { webhook: `/ingest/tts/${connectionId}` };
  }

  /** Shown for every TTS connection: `stopped` says that stream is off. */
  hasStream(): boolean {
    return true;
  }
}

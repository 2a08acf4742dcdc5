import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import type { NetworkAdapter } from '../network-adapter';
import { NetworkRegistry } from '../network-registry';
import { HeliumDownlinkSender } from './helium-downlink.sender';
import { HeliumInstaller } from './helium.installer';
import { HeliumProvisioner } from './helium.provisioner';

export const heliumSettingsSchema = z
  .object({
    baseUrl: z.url().default('https://console.helium.com'),
    /** Console API key; needed for provisioning and install, not for ingest. */
    apiKey: z.string().min(1).optional(),
    labelIds: z.array(z.string().min(1)).max(100).optional(),
  })
  .strict();

@Injectable()
export class HeliumAdapter implements NetworkAdapter {
  readonly network = 'helium' as const;
  readonly settingsSchema = heliumSettingsSchema;
  readonly secretSettings = ['apiKey'] as const;
  readonly downlinks = new HeliumDownlinkSender();
  readonly provisioner = new HeliumProvisioner();
  readonly installer = new HeliumInstaller();

  constructor(registry: NetworkRegistry) {
    registry.register(this);
  }

  ingestPaths(connectionId: string) {
    return { uplink: `/ingest/helium/${connectionId}` };
  }
}

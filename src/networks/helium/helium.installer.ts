import { NetworkError } from '../http-client';
import type { InstalledItem, InstallResult, InstallTarget, NetworkInstaller } from '../network-installer';
import { HeliumApiClient } from './helium-api.client';

interface HeliumConnectionSettings {
  baseUrl: string;
  apiKey?: string;
  labelIds?: string[];
}

/** The bridge finds its own integration by this name (Console names are unique in an organization). */
export function heliumIntegrationName(connectionId: string): string {
  return `lpwan-bridge ${connectionId}`;
}

/**
 * Helium Console (reference 000): one custom HTTP integration posting to the connection's ingest
 * URL with the token in the `x-bridge-token` header, and a flow from each of `settings.labelIds`.
 */
export class HeliumInstaller implements NetworkInstaller {
  missingSettings(settings: Record<string, unknown>): string | null {
    return settings.apiKey ? null : 'settings.apiKey (a Console API key) is required to install the integration';
  }

  async install(settings: Record<string, unknown>, target: InstallTarget): Promise<InstallResult> {
    const { client, labelIds } = this.open(settings);
    const name = heliumIntegrationName(target.connectionId);
    // Console's API cannot edit an integration (reference 000): an earlier one, with an older token, is replaced.
    const existing = await client.findIntegration(name);
    if (existing) await client.deleteIntegration(existing.id);
    const url = target.ingestUrls.uplink;
    const integration = await client.createHttpIntegration({ name, endpoint: url, method: 'post', headers: { 'x-bridge-token': target.ingestToken } });
    let flows: InstalledItem[];
    try {
      for (const labelId of labelIds) await client.createLabelFlow(integration.id, labelId);
      // The create answer does not reliably carry the flow's id (reference 000); the listing does.
      flows = (await client.listFlows(integration.id)).map(flowItem);
    } catch (error) {
      await client.deleteIntegration(integration.id).catch(() => undefined);
      throw error;
    }
    return {
      installed: [{ kind: 'integration', id: integration.id, url, detail: name }, ...flows],
      ...(labelIds.length === 0 ? { note: 'settings.labelIds is empty: add a flow in Console from the labels or devices to bridge to this integration' } : {}),
    };
  }

  async uninstall(settings: Record<string, unknown>, target: Omit<InstallTarget, 'ingestToken'>): Promise<InstalledItem[]> {
    const { client } = this.open(settings);
    const name = heliumIntegrationName(target.connectionId);
    const existing = await client.findIntegration(name);
    if (!existing) return [];
    const flows = (await client.listFlows(existing.id)).map(flowItem);
    await client.deleteIntegration(existing.id);
    return [{ kind: 'integration', id: existing.id, url: target.ingestUrls.uplink, detail: name }, ...flows];
  }

  private open(settings: Record<string, unknown>) {
    const { baseUrl, apiKey, labelIds } = settings as unknown as HeliumConnectionSettings;
    if (!apiKey) throw new NetworkError(400, this.missingSettings(settings) as string);
    return { client: new HeliumApiClient(baseUrl, apiKey), labelIds: [...new Set(labelIds ?? [])] };
  }
}

function flowItem(flow: { id: string; label_id: string | null; device_id: string | null }): InstalledItem {
  return { kind: 'flow', id: flow.id, detail: flow.label_id ? `from label ${flow.label_id}` : `from device ${flow.device_id}` };
}

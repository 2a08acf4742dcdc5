import * as pb from '@chirpstack/chirpstack-api/api/application_pb';
import { NetworkError } from '../http-client';
import type { InstalledItem, InstallResult, InstallTarget, NetworkInstaller } from '../network-installer';
import { ChirpstackApiClient, ChirpstackApiError, ChirpstackApiSettings, chirpstackClient } from './chirpstack-api.client';

/**
 * The application's HTTP integration (reference §2). An application has only one, and its
 * `event_endpoint_url` is a comma-separated list: an existing integration keeps its endpoints,
 * headers and encoding and gets the bridge's URL added (the token in `?token=`, since its headers
 * go to every endpoint). Uninstall takes the bridge's URL out again, and removes the integration
 * when nothing else is left in it.
 */
export class ChirpstackInstaller implements NetworkInstaller {
  missingSettings(settings: Record<string, unknown>): string | null {
    return settings.apiToken ? null : 'settings.apiToken (a ChirpStack API key of the tenant) is required to install the HTTP integration';
  }

  async install(settings: Record<string, unknown>, target: InstallTarget): Promise<InstallResult> {
    const { client, applicationId } = this.open(settings);
    const url = target.ingestUrls.integration;
    const existing = await this.get(client, applicationId);
    const bridgeUrl = `${url}?token=${encodeURIComponent(target.ingestToken)}`;
    if (!existing) {
      const integration = new pb.HttpIntegration();
      integration.setApplicationId(applicationId);
      integration.setEncoding(pb.Encoding.JSON);
      integration.setEventEndpointUrl(bridgeUrl);
      const request = new pb.CreateHttpIntegrationRequest();
      request.setIntegration(integration);
      await client.call(client.applications, client.applications.createHttpIntegration, 'ApplicationService/CreateHttpIntegration', request);
      return { installed: [{ kind: 'http-integration', id: applicationId, url, detail: 'created, JSON encoding' }] };
    }
    // An earlier install's URL (with an older token) is replaced, not kept beside the new one.
    const others = endpoints(existing).filter((endpoint) => !isBridgeEndpoint(endpoint, url));
    existing.setEventEndpointUrl([...others, bridgeUrl].join(','));
    await this.update(client, existing);
    return {
      installed: [{ kind: 'http-integration', id: applicationId, url, detail: others.length ? `extended: ${others.length} other endpoint(s) kept` : 'updated' }],
      ...(existing.getEncoding() === pb.Encoding.PROTOBUF ? { note: 'the integration sends Protobuf: the bridge reads it as well as JSON' } : {}),
    };
  }

  async uninstall(settings: Record<string, unknown>, target: Omit<InstallTarget, 'ingestToken'>): Promise<InstalledItem[]> {
    const { client, applicationId } = this.open(settings);
    const url = target.ingestUrls.integration;
    const existing = await this.get(client, applicationId);
    if (!existing || !endpoints(existing).some((endpoint) => isBridgeEndpoint(endpoint, url))) return [];
    const others = endpoints(existing).filter((endpoint) => !isBridgeEndpoint(endpoint, url));
    if (others.length === 0) {
      const request = new pb.DeleteHttpIntegrationRequest();
      request.setApplicationId(applicationId);
      await client.call(client.applications, client.applications.deleteHttpIntegration, 'ApplicationService/DeleteHttpIntegration', request).catch((error: unknown) => {
        if (!(error instanceof ChirpstackApiError && error.isNotFound)) throw error;
      });
      return [{ kind: 'http-integration', id: applicationId, url, detail: 'removed' }];
    }
    existing.setEventEndpointUrl(others.join(','));
    await this.update(client, existing);
    return [{ kind: 'http-integration', id: applicationId, url, detail: `the bridge's endpoint removed, ${others.length} other endpoint(s) kept` }];
  }

  private async get(client: ChirpstackApiClient, applicationId: string): Promise<pb.HttpIntegration | null> {
    const request = new pb.GetHttpIntegrationRequest();
    request.setApplicationId(applicationId);
    try {
      const answer = await client.call(client.applications, client.applications.getHttpIntegration, 'ApplicationService/GetHttpIntegration', request);
      return answer.getIntegration() ?? null;
    } catch (error) {
      if (error instanceof ChirpstackApiError && error.isNotFound) return null;
      throw error;
    }
  }

  private async update(client: ChirpstackApiClient, integration: pb.HttpIntegration): Promise<void> {
    const request = new pb.UpdateHttpIntegrationRequest();
    request.setIntegration(integration);
    await client.call(client.applications, client.applications.updateHttpIntegration, 'ApplicationService/UpdateHttpIntegration', request);
  }

  private open(settings: Record<string, unknown>) {
    const connection = settings as unknown as ChirpstackApiSettings;
    if (!connection.apiToken) throw new NetworkError(400, this.missingSettings(settings) as string);
    return { client: chirpstackClient(connection, 'install the HTTP integration'), applicationId: connection.applicationId };
  }
}

/** ChirpStack splits the list on commas and trims each URL. */
function endpoints(integration: pb.HttpIntegration): string[] {
  return integration
    .getEventEndpointUrl()
    .split(',')
    .map((endpoint) => endpoint.trim())
    .filter(Boolean);
}

/** The bridge's endpoint is its ingest URL, whatever token its query holds. */
function isBridgeEndpoint(endpoint: string, ingestUrl: string): boolean {
  return endpoint === ingestUrl || endpoint.startsWith(`${ingestUrl}?`);
}

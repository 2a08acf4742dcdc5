import { BadGatewayException, BadRequestException, Injectable, NotFoundException, ServiceUnavailableException } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Settings } from '../config/settings';
import { NetworkError } from '../networks/http-client';
import type { InstalledItem } from '../networks/network-installer';
import { NetworkRegistry } from '../networks/network-registry';
import { connectionIdSchema } from './connection.schema';
import { ConnectionsService, newIngestToken } from './connections.service';

/**
 * `POST|DELETE /api/connections/{id}/install` (SPEC §2): the connection's network adapter makes the
 * network call the bridge. The bridge keeps only a hash of the ingest token, so install issues a
 * new token, gives it to the network and answers it, like rotate-token.
 */
@Injectable()
export class ConnectionInstallService {
  constructor(
    private readonly connections: ConnectionsService,
    private readonly networks: NetworkRegistry,
    private readonly config: ConfigService<Settings, true>,
  ) {}

  async install(id: string): Promise<{ network: string; installed: InstalledItem[]; ingestToken?: string; note?: string }> {
    const { connection, installer, ingestUrls } = await this.prepare(id, 'install');
    const ingestToken = newIngestToken();
    const result = await this.call(connection.network, 'install', () => installer.install(connection.settings, { connectionId: id, ingestUrls, ingestToken }));
    const answer = { network: connection.network, installed: result.installed, ...(result.note ? { note: result.note } : {}) };
    // Stored only once the network holds it: a failed install leaves the working token in place.
    if (result.installed.length === 0) return answer;
    await this.connections.rotateToken(id, ingestToken);
    return { ...answer, ingestToken };
  }

  async uninstall(id: string): Promise<{ network: string; removed: InstalledItem[] }> {
    const { connection, installer, ingestUrls } = await this.prepare(id, 'uninstall');
    const removed = await this.call(connection.network, 'uninstall', () => installer.uninstall(connection.settings, { connectionId: id, ingestUrls }));
    return { network: connection.network, removed };
  }

  private async prepare(id: string, operation: 'install' | 'uninstall') {
    const connection = connectionIdSchema.safeParse(id).success ? await this.connections.open(id) : null;
    if (!connection) throw new NotFoundException(`connection "${id}" not found`);
    const adapter = this.networks.get(connection.network);
    if (!adapter.installer) throw new BadRequestException(`the bridge cannot ${operation} ${connection.network} connections`);
    const missing = adapter.installer.missingSettings(connection.settings, operation);
    if (missing) throw new BadRequestException(`connection "${id}" cannot be ${operation}ed: ${missing}`);
    const publicUrl = this.config.get('PUBLIC_URL', { infer: true }).replace(/\/$/, '');
    const ingestUrls = Object.fromEntries(Object.entries(adapter.ingestPaths(id)).map(([purpose, path]) => [purpose, publicUrl + path]));
    return { connection, installer: adapter.installer, ingestUrls };
  }

  /** The network's refusal is a 502 with its message; no answer at all is a 503. Never a 500. */
  private async call<T>(network: string, operation: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      const message = `${operation} on ${network} failed: ${error.message}`;
      throw error.status === null ? new ServiceUnavailableException(message) : new BadGatewayException(message);
    }
  }
}

import { BadRequestException, Global, Injectable, Module, NotFoundException } from '@nestjs/common';
import type { Network } from '../events/normalized-event';
import type { NetworkAdapter } from './network-adapter';

/** Network modules register their adapter here when they start. */
@Injectable()
export class NetworkRegistry {
  private readonly adapters = new Map<Network, NetworkAdapter>();

  register(adapter: NetworkAdapter): void {
    this.adapters.set(adapter.network, adapter);
  }

  get(network: string): NetworkAdapter {
    const adapter = this.adapters.get(network as Network);
    if (!adapter) throw new NotFoundException(`unknown network "${network}"`);
    return adapter;
  }

  /** A device id as a user wrote it → the device's `externalId` on that network (upper case when the network is not known). */
  canonicalExternalId(network: Network | undefined, externalId: string): string {
    return (network && this.get(network).canonicalExternalId?.(externalId)) || externalId.toUpperCase();
  }

  /** A network named in a request (a filter, a webhook's networks): 400 when no module registered it. */
  requireKnown(networks: readonly string[] | string | undefined, field = 'network'): void {
    for (const network of [networks ?? []].flat()) {
      if (!this.has(network)) throw new BadRequestException(`${field}: unknown network "${network}" (one of ${this.networks().join(', ')})`);
    }
  }

  has(network: string): boolean {
    return this.adapters.has(network as Network);
  }

  networks(): Network[] {
    return [...this.adapters.keys()];
  }
}

@Global()
@Module({ providers: [NetworkRegistry], exports: [NetworkRegistry] })
export class NetworkRegistryModule {}

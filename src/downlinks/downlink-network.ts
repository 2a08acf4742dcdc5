import { BadRequestException, NotFoundException } from '@nestjs/common';
import { ConnectionsService, type OpenConnection } from '../connections/connections.service';
import { Device } from '../generated/prisma/client';
import { NetworkRegistry } from '../networks/network-registry';
import { DownlinkSender } from './downlink-sender';

/** The device's connection and its network's downlink rules; 404 / 400 when it has none. */
export async function networkOf(connections: ConnectionsService, networks: NetworkRegistry, device: Device): Promise<{ connection: OpenConnection; sender: DownlinkSender }> {
  const connection = await connections.open(device.connectionId);
  if (!connection) throw new NotFoundException(`connection "${device.connectionId}" not found`);
  const sender = networks.get(connection.network).downlinks;
  if (!sender) throw new BadRequestException(`${connection.network} devices take no downlinks`);
  return { connection, sender };
}

import { Injectable, Logger } from '@nestjs/common';
import { SecretBox } from '../common/secret-box';
import { PrismaService } from '../database/prisma.service';
import { Device } from '../generated/prisma/client';
import type { DeviceProvisioner, ProvisionedDevice } from '../networks/device-provisioner';
import { NetworkError } from '../networks/http-client';
import type { SyncJob } from './device-sync.queue';

export interface SyncAttempt {
  /** No attempt follows this one: a failure is final whatever its kind. */
  last: boolean;
}

/**
 * Runs one device operation against its network and records the outcome on the device:
 * `synced`, or `failed` with the network's message. A failure worth retrying is thrown back
 * to the queue (the device stays `pending` with the message) unless it was the last attempt.
 */
@Injectable()
export class DeviceSyncService {
  private readonly logger = new Logger(DeviceSyncService.name);

  constructor(
    private readonly prisma: PrismaService,
    private readonly secrets: SecretBox,
  ) {}

  async run(job: SyncJob, settings: Record<string, unknown>, provisioner: DeviceProvisioner, attempt: SyncAttempt): Promise<void> {
    if (job.op === 'delete') return this.delete(job, settings, provisioner, attempt);
    const row = await this.startAttempt(job.deviceId);
    // Deleted since: nothing to register (a registration already made is undone by its own job).
    if (!row) return;
    const device = provisionedDevice(row, this.secrets.open(row.secrets));
    try {
      if (!device.networkDeviceId && job.op === 'create') {
        const { networkDeviceId } = await provisioner.create(settings, device);
        const saved = await this.prisma.device.updateMany({
          where: { id: row.id },
          data: { networkDeviceId, syncState: 'synced', syncError: null },
        });
        // Deleted while it was being registered: its delete job had no network id to remove.
        if (saved.count === 0) await provisioner.delete(settings, { ...device, networkDeviceId });
        return;
      }
      // Not registered (its create failed): there is nothing to update in the network.
      if (!device.networkDeviceId) return;
      await provisioner.update(settings, device);
      await this.prisma.device.updateMany({ where: { id: row.id }, data: { syncState: 'synced', syncError: null } });
    } catch (error) {
      const failure = asNetworkError(error);
      const final = !failure.retryable || attempt.last;
      await this.prisma.device.updateMany({
        where: { id: row.id },
        data: { syncError: failure.message, ...(final ? { syncState: 'failed' } : {}) },
      });
      if (!final) throw failure;
      this.logger.warn(`${job.op} of device ${row.externalId} (${job.connectionId}) failed: ${failure.message}`);
    }
  }

  /** The device's row is gone: the job carries what the network needs, and only the log can tell a failure. */
  private async delete(job: SyncJob, settings: Record<string, unknown>, provisioner: DeviceProvisioner, attempt: SyncAttempt): Promise<void> {
    if (!job.device) return;
    try {
      await provisioner.delete(settings, { ...job.device, secrets: {} });
    } catch (error) {
      const failure = asNetworkError(error);
      if (failure.retryable && !attempt.last) throw failure;
      this.logger.warn(`delete of device ${job.externalId} (${job.connectionId}) from the network failed: ${failure.message}`);
    }
  }

  private async startAttempt(deviceId: string): Promise<Device | null> {
    try {
      return await this.prisma.device.update({ where: { id: deviceId }, data: { syncAttempts: { increment: 1 } } });
    } catch (error) {
      if ((error as { code?: string }).code === 'P2025') return null;
      throw error;
    }
  }
}

/** A device row as the provisioners take it. */
export function provisionedDevice(row: Device, secrets: Record<string, unknown>): ProvisionedDevice {
  return {
    externalId: row.externalId,
    name: row.name,
    devEui: row.devEui,
    joinEui: row.joinEui,
    active: row.active,
    networkDeviceId: row.networkDeviceId,
    settings: row.settings as Record<string, unknown>,
    attributes: row.attributes as ProvisionedDevice['attributes'],
    secrets,
  };
}

/** Anything else that goes wrong (Postgres briefly away, a bug) is retried like a network outage. */
function asNetworkError(error: unknown): NetworkError {
  return error instanceof NetworkError ? error : new NetworkError(null, (error as Error).message ?? String(error));
}

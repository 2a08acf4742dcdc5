import { ServiceUnavailableException } from '@nestjs/common';
import type { SecretBox } from '../common/secret-box';
import type { Network } from '../events/normalized-event';
import type { ConnectionRecord } from './connection-snapshot';
import { joinSecrets } from './secret-settings';

/** A connection with its secrets opened, for the code that talks to the network. */
export interface OpenConnection {
  id: string;
  network: Network;
  name: string;
  settings: Record<string, unknown>;
  ingestTokenHash: string;
}

/**
 * A connection's secrets were sealed with another SECRETS_KEY (the key was changed since): what
 * needs them (a stream, downlinks, provisioning, install) fails with this 503; ingest goes on.
 */
export class SecretsUnreadableError extends ServiceUnavailableException {
  constructor(connectionId: string, reason: string) {
    super(
      `the secrets of connection "${connectionId}" cannot be opened with this SECRETS_KEY (${reason}): ` +
        `run with the SECRETS_KEY they were saved with, or set them again (PATCH /api/connections/${connectionId} with its secret settings)`,
    );
    this.name = 'SecretsUnreadableError';
  }
}

/** Throws SecretsUnreadableError when the secrets were sealed with another SECRETS_KEY. */
export function openConnection(row: ConnectionRecord, secrets: SecretBox): OpenConnection {
  let opened: Record<string, unknown>;
  try {
    opened = secrets.open(row.secrets);
  } catch (error) {
    throw new SecretsUnreadableError(row.id, (error as Error).message);
  }
  return { ...withoutSettings(row), settings: joinSecrets(row.settings as Record<string, unknown>, opened) };
}

/**
 * As openConnection, but secrets sealed with another SECRETS_KEY leave a connection whose secret
 * settings throw SecretsUnreadableError when read (`apiKey`; `mqtt` for `mqtt.password`); the
 * others (codec, payload config) stay readable.
 */
export function openConnectionLeniently(
  row: ConnectionRecord,
  secrets: SecretBox,
  secretKeys: readonly string[],
  onUnreadable: (error: SecretsUnreadableError) => void,
): OpenConnection {
  try {
    return openConnection(row, secrets);
  } catch (error) {
    if (!(error instanceof SecretsUnreadableError)) throw error;
    onUnreadable(error);
    const guarded = new Set(secretKeys.map((key) => key.split('.')[0]));
    const settings = new Proxy(row.settings as Record<string, unknown>, {
      get(target, key, receiver) {
        if (typeof key === 'string' && guarded.has(key)) throw error;
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    return { ...withoutSettings(row), settings };
  }
}

function withoutSettings(row: ConnectionRecord): Omit<OpenConnection, 'settings'> {
  return { id: row.id, network: row.network as Network, name: row.name, ingestTokenHash: row.ingestTokenHash };
}

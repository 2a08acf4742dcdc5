import { z } from 'zod';
import type { Network } from '../events/normalized-event';

/**
 * What a network module tells the rest of the bridge about itself. Everything that knows a
 * network's formats and API lives behind this, in `networks/<name>`.
 */
export interface NetworkAdapter {
  readonly network: Network;
  /** Connection settings as the API accepts them (secrets included). */
  readonly settingsSchema: z.ZodType<Record<string, unknown>>;
  /** Settings keys that are encrypted at rest and never returned. */
  readonly secretSettings: readonly string[];
  /** Ingest endpoints of a connection, relative to PUBLIC_URL, by purpose. */
  ingestPaths(connectionId: string): Record<string, string>;
}

/** Where a connection's events must be sent, and the token the network must present. */
export interface InstallTarget {
  connectionId: string;
  /** The connection's ingest URLs (PUBLIC_URL + its ingest paths), by purpose. */
  ingestUrls: Record<string, string>;
  ingestToken: string;
}

/** Something the bridge made in the network: an integration, a flow, a callback. */
export interface InstalledItem {
  kind: string;
  /** The network's id of it. */
  id: string;
  /** The bridge URL it sends to, when it sends. */
  url?: string;
  /** What it is in the network's terms (e.g. "DATA BIDIR", "from label …"). */
  detail?: string;
}

export interface InstallResult {
  /** Empty when the network needs nothing to reach the bridge; the token is then left as it is. */
  installed: InstalledItem[];
  /** Anything the user still has to know or do. */
  note?: string;
}

/**
 * Makes a network call the bridge (SPEC §2, install). Methods take the connection's opened settings
 * and throw NetworkError; everything network-specific stays behind this interface.
 */
export interface NetworkInstaller {
  /** What the connection lacks for this operation (a credential, a mode), or null. */
  missingSettings(settings: Record<string, unknown>, operation: 'install' | 'uninstall'): string | null;
  /**
   * Points the network at `target` with `target.ingestToken`. What an earlier install made is
   * replaced, not duplicated: the networks cannot change a stored token in place. On failure it
   * removes what this call made before throwing.
   */
  install(settings: Record<string, unknown>, target: InstallTarget): Promise<InstallResult>;
  /** Removes what install made; answers what it removed (nothing there is fine). */
  uninstall(settings: Record<string, unknown>, target: Omit<InstallTarget, 'ingestToken'>): Promise<InstalledItem[]>;
}

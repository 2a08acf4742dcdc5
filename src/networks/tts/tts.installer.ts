import type { InstalledItem, InstallResult, NetworkInstaller } from '../network-installer';

/**
 * The Things Stack: with `stream: true` the bridge reads the application's events itself, so there
 * is nothing to install. The bridge does not create TTS webhooks (its references do not document
 * the webhook API); without the stream the user adds one in TTS Console (README).
 */
export class TtsInstaller implements NetworkInstaller {
  missingSettings(settings: Record<string, unknown>, operation: 'install' | 'uninstall'): string | null {
    if (operation === 'uninstall' || settings.stream === true) return null;
    return "the bridge does not create TTS webhooks: set settings.stream to true (the bridge then reads the application's events itself and nothing needs installing), or add a custom webhook in TTS Console to ingestUrls.webhook as the README shows";
  }

  async install(): Promise<InstallResult> {
    return { installed: [], note: "stream is on: the bridge reads the application's events from TTS itself, nothing to install" };
  }

  async uninstall(): Promise<InstalledItem[]> {
    return [];
  }
}

import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { Settings } from '../config/settings';

/**
 * AES-256-GCM for the secrets kept in Postgres: network credentials, device keys, webhook signing
 * secrets. Sealed with SECRETS_KEY; opened with it or with one of SECRETS_KEY_PREVIOUS, so that a
 * change of key loses nothing (SecretsResealer seals the rest again with the new one).
 */
@Injectable()
export class SecretBox {
  /** SECRETS_KEY first, then the earlier ones. */
  private readonly keys: Buffer[];

  constructor(config: ConfigService<Settings, true>) {
    this.keys = [config.get('SECRETS_KEY', { infer: true }), ...config.get('SECRETS_KEY_PREVIOUS', { infer: true })];
  }

  /** Whether earlier keys were given: only then can anything need sealing again. */
  get hasPreviousKeys(): boolean {
    return this.keys.length > 1;
  }

  /** `v1.<iv>.<tag>.<ciphertext>`, base64url parts; the version leaves room for another envelope. */
  seal(value: Record<string, unknown>): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys[0], iv);
    const ciphertext = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return ['v1', iv, cipher.getAuthTag(), ciphertext].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
  }

  open(sealed: string | null): Record<string, unknown> {
    return this.openWithKey(sealed).value;
  }

  /** The value, and whether it was sealed with an earlier key (`stale`): then it should be sealed again. */
  openWithKey(sealed: string | null): { value: Record<string, unknown>; stale: boolean } {
    if (!sealed) return { value: {}, stale: false };
    const [version, iv, tag, ciphertext] = sealed.split('.');
    if (version !== 'v1') throw new Error('unknown secret envelope version');
    let failure: unknown;
    for (const [index, key] of this.keys.entries()) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        const plain = Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]);
        return { value: JSON.parse(plain.toString('utf8')) as Record<string, unknown>, stale: index > 0 };
      } catch (error) {
        // GCM's tag check fails for any other key: the next one may be the right one.
        failure ??= error;
      }
    }
    throw failure;
  }
}

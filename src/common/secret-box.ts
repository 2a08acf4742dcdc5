import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { Settings } from '../config/settings';

/** AES-256-GCM for the secrets kept in Postgres: network credentials and device keys. */
@Injectable()
export class SecretBox {
  private readonly key: Buffer;

  constructor(config: ConfigService<Settings, true>) {
    this.key = config.get('SECRETS_KEY', { infer: true });
  }

  /** `v1.<iv>.<tag>.<ciphertext>`, base64url parts; the version leaves room for key rotation. */
  seal(value: Record<string, unknown>): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const ciphertext = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return ['v1', iv, cipher.getAuthTag(), ciphertext].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
  }

  open(sealed: string | null): Record<string, unknown> {
    if (!sealed) return {};
    const [version, iv, tag, ciphertext] = sealed.split('.');
    if (version !== 'v1') throw new Error('unknown secret envelope version');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    const plain = Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]);
    return JSON.parse(plain.toString('utf8')) as Record<string, unknown>;
  }
}

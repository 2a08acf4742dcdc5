import { createHmac, randomBytes } from 'node:crypto';

const SECRET_PREFIX = 'whsec_';

/** `whsec_` + base64 of 24 random bytes, the Standard Webhooks secret format. */
export function newWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(24).toString('base64');
}

/** What is sealed in a webhook's `secret` column: the secret, and the one it replaced while that still signs. */
export interface WebhookSecrets {
  secret: string;
  previous?: { secret: string; until: string };
}

/** The secrets a delivery is signed with now: the current one, and the previous one during its overlap. */
export function signingSecrets(sealed: WebhookSecrets, now = new Date()): string[] {
  const previous = sealed.previous && Date.parse(sealed.previous.until) > now.getTime() ? [sealed.previous.secret] : [];
  return [sealed.secret, ...previous];
}

/**
 * The Standard Webhooks headers for one attempt: the HMAC-SHA256 key is the base64-decoded part
 * of each secret after `whsec_`, the signed content is `{id}.{timestamp}.{body}`, and several
 * signatures are space-separated, so receivers holding either secret accept the delivery.
 */
export function signatureHeaders(secrets: string[], messageId: string, body: string, now = new Date()): Record<string, string> {
  const timestamp = Math.floor(now.getTime() / 1000).toString();
  const signatures = secrets.map((secret) => {
    const key = Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
    return `v1,${createHmac('sha256', key).update(`${messageId}.${timestamp}.${body}`).digest('base64')}`;
  });
  return { 'webhook-id': messageId, 'webhook-timestamp': timestamp, 'webhook-signature': signatures.join(' ') };
}

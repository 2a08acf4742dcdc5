import { isPrivateAddress, isPrivateLiteralHost } from '../../src/fanout/webhooks/webhook-http';
import { newWebhookSecret, signatureHeaders, signingSecrets } from '../../src/fanout/webhooks/webhook-signature';
import { retryDelayMs } from '../../src/fanout/webhooks/webhook-worker.service';

describe('webhook signing', () => {
  it('reproduces the Standard Webhooks specification test vector', () => {
    const headers = signatureHeaders(['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'], 'msg_p5jXN8AQM9LWM0D4loKWxJek', '{"test": 2432232314}', new Date(1614265330_000));
    expect(headers).toEqual({
      'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      'webhook-timestamp': '1614265330',
      'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    });
  });

  it('puts one signature per secret, space-separated', () => {
    const headers = signatureHeaders(['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', newWebhookSecret()], 'msg_p5jXN8AQM9LWM0D4loKWxJek', '{"test": 2432232314}', new Date(1614265330_000));
    const [first, second] = headers['webhook-signature'].split(' ');
    expect(first).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
    expect(second).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
  });

  it('signs with a rotated-out secret only until its overlap ends', () => {
    const sealed = { secret: 'whsec_new', previous: { secret: 'whsec_old', until: '2026-01-02T00:00:00Z' } };
    expect(signingSecrets(sealed, new Date('2026-01-01T23:59:59Z'))).toEqual(['whsec_new', 'whsec_old']);
    expect(signingSecrets(sealed, new Date('2026-01-02T00:00:00Z'))).toEqual(['whsec_new']);
    expect(signingSecrets({ secret: 'whsec_only' })).toEqual(['whsec_only']);
  });

  it('makes whsec_ secrets of 24 random bytes', () => {
    const secret = newWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(24);
    expect(newWebhookSecret()).not.toBe(secret);
  });
});

describe('webhook retry schedule', () => {
  it('doubles from the base up to one hour, with ±20 % jitter', () => {
    const base = 30_000;
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 40].map((n) => retryDelayMs(n, base, 0.5))).toEqual([
      30_000, 60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000, 3_600_000, 3_600_000, 3_600_000,
    ]);
    expect(retryDelayMs(1, base, 0)).toBe(24_000);
    expect(retryDelayMs(1, base, 1)).toBe(36_000);
  });
});

describe('webhook address policy', () => {
  it.each([
    ['127.0.0.1', true],
    ['10.20.30.40', true],
    ['172.16.0.1', true],
    ['172.31.255.255', true],
    ['192.168.1.1', true],
    ['169.254.169.254', true],
    ['100.64.0.1', true],
    ['0.0.0.0', true],
    ['::1', true],
    ['::', true],
    ['fd00::1', true],
    ['fe80::1', true],
    ['::ffff:127.0.0.1', true],
    ['::ffff:a01:203', true],
    ['8.8.8.8', false],
    ['172.32.0.1', false],
    ['2001:4860:4860::8888', false],
    ['::ffff:8.8.8.8', false],
  ])('%s private: %s', (address, expected) => {
    expect(isPrivateAddress(address)).toBe(expected);
  });

  it.each([
    ['http://localhost:3000/hook', true],
    ['http://api.localhost/hook', true],
    ['http://[::1]/hook', true],
    ['http://127.1/hook', true],
    ['http://2130706433/hook', true],
    ['https://example.com/hook', false],
    ['https://93.184.216.34/hook', false],
  ])('%s is refused without DNS: %s', (url, expected) => {
    expect(isPrivateLiteralHost(new URL(url))).toBe(expected);
  });
});

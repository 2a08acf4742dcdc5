import { lookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { storableText } from '../../common/storable-text';

/**
 * Addresses a webhook must not reach unless WEBHOOK_ALLOW_PRIVATE: whoever can create a webhook
 * could otherwise make the bridge POST into its own network (SSRF). BlockList also matches
 * IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) against the IPv4 ranges.
 */
const PRIVATE_RANGES = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this" network
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata services
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  PRIVATE_RANGES.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const) {
  PRIVATE_RANGES.addSubnet(network, prefix, 'ipv6');
}

export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) throw new Error(`not an IP address: ${address}`);
  return PRIVATE_RANGES.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** The URL's host when it is an IP literal or `localhost`, checked without DNS (at create time). */
export function isPrivateLiteralHost(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  return isIP(host) !== 0 && isPrivateAddress(host);
}

export class BlockedAddressError extends Error {}

/**
 * Resolves like dns.lookup but keeps only public addresses. Used as the socket's own lookup, so
 * the address checked is the address connected to (no DNS-rebinding window between the two).
 */
const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  lookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
    if (error) return callback(error, []);
    const allowed = addresses.filter((a) => !isPrivateAddress(a.address));
    if (allowed.length === 0) {
      const found = addresses.map((a) => a.address).join(', ');
      return callback(new BlockedAddressError(`${hostname} resolves only to private addresses (${found}); set WEBHOOK_ALLOW_PRIVATE=true to allow`), []);
    }
    if (options.all) callback(null, allowed);
    else callback(null, allowed[0].address, allowed[0].family);
  });
};

export interface PostResult {
  statusCode: number;
  /** The start of the response body, kept for the delivery log. */
  bodyStart: string;
}

const BODY_START_BYTES = 200;

/** One POST, no redirects followed (a 3xx is a failed attempt like any non-2xx). */
export function postJson(url: string, body: string, headers: Record<string, string>, options: { allowPrivate: boolean; timeoutMs: number }): Promise<PostResult> {
  const target = new URL(url);
  if (!options.allowPrivate && isPrivateLiteralHost(target)) {
    return Promise.reject(new BlockedAddressError(`${target.hostname} is a private address; set WEBHOOK_ALLOW_PRIVATE=true to allow`));
  }
  const client = target.protocol === 'https:' ? https : http;
  const signal = AbortSignal.timeout(options.timeoutMs);
  return new Promise((resolve, reject) => {
    const request = client.request(
      target,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': Buffer.byteLength(body).toString() },
        signal,
        lookup: options.allowPrivate ? undefined : publicOnlyLookup,
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          if (size < BODY_START_BYTES) chunks.push(chunk);
          size += chunk.length;
        });
        // The status decides the outcome; a body cut short or aborted does not change it.
        response.on('close', () =>
          resolve({ statusCode: response.statusCode ?? 0, bodyStart: storableText(Buffer.concat(chunks).subarray(0, BODY_START_BYTES).toString('utf8')) }),
        );
        response.on('error', () => undefined);
      },
    );
    request.on('error', (error) => reject(signal.aborted ? new Error(`no response within ${options.timeoutMs / 1000} s`) : error));
    request.end(body);
  });
}

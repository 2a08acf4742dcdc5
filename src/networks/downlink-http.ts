import { DownlinkRejected } from '../downlinks/downlink-sender';

/** Per attempt: a network that does not answer in time is retried by the downlinks queue. */
const REQUEST_TIMEOUT_MS = 10_000;
const USER_AGENT = 'lpwan-bridge';
/** Error texts are stored and published: a network's HTML error page is cut short. */
const MAX_ERROR_LENGTH = 500;

/**
 * POSTs a downlink to a network. 2xx resolves; a 4xx other than 408/429 is the network refusing
 * this downlink (DownlinkRejected, not retried); 5xx, 408, 429 and network errors throw a plain
 * Error, which the queue retries. `errorText` reads the network's own error body. Messages never
 * carry the URL: Helium's downlink URL holds a secret key.
 */
export async function postDownlink(
  network: string,
  url: string,
  body: unknown,
  headers: Record<string, string>,
  errorText: (body: string) => string | null,
): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', 'user-agent': USER_AGENT, ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const reason = (error as Error).name === 'TimeoutError' ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : (cause?.code ?? cause?.message ?? (error as Error).message);
    throw new Error(`${network} unreachable: ${reason}`);
  }
  const text = await response.text().catch(() => '');
  if (response.ok) return;
  const message = `${network} answered ${response.status}: ${(errorText(text) ?? text).slice(0, MAX_ERROR_LENGTH) || response.statusText}`;
  const retryable = response.status >= 500 || response.status === 408 || response.status === 429;
  throw retryable ? new Error(message) : new DownlinkRejected(message);
}

/** The `message` of a JSON error body (`{"message"}` or `{"error": {"message"}}`), else null. */
export function jsonErrorMessage(body: string): string | null {
  try {
    const parsed = JSON.parse(body) as { message?: unknown; error?: { message?: unknown } };
    const message = parsed.message ?? parsed.error?.message;
    return typeof message === 'string' ? message : null;
  } catch {
    return null;
  }
}

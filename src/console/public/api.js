// The API as the console uses it: the key kept for this tab only, JSON in and out.
const KEY = 'lpwan-bridge.apiKey';

export const apiKey = {
  get: () => sessionStorage.getItem(KEY),
  set: (key) => sessionStorage.setItem(KEY, key),
  clear: () => sessionStorage.removeItem(KEY),
};

/** The bridge answered with an error (its JSON message). */
export class ApiError extends Error {}

/** The key was refused (401): the console asks for it again. */
export class Unauthorized extends ApiError {}

const authorization = () => ({ authorization: `Bearer ${apiKey.get()}` });

async function failure(response) {
  if (response.status === 401) return new Unauthorized('the API key was refused');
  const text = await response.text();
  try {
    return new ApiError(JSON.parse(text).message ?? `HTTP ${response.status}`);
  } catch {
    return new ApiError(`HTTP ${response.status}`);
  }
}

/** Paths are relative, so the console works behind a proxy that serves it under a prefix. */
export async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { ...authorization(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw await failure(response);
  return response.status === 204 ? null : response.json();
}

/** Every page of a list (`{ data, nextCursor }`), up to `max` items. */
export async function listAll(path, max = 1000) {
  const items = [];
  let cursor = null;
  do {
    const separator = path.includes('?') ? '&' : '?';
    const page = await api('GET', `${path}${separator}limit=${Math.min(max, 1000)}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    items.push(...page.data);
    cursor = page.nextCursor;
  } while (cursor && items.length < max);
  return items;
}

/**
 * Reads `GET api/events/live` (EventSource cannot send the key) and calls `onEvent` with each
 * event; resolves when the stream ends, rejects with ApiError when refused, TypeError when cut off.
 */
export async function readLive(query, signal, onEvent, onOpen) {
  const response = await fetch(`api/events/live${query}`, { headers: authorization(), signal });
  if (!response.ok) throw await failure(response);
  onOpen();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buffered += value;
    let end;
    while ((end = buffered.indexOf('\n\n')) >= 0) {
      const frame = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const data = frame
        .split('\n')
        .filter((line) => line.startsWith('data: '))
        .map((line) => line.slice(6))
        .join('\n');
      if (data) onEvent(JSON.parse(data));
    }
  }
}

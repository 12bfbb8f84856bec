/**
 * One POST to an application's endpoint (its auth route for `auth:test`, its webhook endpoint for
 * `webhook:send`): the URL checked before anything is sent, a time limit, the user's stop signal, and
 * network failures as DeliveryErrors that say what happened.
 */
import { DEFAULTS } from '../config/defaults.js';
import { deadline } from '../core/deadline.js';
import { DeliveryError, describeFetchError, UsageError } from '../core/errors.js';

/** An absolute http(s) URL, or a UsageError naming `what`. */
export function parseHttpUrl(value: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${what} must be an absolute URL, not ${JSON.stringify(value.slice(0, 100))}`, { hint: 'e.g. http://localhost:3000/broadcasting/authorize' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${what} must be an http:// or https:// URL, not ${url.protocol}`);
  return url;
}

export interface PostAnswer {
  status: number;
  contentType: string;
  text: string;
}

/** POSTs `body` and reads the answer; rejects with a DeliveryError when there is none within `timeoutMs`. */
export async function post(
  url: URL,
  request: { headers: Record<string, string>; body: string; timeoutMs?: number; signal?: AbortSignal },
): Promise<PostAnswer> {
  const timeoutMs = request.timeoutMs ?? DEFAULTS.timeoutMs;
  const limit = deadline(timeoutMs, request.signal);
  try {
    const response = await fetch(url, { method: 'POST', headers: request.headers, body: request.body, redirect: 'manual', signal: limit.signal });
    return { status: response.status, contentType: response.headers.get('content-type') ?? '', text: await response.text() };
  } catch (error) {
    if (request.signal?.aborted) throw error;
    throw new DeliveryError(`Could not POST to ${url.origin}${url.pathname}: ${describeFetchError(error, timeoutMs)}`, { hint: 'Is the application running, and is the URL right?' });
  } finally {
    limit.clear();
  }
}

/** The start of an answer's body, for messages. */
export function snippet(text: string, max = 200): string {
  const trimmed = text.trim().replace(/\s+/g, ' ');
  return trimmed.length > max ? `${trimmed.slice(0, max)}…` : trimmed;
}

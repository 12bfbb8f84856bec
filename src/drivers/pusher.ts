/**
 * The `pusher` driver: the official `pusher` library over a keep-alive agent, with a time limit on every
 * request and retries for requests that surely did not reach the server and for answers that ask to try
 * again (429, 503).
 *
 * Retry policy (see docs/readme/reliability.md):
 * - retried: connection refused, host not found, no connection within the connect timeout, a reset before
 *   the connection was established, HTTP 429 and 503 (after `Retry-After` when the server sends one);
 * - not retried: any other 4xx/5xx answer, and a request whose answer was lost after the connection was
 *   established (reset, closed, or no answer within the time limit): the server may have accepted it, so a
 *   retry could deliver the event twice. Such errors carry `details.maybeDelivered: true`.
 * - `timeout` bounds the whole call, retries and waits included, so no call outlives it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type PusherClient from 'pusher';
import { connectionUrl, MAX_TIMEOUT_MS, type PusherConnection } from '../config.js';
import { DeliveryError } from '../errors.js';
import type { Driver } from './types.js';

const require = createRequire(import.meta.url);

/** Defaults of the retry policy. */
export const RETRY_POLICY = {
  /** Retries after the first attempt. */
  retries: 4,
  /** Time limit for one call, retries included (ms). */
  timeoutMs: 10_000,
  /** First backoff delay (ms); it doubles on each retry, up to `maxDelayMs`, with ±25% jitter. */
  baseDelayMs: 250,
  maxDelayMs: 2_000,
  /** A connection not established within a quarter of the timeout (at least this) is abandoned and retried. */
  minConnectTimeoutMs: 1_000,
  /** Idle keep-alive sockets are closed after this, well before servers close them (avoids reset races). */
  idleSocketMs: 4_000,
} as const;

/** Connection errors that prove the request never reached the server. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
/** Errors that, before the connection was established, also prove nothing was sent. */
const NOT_SENT_IF_UNCONNECTED = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED']);
/** Below this much time left, another attempt is not worth starting. */
const MIN_ATTEMPT_MS = 50;

export interface PusherDriverOptions {
  /** Called before each retry; for --verbose logging. */
  onRetry?: (info: { attempt: number; delayMs: number; error: DeliveryError }) => void;
  /** Called after each HTTP request; for --verbose logging. */
  onRequest?: (info: { method: string; path: string; status?: number; ms: number }) => void;
}

/** The delay before retry number `retry` (0 for the first retry): 250 ms doubling to 2 s, ±25% jitter. */
export function backoffDelay(retry: number, random: () => number = Math.random): number {
  const base = Math.min(RETRY_POLICY.maxDelayMs, RETRY_POLICY.baseDelayMs * 2 ** Math.min(retry, 30));
  return Math.round(base * (0.75 + random() * 0.5));
}

/**
 * Parses a `Retry-After` header (seconds, or an HTTP date) into milliseconds from `now`. Returns undefined
 * for a missing or unparsable value; never negative.
 */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  if (!/[a-z]/i.test(text)) return undefined; // an HTTP date names its day and month
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** What one attempt saw of its HTTP request, collected by the agent (found through AsyncLocalStorage). */
class Attempt {
  request?: http.ClientRequest;
  /** The TCP (and TLS) connection was established: from here on the server may have received the request. */
  connected = false;
  retryAfter?: string | string[];
  timedOut?: 'connect' | 'answer';
  /** The call's time limit, not this attempt's connect timeout, stopped it. */
  byDeadline = false;
  private connectTimer?: NodeJS.Timeout;

  /** `connectTimeoutMs` undefined: only the call's deadline limits the connection. */
  constructor(private readonly connectTimeoutMs?: number) {}

  attach(request: http.ClientRequest, tls: boolean): void {
    this.request = request;
    request.once('socket', (socket: Socket) => {
      const ready = () => {
        this.connected = true;
        clearTimeout(this.connectTimer);
      };
      if (request.reusedSocket || (!tls && !socket.connecting)) return ready();
      socket.once(tls ? 'secureConnect' : 'connect', ready);
      if (this.connectTimeoutMs !== undefined) this.connectTimer = setTimeout(() => this.abort('connect'), this.connectTimeoutMs);
    });
    request.once('response', (response: http.IncomingMessage) => {
      this.retryAfter = response.headers['retry-after'];
    });
  }

  /** Stops the request: `connect` before the connection was established, `answer` after. */
  abort(reason: 'connect' | 'answer'): void {
    this.timedOut ??= reason;
    clearTimeout(this.connectTimer);
    this.request?.destroy(Object.assign(new Error(`${reason} timeout`), { code: 'ETIMEDOUT' }));
  }

  done(): void {
    clearTimeout(this.connectTimer);
  }
}

export function createPusherDriver(connectionName: string, connection: PusherConnection, options: PusherDriverOptions = {}): Driver {
  const url = connectionUrl(connection);
  const tls = url.startsWith('https:');
  const attempts = new AsyncLocalStorage<Attempt>();
  const agent = new (tls ? https : http).Agent({ keepAlive: true, maxSockets: 64, timeout: RETRY_POLICY.idleSocketMs });
  // Every request of this driver passes through here: hand it to the attempt that made it.
  const addRequest = (agent as unknown as { addRequest: (req: http.ClientRequest, opts: unknown) => void }).addRequest;
  (agent as unknown as { addRequest: typeof addRequest }).addRequest = function (req, opts) {
    attempts.getStore()?.attach(req, tls);
    return addRequest.call(this, req, opts);
  };
  let client: PusherClient | undefined;

  const pusher = (): PusherClient => {
    if (!client) {
      const Pusher = require('pusher') as typeof PusherClient;
      client = new Pusher({
        appId: String(connection.appId),
        key: String(connection.key),
        secret: String(connection.secret),
        cluster: connection.cluster ?? 'mt1',
        host: new URL(url).hostname,
        port: String(new URL(url).port || (tls ? 443 : 80)),
        useTLS: tls,
        // 0: no timer in the pusher library, whose timer stops at the headers; this driver times whole attempts.
        timeout: 0,
        agent,
        encryptionMasterKeyBase64: connection.encryptionMasterKeyBase64,
      } as PusherClient.Options);
    }
    return client;
  };

  /** One HTTP request, stopped when `budgetMs` runs out. Resolves with the response text. */
  async function attemptOnce(attempt: Attempt, op: (p: PusherClient) => Promise<{ text(): Promise<string> }>, budgetMs: number): Promise<string> {
    const request = attempts.run(attempt, async () => (await op(pusher())).text());
    request.catch(() => {}); // it may settle after the deadline below has already decided
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        attempt.byDeadline = true;
        attempt.abort(attempt.connected ? 'answer' : 'connect');
        reject(new Error('deadline'));
      }, Math.max(1, budgetMs));
    });
    try {
      return await Promise.race([request, deadline]);
    } finally {
      clearTimeout(timer);
      attempt.done();
    }
  }

  /**
   * Runs one API call with retries and returns the parsed JSON body. Some servers (soketi 1.6) answer
   * errors with HTTP 200 and `{"error", "code"}` in the body, so the body is checked as well as the status.
   */
  async function send(method: string, path: string, op: (p: PusherClient) => Promise<{ text(): Promise<string> }>): Promise<unknown> {
    const timeoutMs = setting(connection.timeout, RETRY_POLICY.timeoutMs, 1, MAX_TIMEOUT_MS);
    const retries = setting(connection.retries, RETRY_POLICY.retries, 0, 100);
    const connectTimeoutMs = Math.max(RETRY_POLICY.minConnectTimeoutMs, Math.round(timeoutMs / 4));
    const started = performance.now();
    const deadline = started + timeoutMs;
    for (let n = 0; ; n++) {
      const attemptStarted = performance.now();
      const remaining = deadline - attemptStarted;
      // The connect timer only matters when it would fire before the call's own deadline.
      const attempt = new Attempt(connectTimeoutMs < remaining - MIN_ATTEMPT_MS ? connectTimeoutMs : undefined);
      let error: DeliveryError;
      try {
        const text = await attemptOnce(attempt, op, remaining);
        const body = parseBody(text);
        if (isErrorBody(body)) throw { status: body.code, body: text };
        options.onRequest?.({ method, path, status: 200, ms: performance.now() - attemptStarted });
        return body;
      } catch (raw) {
        error = classify(raw, attempt, { name: connectionName, url, timeoutMs, connectTimeoutMs });
        options.onRequest?.({ method, path, status: error.status, ms: performance.now() - attemptStarted });
      }
      const tried = `${n + 1} attempt${n === 0 ? '' : 's'} in ${((performance.now() - started) / 1000).toFixed(1)} s`;
      if (!error.retryable || n >= retries) throw n === 0 ? error : withNote(error, tried);
      let delayMs = backoffDelay(n);
      const asked = error.status === 429 || error.status === 503 ? parseRetryAfter(attempt.retryAfter) : undefined;
      if (asked !== undefined) delayMs = Math.max(delayMs, asked);
      if (performance.now() + delayMs > deadline - MIN_ATTEMPT_MS) {
        const why = asked !== undefined && asked >= delayMs
          ? `the server asked to wait ${(asked / 1000).toFixed(1)} s, beyond the ${timeoutMs} ms time limit`
          : `the next retry would not fit in the ${timeoutMs} ms time limit`;
        throw withNote(error, `${tried}; ${why}`, 'Raise the time limit with --timeout or the connection\'s timeout');
      }
      options.onRetry?.({ attempt: n + 1, delayMs, error });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }

  return {
    driver: 'pusher',
    delivers: true,
    async trigger({ channels, event, data, socketId }) {
      await send('POST', '/events', (p) => p.trigger(channels, event, data, socketId ? { socket_id: socketId } : undefined));
    },
    async triggerBatch(events) {
      // Built afresh for each attempt: the pusher library replaces `data` in place (encrypting it).
      const batch = () =>
        events.map((e) => ({
          channel: e.channel,
          name: e.event,
          data: e.data,
          ...(e.socketId ? { socket_id: e.socketId } : {}),
        }));
      await send('POST', '/batch_events', (p) => p.triggerBatch(batch() as PusherClient.BatchEvent[]));
    },
    async get<T>(path: string, params?: Record<string, string>): Promise<T> {
      return (await send('GET', path, (p) => p.get({ path, params }))) as T;
    },
    close() {
      agent.destroy();
    },
  };
}

/** A numeric setting as a whole number within bounds (config checks already reject others; flags may not). */
function setting(value: unknown, fallback: number, min: number, max: number): number {
  const n = Math.round(Number(value ?? fallback));
  return Number.isNaN(n) ? fallback : Math.min(max, Math.max(min, n));
}

function withNote(error: DeliveryError, note: string, hint?: string): DeliveryError {
  return new DeliveryError(`${error.message} (${note})`, {
    status: error.status,
    retryable: error.retryable,
    hint: error.hint ?? hint,
    details: error.details,
  });
}

function parseBody(text: string): unknown {
  try {
    return text ? JSON.parse(text) : {};
  } catch {
    return text;
  }
}

function isErrorBody(body: unknown): body is { error: unknown; code: number } {
  const b = body as { error?: unknown; code?: unknown } | null;
  return typeof b === 'object' && b !== null && b.error !== undefined && typeof b.code === 'number' && b.code >= 400;
}

interface PusherRequestError {
  message?: string;
  status?: number;
  body?: string;
  error?: { code?: string; type?: string; name?: string; message?: string };
}

interface ClassifyContext {
  name: string;
  url: string;
  timeoutMs: number;
  connectTimeoutMs: number;
}

/** Turns what one attempt saw into a DeliveryError that says whether a retry is safe. */
function classify(raw: unknown, attempt: Attempt, c: ClassifyContext): DeliveryError {
  if (raw instanceof DeliveryError) return raw;
  const serverHint = `Is the server running? Check the host and port of connection "${c.name}" (PUSHER_HOST, PUSHER_PORT, PUSHER_SCHEME)`;
  if (attempt.timedOut === 'connect') {
    // Nothing was sent, so a retry is safe; but once the call's time limit is reached there is no time left.
    return attempt.byDeadline
      ? new DeliveryError(`Could not connect to the server at ${c.url} within ${c.timeoutMs} ms`, { hint: serverHint })
      : new DeliveryError(`Could not connect to the server at ${c.url} within ${c.connectTimeoutMs} ms`, { retryable: true, hint: serverHint });
  }
  if (attempt.timedOut === 'answer') {
    return new DeliveryError(`No answer from ${c.url} within ${c.timeoutMs} ms`, {
      details: { maybeDelivered: true },
      hint: 'The request may have been delivered, so it was not retried. If the server is only slow, raise --timeout (or the connection\'s timeout)',
    });
  }
  const e = (raw ?? {}) as PusherRequestError;
  if (e.status === undefined) {
    const cause = e.error ?? {};
    const code = cause.code ?? '';
    if (code || cause.message) {
      const notSent = NOT_SENT.has(code) || (!attempt.connected && NOT_SENT_IF_UNCONNECTED.has(code));
      const reason = describeNetworkError(code, cause.message);
      if (notSent) return new DeliveryError(`Could not reach the server at ${c.url}: ${reason}`, { retryable: true, hint: serverHint });
      if (attempt.connected) {
        return new DeliveryError(`The connection to ${c.url} failed after the request was sent (${reason})`, {
          details: { maybeDelivered: true },
          hint: 'The server may have received the event, so it was not retried (a retry could deliver it twice)',
        });
      }
      return new DeliveryError(`Could not reach the server at ${c.url}: ${reason}`, { hint: serverHint });
    }
    return new DeliveryError(`Request to ${c.url} failed: ${stripUrls(e.message ?? String(raw))}`);
  }
  return statusError(e.status, e.body, c.name);
}

/** The DeliveryError for an HTTP error status (exported for tests). */
export function statusError(status: number, rawBody: string | undefined, name: string): DeliveryError {
  const body = serverMessage(rawBody);
  const suffix = body ? `: ${body}` : '';
  if (status === 401 || status === 403) {
    return new DeliveryError(`The server rejected the credentials (HTTP ${status})${suffix}`, {
      status,
      hint: `Check the app id, key and secret of connection "${name}" (PUSHER_APP_ID, PUSHER_APP_KEY, PUSHER_APP_SECRET)`,
    });
  }
  if (status === 404) {
    return new DeliveryError(`The server does not know this app or path (HTTP 404)${suffix}`, {
      status,
      hint: `Check the app id of connection "${name}" (PUSHER_APP_ID) and the host`,
    });
  }
  if (status === 413) {
    return new DeliveryError(`The payload is too large for the server (HTTP 413)${suffix}`, {
      status,
      hint: 'Send less data, or lower maxPayloadKb to the server\'s limit so it is caught before sending',
    });
  }
  if (status === 429 || status === 503) {
    return new DeliveryError(`The server asked to try again later (HTTP ${status})${suffix}`, { status, retryable: true });
  }
  if (status >= 500) {
    return new DeliveryError(`The server answered HTTP ${status}${suffix}`, {
      status,
      details: { maybeDelivered: true },
      hint: 'Not retried: the server (or a proxy in front of it) may have delivered the event before failing',
    });
  }
  return new DeliveryError(`The server answered HTTP ${status}${suffix}`, { status });
}

function describeNetworkError(code: string, message?: string): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ECONNRESET':
      return 'connection reset';
    case 'ETIMEDOUT':
      return 'connection timed out';
    default: {
      // node-fetch messages hold the signed request URL: keep only the reason.
      const reason = message?.match(/reason: (.*)$/s)?.[1] ?? message;
      return code || stripUrls(reason ?? 'network error');
    }
  }
}

function stripUrls(text: string): string {
  return text.replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, '<url>');
}

function serverMessage(body: string | undefined): string {
  if (!body) return '';
  let text = body.trim();
  try {
    const parsed = JSON.parse(text) as { error?: unknown; message?: unknown };
    text = String(parsed.error ?? parsed.message ?? text);
  } catch {
    // plain text body
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

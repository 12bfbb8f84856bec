/**
 * The `pusher` driver: Pusher's HTTP API over `node:http`/`node:https` with a keep-alive agent, a time limit
 * on every call, and retries for requests that surely did not reach the server and for answers that ask to
 * try again (429, 503). It builds and signs the requests itself (`signApiRequest`, checked against Pusher's
 * published example and the official client). Events for `private-encrypted-` channels are built by the
 * official `pusher` library, which encrypts their data; it is loaded only when a master key is configured.
 *
 * Retry policy (see "Reliability" in README.md):
 * - retried: connection refused, host not found, no connection within the connect timeout, a reset before
 *   the connection was established, HTTP 429 and 503 (after `Retry-After` when the server sends one);
 * - not retried: any other 4xx/5xx answer, and a request whose answer was lost after the connection was
 *   established (reset, closed, or no answer within the time limit): the server may have accepted it, so a
 *   retry could deliver the event twice. Such errors carry `details.maybeDelivered: true`.
 * - `timeout` bounds the whole call, retries and waits included, so no call outlives it.
 *
 * An answer counts as a success only when it is a 2xx with the JSON body the API defines (a JSON object; for a
 * batch, one whose `batch` is a list if present). Anything else — an HTML page from a proxy, an empty body, a
 * body past the size limit — is an error naming what came back. Every body is read up to a limit
 * (`ANSWER_LIMITS`), so a server that streams without end cannot exhaust memory.
 */
import { createSecretKey } from 'node:crypto';
import http from 'node:http';
import type https from 'node:https';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type PusherClient from 'pusher';
import { missingMasterKey, signApiRequest } from '../auth/sign.js';
import { channelType } from '../core/channels.js';
import { connectionFields, connectionUrl, MAX_TIMEOUT_MS, type PusherConnection } from '../config/schema.js';
import { DEFAULTS } from '../config/defaults.js';
import { ConfigError, DeliveryError, describeNetworkError } from '../core/errors.js';
import { serializePayload } from '../core/validation.js';
import { rejectionError, unprocessableError, type SignedRequest } from './rejection.js';
import type { Driver } from './types.js';

const require = createRequire(import.meta.url);

/** Defaults of the retry policy. */
export const RETRY_POLICY = {
  /** Retries after the first attempt. */
  retries: DEFAULTS.retries,
  /** Time limit for one call, retries included (ms). */
  timeoutMs: DEFAULTS.timeoutMs,
  /** First backoff delay (ms); it doubles on each retry, up to `maxDelayMs`, with ±25% jitter. */
  baseDelayMs: 250,
  maxDelayMs: 2_000,
  /** A connection not established within a quarter of the timeout (at least this) is abandoned and retried. */
  minConnectTimeoutMs: 1_000,
  /** Idle keep-alive sockets are closed after this, well before servers close them (avoids reset races). */
  idleSocketMs: 4_000,
} as const;

/** How much of an answer's body is read (bytes): past this, reading stops and the call fails. */
export const ANSWER_LIMITS = {
  /** Answers to events (`{}` from Pusher, `{"ok":true}` from soketi). */
  event: 1024 * 1024,
  /** Answers to queries (`/channels` can list many channels). */
  query: 32 * 1024 * 1024,
  /** Error answers: only their first bytes go into the message. */
  error: 64 * 1024,
} as const;

/** What a call expects back: an event's answer, a batch's, or a query's. */
type Expect = 'event' | 'batch' | 'query';

/** An HTTP answer, its body read up to a limit. */
interface Answer {
  status: number;
  /** The body, or its first bytes when `complete` is false. */
  body: Buffer;
  /** Bytes received (when reading stopped, at least this many were sent). */
  bytes: number;
  /** False when reading stopped at the limit. */
  complete: boolean;
  headers: () => http.IncomingHttpHeaders;
}

/** Connection errors that prove the request never reached the server. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
/** Errors that, before the connection was established, also prove nothing was sent. */
const NOT_SENT_IF_UNCONNECTED = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED']);
/** Below this much time left, another attempt is not worth starting. */
const MIN_ATTEMPT_MS = 50;

export interface PusherDriverOptions {
  /** Time limit for one call, retries included (ms); overrides the connection's `timeout`. */
  timeout?: number;
  /** Retries after the first attempt; overrides the connection's `retries`. */
  retries?: number;
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

/** An attempt that got no HTTP answer, with what is known about whether the server may have the request. */
class NoAnswer {
  constructor(
    readonly code: string,
    readonly message: string,
    /** The connection was established: from then on the server may have received the request. */
    readonly connected: boolean,
    /** Stopped by the attempt's connect timer, or by the call's time limit. */
    readonly timedOut?: 'connect' | 'deadline',
  ) {}
}

export function createPusherDriver(connectionName: string, connection: PusherConnection, options: PusherDriverOptions = {}): Driver {
  const url = connectionUrl(connection);
  const { hostname, port } = new URL(url);
  const tls = url.startsWith('https:');
  // node:https (and TLS) is loaded only for https URLs: a few ms of start-up.
  const transport: Pick<typeof http, 'Agent' | 'request'> = tls ? (require('node:https') as typeof https) : http;
  const agent = new transport.Agent({ keepAlive: true, maxSockets: 64, timeout: RETRY_POLICY.idleSocketMs });
  const prefix = `/apps/${connection.appId}`;
  const credentials = { key: String(connection.key), secret: createSecretKey(Buffer.from(String(connection.secret))) };
  const encrypting = connection.encryptionMasterKeyBase64 ? encryptingClient(connectionName, connection) : undefined;
  const timeoutMs = setting(options.timeout ?? connection.timeout, RETRY_POLICY.timeoutMs, 1, MAX_TIMEOUT_MS);
  const retries = setting(options.retries ?? connection.retries, RETRY_POLICY.retries, 0, 100);
  const connectTimeoutMs = Math.max(RETRY_POLICY.minConnectTimeoutMs, Math.round(timeoutMs / 4));

  /** The body of an event request on `private-encrypted-` channels, built (and encrypted) by the official library. */
  function encrypted(channel: string, make: (pusher: PusherClient) => unknown): string {
    if (!encrypting) throw missingMasterKey(channel, connectionName);
    let request: { body?: unknown } | undefined;
    try {
      request = make(encrypting) as typeof request;
    } catch (error) {
      throw new DeliveryError(`Request to ${url} failed: ${(error as Error).message}`);
    }
    if (typeof request?.body !== 'object') throw new Error('unsupported version of the pusher library (it did not build the request through post())');
    return JSON.stringify(request.body);
  }

  /**
   * One HTTP request, stopped when `budgetMs` runs out (or after `connectTimeoutMs` if the connection is not
   * established by then). Resolves with any HTTP answer; rejects with a NoAnswer.
   */
  function attempt(method: string, path: string, body: string | undefined, maxBytes: number, budgetMs: number, connectTimeoutMs?: number) {
    return new Promise<Answer>((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = { 'x-pusher-library': 'pusher-broadcast' };
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = Buffer.byteLength(body);
      }
      const request = transport.request({ host: hostname, port, method, path, headers, agent });
      let connected = false;
      let settled = false;
      let connectTimer: NodeJS.Timeout | undefined;
      const settle = () => {
        settled = true;
        clearTimeout(deadline);
        clearTimeout(connectTimer);
      };
      const fail = (error: NodeJS.ErrnoException, timedOut?: 'connect' | 'deadline') => {
        if (settled) return;
        settle();
        if (timedOut) request.destroy();
        reject(new NoAnswer(error.code ?? '', error.message, connected, timedOut));
      };
      const stop = (why: 'connect' | 'deadline') => fail(Object.assign(new Error(`${why} timeout`), { code: 'ETIMEDOUT' }), why);
      // Whole milliseconds: timers with the same duration share one list (a fraction would make a list each).
      const deadline = setTimeout(() => stop('deadline'), Math.max(1, Math.ceil(budgetMs)));
      request.once('socket', (socket: Socket) => {
        const ready = () => {
          connected = true;
          clearTimeout(connectTimer);
        };
        if (request.reusedSocket || (!tls && !socket.connecting)) return ready();
        socket.once(tls ? 'secureConnect' : 'connect', ready);
        if (connectTimeoutMs !== undefined) connectTimer = setTimeout(() => stop('connect'), connectTimeoutMs);
      });
      request.once('response', (response) => {
        const status = response.statusCode ?? 0;
        // Headers are parsed when first read: only an error needs them (Retry-After, Content-Type).
        const headers = () => response.headers;
        const limit = status >= 200 && status < 300 ? maxBytes : ANSWER_LIMITS.error;
        const chunks: Buffer[] = [];
        let received = 0;
        response.on('data', (chunk: Buffer) => {
          if (settled) return;
          received += chunk.length;
          if (received <= limit) return void chunks.push(chunk);
          // Past the limit: keep what fits, drop the connection (the rest is never read).
          chunks.push(chunk.subarray(0, chunk.length - (received - limit)));
          settle();
          request.destroy();
          resolve({ status, body: Buffer.concat(chunks), bytes: received, complete: false, headers });
        });
        response.once('end', () => {
          if (settled) return;
          settle();
          resolve({ status, body: Buffer.concat(chunks), bytes: received, complete: true, headers });
        });
        response.on('error', fail);
        response.once('close', () => settled || fail(Object.assign(new Error('connection closed'), { code: 'ECONNRESET' })));
      });
      request.on('error', fail);
      request.end(body);
    });
  }

  /**
   * Runs one API call with retries and returns the parsed JSON body. Some servers (soketi 1.6) answer
   * errors with HTTP 200 and `{"error", "code"}` in the body, so the body is checked as well as the status;
   * a 2xx answer without the JSON `expect`ed is an error too.
   */
  async function send(expect: Expect, method: string, path: string, body?: string, params?: Record<string, string>): Promise<unknown> {
    const maxBytes = expect === 'query' ? ANSWER_LIMITS.query : ANSWER_LIMITS.event;
    const started = performance.now();
    const deadline = started + timeoutMs;
    for (let n = 0; ; n++) {
      const attemptStarted = performance.now();
      const remaining = deadline - attemptStarted;
      let error: DeliveryError;
      let retryAfter: string | string[] | undefined;
      let signed: SignedRequest | undefined;
      try {
        // Signed for each attempt: the signature holds a timestamp that servers check.
        const query = signApiRequest(credentials, { method, path: prefix + path, body, params });
        signed = { stringToSign: stringToSign(method, prefix + path, query) };
        // The connect timer only matters when it would fire before the call's own deadline.
        const answer = await attempt(method, `${prefix}${path}?${query}`, body, maxBytes, remaining, connectTimeoutMs < remaining - MIN_ATTEMPT_MS ? connectTimeoutMs : undefined);
        const parsed = answer.complete ? parseJson(answer.body) : undefined;
        const status = answer.status < 300 && parsed && isErrorBody(parsed.value) ? parsed.value.code : answer.status;
        options.onRequest?.({ method, path, status, ms: performance.now() - attemptStarted });
        if (status < 300) {
          if (parsed && isExpected(expect, parsed.value)) return parsed.value;
          error = unexpectedAnswer(answer, expect, parsed, { name: connectionName, limit: maxBytes });
        } else {
          error = statusError(status, answer.body.toString(), connectionName, signed);
          retryAfter = answer.headers()['retry-after'];
        }
      } catch (raw) {
        error = raw instanceof NoAnswer
          ? noAnswerError(raw, { name: connectionName, url, timeoutMs, connectTimeoutMs })
          : new DeliveryError(`Request to ${url} failed: ${raw instanceof Error ? raw.message : String(raw)}`);
        options.onRequest?.({ method, path, ms: performance.now() - attemptStarted });
      }
      const tried = `${n + 1} attempt${n === 0 ? '' : 's'} in ${((performance.now() - started) / 1000).toFixed(1)} s`;
      if (!error.retryable || n >= retries) throw n === 0 ? error : withNote(error, tried);
      let delayMs = backoffDelay(n);
      const asked = error.status === 429 || error.status === 503 ? parseRetryAfter(retryAfter) : undefined;
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
    async trigger({ channels, event, data, socketId, info }) {
      const params = socketId || info ? { ...(socketId ? { socket_id: socketId } : {}), ...(info ? { info } : {}) } : undefined;
      const encryptedChannel = channels.find(isEncrypted);
      const body = encryptedChannel
        ? encrypted(encryptedChannel, (pusher) => pusher.trigger(channels, event, data, params))
        : JSON.stringify({ name: event, data: serializePayload(data), channels, ...params });
      const answer = await send('event', 'POST', '/events', body);
      // Only a request with `info` has counts to hand back (Pusher: `{"channels": {…}}`; soketi 1.6: none).
      if (info) return { channels: infoMap((answer as { channels?: unknown }).channels) };
    },
    async triggerBatch(events) {
      const encryptedEvent = events.find((e) => isEncrypted(e.channel));
      const batch = events.map((e) => ({
        channel: e.channel,
        name: e.event,
        // The library encodes (and encrypts) the data itself when it builds the body.
        data: encryptedEvent ? e.data : serializePayload(e.data),
        ...(e.socketId ? { socket_id: e.socketId } : {}),
        ...(e.info ? { info: e.info } : {}),
      }));
      const body = encryptedEvent ? encrypted(encryptedEvent.channel, (pusher) => pusher.triggerBatch(batch)) : JSON.stringify({ batch });
      const answer = await send('batch', 'POST', '/batch_events', body);
      if (events.some((e) => e.info)) {
        // Pusher: one entry per event, in order; Reverb: `{"batch": {}}` when it has none; soketi 1.6: none.
        const list = (answer as { batch?: unknown }).batch;
        return { batch: Array.isArray(list) ? list.map((entry) => (isObject(entry) ? entry : {})) : [] };
      }
    },
    async get<T>(path: string, params?: Record<string, string>): Promise<T> {
      return (await send('query', 'GET', path, undefined, params)) as T;
    },
    async post<T>(path: string, body: unknown): Promise<T> {
      // Not an event: its answer is checked as a query's (a JSON object), and a retry of it is harmless.
      return (await send('query', 'POST', path, JSON.stringify(body))) as T;
    },
    close() {
      agent.destroy();
    },
  };
}

/**
 * The official client, used only to encrypt: its trigger() and triggerBatch() check, encode and encrypt the
 * events, then hand the request to post(), which here gives it back instead of sending it.
 */
function encryptingClient(connectionName: string, connection: PusherConnection): PusherClient {
  const Pusher = require('pusher') as typeof PusherClient;
  let pusher: PusherClient;
  try {
    pusher = new Pusher({
      appId: String(connection.appId),
      key: String(connection.key),
      secret: String(connection.secret),
      encryptionMasterKeyBase64: connection.encryptionMasterKeyBase64,
    } as PusherClient.Options);
  } catch (error) {
    // e.g. a master key in URL-safe base64, which the library refuses (its messages never show the key)
    throw new ConfigError(`Connection "${connectionName}": ${(error as Error).message}`);
  }
  pusher.post = ((request: unknown) => request) as unknown as PusherClient['post'];
  return pusher;
}

const isEncrypted = (channel: string) => channelType(channel) === 'encrypted';

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

/** The body as JSON, or undefined when it is not JSON (an empty body is not). */
function parseJson(body: Buffer): { value: unknown } | undefined {
  if (body.length === 0) return undefined;
  try {
    return { value: JSON.parse(body.toString()) };
  } catch {
    return undefined;
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Whether a 2xx body is what the API defines: a JSON object (Pusher answers events with `{}`, soketi 1.6
 * with `{"ok":true}`, queries with their result); for a batch, `batch` is a list when present, or the empty
 * object Laravel Reverb answers a batch without `info` with (`{"batch":{}}`).
 */
function isExpected(expect: Expect, value: unknown): boolean {
  if (!isObject(value)) return false;
  if (expect !== 'batch' || value.batch === undefined || Array.isArray(value.batch)) return true;
  return isObject(value.batch) && Object.keys(value.batch).length === 0;
}

/** The `channels` of a trigger's answer: channel name → attributes (anything else in it is dropped). */
function infoMap(channels: unknown): Record<string, Record<string, unknown>> {
  if (!isObject(channels)) return {};
  return Object.fromEntries(Object.entries(channels).filter((entry): entry is [string, Record<string, unknown>] => isObject(entry[1])));
}

/** The DeliveryError for a 2xx answer without the expected JSON, naming what came back. */
function unexpectedAnswer(answer: Answer, expect: Expect, parsed: { value: unknown } | undefined, c: { name: string; limit: number }): DeliveryError {
  const type = answer.headers()['content-type'];
  const of = type ? ` of ${type}` : ' (no content type)';
  let what: string;
  if (!answer.complete) what = `more than ${formatBytes(c.limit)}${of}, starting ${preview(answer.body)} (reading stopped there)`;
  else if (answer.bytes === 0) what = `an empty body${type ? ` (${type})` : ''}`;
  else if (parsed === undefined) what = `${formatBytes(answer.bytes)}${of} that is not JSON: ${preview(answer.body)}`;
  else if (expect === 'batch' && isObject(parsed.value)) what = `JSON whose "batch" is not a list: ${preview(answer.body)}`;
  else what = `JSON that is not an object: ${preview(answer.body)}`;
  const event = expect !== 'query';
  return new DeliveryError(`The server answered HTTP ${answer.status} with ${what}, not the Pusher API's JSON`, {
    status: answer.status,
    // Something accepted the request: whether it passed the event on is unknown, so it is not retried.
    ...(event ? { details: { maybeDelivered: true } } : {}),
    hint:
      `Is it a Pusher server? Check the host, port and scheme of connection "${c.name}" (${connectionFields(c.name, ['host', 'port', 'scheme'])}): ` +
      'they must point at the Pusher HTTP API (Pusher Channels, soketi, Reverb), not at a web page or a proxy' +
      (event ? '. The event may or may not have been delivered, so it was not retried' : ''),
  });
}

/** The first bytes of a body, quoted with control characters and quotes escaped (safe to print). */
function preview(body: Buffer, max = 80): string {
  const head = JSON.stringify(body.subarray(0, max).toString('utf8'));
  return body.length > max ? `${head.slice(0, -1)}…"` : head;
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${+(n / (1024 * 1024)).toFixed(1)} MB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KB`;
  return `${n} byte${n === 1 ? '' : 's'}`;
}

function isErrorBody(body: unknown): body is { error: unknown; code: number } {
  const b = body as { error?: unknown; code?: unknown } | null;
  return typeof b === 'object' && b !== null && b.error !== undefined && typeof b.code === 'number' && b.code >= 400;
}

/** The DeliveryError for an attempt that got no answer: whether a retry is safe, or the event may have arrived. */
function noAnswerError(raw: NoAnswer, c: { name: string; url: string; timeoutMs: number; connectTimeoutMs: number }): DeliveryError {
  const serverHint = `Is the server running? Check the host and port of connection "${c.name}" (${connectionFields(c.name, ['host', 'port', 'scheme'])})`;
  if (raw.timedOut === 'connect') {
    // Nothing was sent, so a retry is safe.
    return new DeliveryError(`Could not connect to the server at ${c.url} within ${c.connectTimeoutMs} ms`, { retryable: true, hint: serverHint });
  }
  if (raw.timedOut === 'deadline') {
    // The call's time limit: no time is left for a retry either way.
    return raw.connected
      ? new DeliveryError(`No answer from ${c.url} within ${c.timeoutMs} ms`, {
          details: { maybeDelivered: true },
          hint: 'The request may have been delivered, so it was not retried. If the server is only slow, raise --timeout (or the connection\'s timeout)',
        })
      : new DeliveryError(`Could not connect to the server at ${c.url} within ${c.timeoutMs} ms`, { hint: serverHint });
  }
  const reason = describeNetworkError(raw.code, raw.message);
  if (NOT_SENT.has(raw.code) || (!raw.connected && NOT_SENT_IF_UNCONNECTED.has(raw.code))) {
    return new DeliveryError(`Could not reach the server at ${c.url}: ${reason}`, { retryable: true, hint: serverHint });
  }
  if (raw.connected) {
    return new DeliveryError(`The connection to ${c.url} failed after the request was sent (${reason})`, {
      details: { maybeDelivered: true },
      hint: 'The server may have received the event, so it was not retried (a retry could deliver it twice)',
    });
  }
  return new DeliveryError(`Could not reach the server at ${c.url}: ${reason}`, { hint: serverHint });
}

/**
 * The string a request's signature covers, `METHOD\npath\nquery` with the query as signed (everything before
 * `auth_signature`, which `signApiRequest` appends last): compared with what a server says it expected.
 */
function stringToSign(method: string, path: string, query: string): string {
  const at = query.lastIndexOf('&auth_signature=');
  return `${method}\n${path}\n${at < 0 ? query : query.slice(0, at)}`;
}

/**
 * The DeliveryError for an HTTP error status (exported for tests). `request` (what this client signed) lets a
 * 401 that shows the server's string-to-sign tell a wrong secret from a request changed on the way.
 */
export function statusError(status: number, rawBody: string | undefined, name: string, request?: SignedRequest): DeliveryError {
  const body = serverMessage(rawBody);
  const suffix = body ? `: ${body}` : '';
  // The whole body for the explanations: a quoted string-to-sign can be longer than the message's 200 characters.
  if (status === 401 || status === 403) return rejectionError(status, serverMessage(rawBody, Infinity), name, request);
  if (status === 422) return unprocessableError(rawBody, body);
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


/** What the server said in an error answer: its JSON `error` or `message`, else the text, cut at `max` characters. */
function serverMessage(body: string | undefined, max = 200): string {
  if (!body) return '';
  let text = body.trim();
  try {
    const parsed = JSON.parse(text) as { error?: unknown; message?: unknown };
    text = String(parsed.error ?? parsed.message ?? text);
  } catch {
    // plain text body
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * The auth route as a Node request handler: `(req, res, next?)`, usable with `node:http` directly and as
 * Express/Connect middleware. Reads `socket_id` and `channel_name` from form-encoded (what pusher-js sends)
 * or JSON bodies, answers JSON, and never answers malformed input with a 5xx or lets it crash the process.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Broadcast } from '../core/broadcast.js';
import { ConfigError } from '../core/errors.js';
import { checkSubscription, decideSubscription, failure, signerOf, type AuthErrorBody, type AuthorizeFailure, type AuthorizeResult } from './authorize.js';
import { isThenable, rulesOf } from './rules.js';
import { authRoutes, type RouteDefinition } from './routes.js';

/** Default body limit: a subscription request is about 100 bytes. */
export const DEFAULT_MAX_BODY_BYTES = 8 * 1024;

/**
 * Default time for the whole body to arrive once the handler starts reading it. A subscription request
 * fits in one packet; a body still trickling in after 10 s is a stalled or slowloris client (Node's own
 * `server.requestTimeout` would hold it for 5 minutes).
 */
export const DEFAULT_BODY_TIMEOUT_MS = 10_000;

/**
 * After refusing a body it has not read (413, or another refusal of a large or chunked body), the handler
 * sends the answer with `Connection: close` but keeps reading and discarding the rest of the body, up to
 * this many bytes and for at most DISCARD_MS, before the connection is closed. Closing a socket while the
 * client is still writing makes the kernel reset the connection, and a client busy writing then sees the
 * reset instead of the 413. Past the byte limit the handler stops reading (the client's writes wait) and
 * closes when the time is up, so an upload of any size costs at most this much reading.
 */
const DISCARD_BYTES = 1024 * 1024;
const DISCARD_MS = 2_000;

/** Where a server-side problem happened, for `onError`. */
export interface AuthErrorInfo {
  /** `user`: the user() callback threw or returned no id; `rule`: a channel rule threw; `config`: e.g. no master key; `internal`: a bug. */
  kind: 'user' | 'rule' | 'config' | 'internal';
  status: number;
  channel?: string;
  rule?: string;
}

export interface AuthHandlerOptions<Req extends IncomingMessage = IncomingMessage> {
  /**
   * The authenticated user for a request (an object with an `id`), or null/undefined for none. May be async.
   * With Express and Passport: `(req) => req.user`. If it throws, the request is answered 403.
   */
  user: (req: Req) => unknown;
  /** Path to answer (default: config `auth.route`, else `/broadcasting/authorize`). */
  authRoute?: string;
  /**
   * Largest request body accepted, in bytes (default 8 KB); larger gets 413 with `Connection: close`, and the
   * rest of the upload is read and dropped (at most 1 MB, for at most 2 s) so the client sees the 413.
   */
  maxBodyBytes?: number;
  /**
   * Time for the body to arrive, in milliseconds (default 10 s); slower gets 408 and the connection is closed.
   * One timer checks all bodies in flight every tenth of this (10 ms to 1 s), so the 408 may come that much later.
   */
  bodyTimeoutMs?: number;
  /**
   * Called for server-side problems (a rule or user() that threw, a missing encryption key). Default: one
   * line on stderr via console.error. Request bodies, headers and signatures are never passed or logged.
   */
  onError?: (error: unknown, info: AuthErrorInfo) => void;
}

/** The handler, with the route it answers. */
export interface AuthHandler<Req extends IncomingMessage = IncomingMessage> {
  (req: Req, res: ServerResponse, next?: (error?: unknown) => void): Promise<void>;
  readonly route: RouteDefinition;
}

function defaultOnError(error: unknown, info: AuthErrorInfo): void {
  const where =
    info.kind === 'rule' ? `channel rule "${info.rule}" threw for ${info.channel}` :
    info.kind === 'user' ? 'user()' :
    info.kind === 'config' ? `cannot authorize ${info.channel ?? 'the request'}` :
    'internal error';
  const detail = error instanceof Error ? (info.kind === 'config' ? error.message : (error.stack ?? error.message)) : String(error);
  console.error(`[pusher-broadcast] auth route (HTTP ${info.status}): ${where}: ${detail}`);
}

/**
 * Creates the auth route handler.
 *
 * ```ts
 * app.use(createAuthHandler(broadcast, { user: (req) => req.user }));        // Express / Connect
 * http.createServer((req, res) => handler(req, res));                       // node:http (404 for other paths)
 * ```
 *
 * Throws a ConfigError at once when the connection cannot sign (log/null driver), a channel rule or the
 * route path is invalid, so a misconfigured app fails at start-up rather than on the first subscription.
 */
export function createAuthHandler<Req extends IncomingMessage = IncomingMessage>(
  broadcast: Broadcast,
  options: AuthHandlerOptions<Req>,
): AuthHandler<Req> {
  if (!options || typeof options.user !== 'function') {
    throw new ConfigError('createAuthHandler needs a user(req) function that returns the authenticated user (an object with an id) or null');
  }
  // Everything a request needs is prepared here, once: the signing key, the compiled rules, the path.
  const signer = signerOf(broadcast);
  const rules = rulesOf(broadcast.config);
  const route = authRoutes(broadcast.config, { authRoute: options.authRoute })[0]!;
  const path = route.path;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 64) throw new ConfigError('createAuthHandler: maxBodyBytes must be a whole number >= 64');
  const bodyTimeoutMs = options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
  if (!Number.isInteger(bodyTimeoutMs) || bodyTimeoutMs < 1 || bodyTimeoutMs > 2 ** 31 - 1) {
    throw new ConfigError('createAuthHandler: bodyTimeoutMs must be a whole number of milliseconds >= 1');
  }
  const deadlines = new Deadlines(bodyTimeoutMs);
  const getUser = options.user;
  const onError = options.onError ?? defaultOnError;
  const report = (error: unknown, info: AuthErrorInfo) => {
    try {
      onError(error, info);
    } catch {
      // A failing logger must not take the route down.
    }
  };

  /** For a request answered before any of it had to wait: a promise that is already resolved. */
  const done: Promise<void> = Promise.resolve();

  const internalError = (res: ServerResponse, error: unknown): void => {
    report(error, { kind: 'internal', status: 500 });
    send(res, failure(500, 'internal_error', 'Internal error'));
  };

  const refuseUser = (res: ServerResponse, channel: string, error: unknown): void => {
    report(error, { kind: 'user', status: 403, channel });
    send(res, failure(403, 'unauthenticated', 'No authenticated user'));
  };

  const answer = (res: ServerResponse, channel: string, result: AuthorizeResult): void => {
    if (!result.ok && result.cause !== undefined) {
      const kind = result.status === 500 ? 'config' : result.body.error.code === 'unauthenticated' ? 'user' : 'rule';
      report(result.cause, result.rule ? { kind, status: result.status, channel, rule: result.rule } : { kind, status: result.status, channel });
    }
    send(res, result);
  };

  const authorizeAndAnswer = (res: ServerResponse, socketId: string, channel: string, user: unknown): void | Promise<void> => {
    const result = decideSubscription(signer, rules, socketId, channel, user);
    if (isThenable(result)) return result.then((r) => answer(res, channel, r));
    answer(res, channel, result);
  };

  /** From the request's fields to the answer: synchronous unless user() or a rule returns a promise. */
  const respond = (req: Req, res: ServerResponse, fields: ParsedFields): void | Promise<void> => {
    if (!fields.ok) return send(res, fields);
    const socketId = field(fields.fields, 'socket_id');
    const channelName = field(fields.fields, 'channel_name');
    const invalid = checkSubscription(socketId, channelName);
    if (invalid) return send(res, invalid);
    const channel = channelName as string;
    let user: unknown;
    try {
      user = getUser(req);
      if (isThenable(user)) {
        return Promise.resolve(user).then(
          (u) => authorizeAndAnswer(res, socketId as string, channel, u),
          (error: unknown) => refuseUser(res, channel, error),
        );
      }
    } catch (error) {
      return refuseUser(res, channel, error);
    }
    return authorizeAndAnswer(res, socketId as string, channel, user);
  };

  /** `respond`, turning anything it throws into a 500 (a bug here, never the request's content). */
  const respondSafely = (req: Req, res: ServerResponse, fields: ParsedFields): Promise<void> => {
    try {
      const pending = respond(req, res, fields);
      if (pending) return pending.catch((error: unknown) => internalError(res, error));
    } catch (error) {
      internalError(res, error);
    }
    return done;
  };

  // Not an async function: a request costs one promise, and none when it is answered at once.
  const handler = (req: Req, res: ServerResponse, next?: (error?: unknown) => void): Promise<void> => {
    try {
      if (req.url !== path && !matchesPath(req, path)) {
        if (next) next();
        else answerBeforeBody(req, res, failure(404, 'not_found', 'Not found'), maxBodyBytes);
        return done;
      }
      if (req.method !== 'POST') {
        answerBeforeBody(req, res, failure(405, 'method_not_allowed', `Use POST for ${path}`), maxBodyBytes, 'POST');
        return done;
      }
      const preParsed = preParsedFields(req);
      if (preParsed !== undefined) return respondSafely(req, res, preParsed);

      const headers = req.headers;
      const type = mediaType(headers['content-type']);
      const declared = headers['content-length'];
      if (declared !== undefined && Number(declared) > maxBodyBytes) {
        answerThenDiscard(req, res, tooLarge(maxBodyBytes));
        return done;
      }
      if (type !== '' && !isForm(type) && !isJson(type)) {
        answerBeforeBody(req, res, unsupported(type), maxBodyBytes);
        return done;
      }
      return new Promise<void>((resolve) => {
        // Called from the request's events or the deadline sweep: nothing may throw out of it.
        const bodyRead = (body: BodyResult) => {
          try {
            if (typeof body === 'string') {
              const answered = respondSafely(req, res, parseBody(type, body));
              if (answered !== done) {
                void answered.then(resolve);
                return;
              }
            } else if (body === TOO_LARGE) {
              answerThenDiscard(req, res, tooLarge(maxBodyBytes));
            } else if (body === TIMED_OUT) {
              // The rest of a stalled body is not worth waiting for: answer, then drop the connection.
              send(res, failure(408, 'request_timeout', `The request body did not arrive within ${bodyTimeoutMs} ms`), undefined, true);
            } else {
              send(res, failure(400, 'invalid_request', 'The request body was incomplete'));
            }
          } catch (error) {
            internalError(res, error);
          }
          resolve();
        };
        try {
          readBody(req, maxBodyBytes, deadlines, bodyRead);
        } catch (error) {
          internalError(res, error);
          resolve();
        }
      });
    } catch (error) {
      internalError(res, error);
      return done;
    }
  };
  return Object.assign(handler, { route });
}

/** The path without query, origin (absolute-form URLs) or trailing slash. */
function pathnameOf(url: unknown): string | undefined {
  if (typeof url !== 'string') return undefined;
  let path = url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '');
  const end = path.search(/[?#]/);
  if (end !== -1) path = path.slice(0, end);
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  return path || '/';
}

/** True for the route's path, in `req.url` or (Express, mounted under a prefix) `req.originalUrl`. */
function matchesPath(req: IncomingMessage, path: string): boolean {
  return pathnameOf(req.url) === path || pathnameOf((req as { originalUrl?: unknown }).originalUrl) === path;
}

type Fields = Record<string, unknown>;
type ParsedFields = { ok: true; fields: Fields } | AuthorizeFailure;

function field(fields: Fields, name: string): unknown {
  return Object.prototype.hasOwnProperty.call(fields, name) ? fields[name] : undefined;
}

const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';

/** The media type of a Content-Type header, lower-cased, without parameters. */
function mediaType(header: unknown): string {
  if (typeof header !== 'string') return '';
  if (header === FORM || header === JSON_TYPE) return header;
  const semicolon = header.indexOf(';');
  return (semicolon === -1 ? header : header.slice(0, semicolon)).trim().toLowerCase();
}

const isForm = (type: string) => type === FORM;
const isJson = (type: string) => type === JSON_TYPE || /^application\/[a-z0-9.+-]+\+json$/.test(type);

/** The fields an Express/Connect body parser (express.urlencoded(), express.json()) already read, if one did. */
function preParsedFields(req: IncomingMessage): ParsedFields | undefined {
  const preParsed = (req as { body?: unknown }).body;
  if (preParsed === undefined) return undefined;
  if ((req as { _body?: unknown })._body !== true && !req.readableEnded) return undefined;
  if (typeof preParsed === 'string' || Buffer.isBuffer(preParsed)) return parseBody(mediaType(req.headers['content-type']), String(preParsed));
  if (preParsed !== null && typeof preParsed === 'object' && !Array.isArray(preParsed)) return { ok: true, fields: preParsed as Fields };
  return failure(400, 'invalid_request', 'The body must be an object with socket_id and channel_name');
}

function unsupported(type: string): AuthorizeFailure {
  if (type === '') return failure(415, 'unsupported_media_type', 'Missing Content-Type: send application/x-www-form-urlencoded or application/json');
  return failure(415, 'unsupported_media_type', `Unsupported content type ${JSON.stringify(type.slice(0, 100))}: send application/x-www-form-urlencoded or application/json`);
}

function tooLarge(limit: number): AuthorizeFailure {
  return failure(413, 'payload_too_large', `The request body is larger than ${limit} bytes`);
}

function parseBody(type: string, text: string): ParsedFields {
  if (text.length === 0 || text.trim() === '') return { ok: true, fields: {} };
  if (isForm(type)) return { ok: true, fields: parseForm(text) };
  if (isJson(type)) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return failure(400, 'invalid_request', 'The body is not valid JSON');
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return failure(400, 'invalid_request', 'The JSON body must be an object with socket_id and channel_name');
    }
    return { ok: true, fields: value as Fields };
  }
  return unsupported(type);
}

/** `socket_id` and `channel_name` of a form body; a repeated field (`socket_id=1.1&socket_id=2.2`) becomes a list, which the checks refuse. */
function parseForm(text: string): Fields {
  const fields: Fields = {};
  if (text.includes('%') || text.includes('+')) {
    for (const [key, value] of new URLSearchParams(text)) {
      if (key === 'socket_id' || key === 'channel_name') addField(fields, key, value);
    }
    return fields;
  }
  // Nothing to decode (what pusher-js sends): split by hand, as URLSearchParams would. `equals` only moves
  // forward, so a long body without any `=` is still scanned once.
  let equals = -1;
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf('&', start);
    if (end === -1) end = text.length;
    if (end > start) {
      if (equals !== Infinity && equals < start) {
        equals = text.indexOf('=', start);
        if (equals === -1) equals = Infinity;
      }
      const key = equals < end ? text.slice(start, equals) : text.slice(start, end);
      if (key === 'socket_id' || key === 'channel_name') addField(fields, key, equals < end ? text.slice(equals + 1, end) : '');
    }
    start = end + 1;
  }
  return fields;
}

function addField(fields: Fields, key: string, value: string): void {
  const previous = fields[key];
  fields[key] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
}

/** Why a body could not be read. */
const TOO_LARGE = Symbol('too large');
const TIMED_OUT = Symbol('timed out');
const ABORTED = Symbol('aborted');
type BodyResult = string | typeof TOO_LARGE | typeof TIMED_OUT | typeof ABORTED;

/**
 * Reads at most `limit` bytes of the body as UTF-8 and calls `done` once: with the text, or why not. A body
 * that arrives in one chunk (nearly every subscription request) is decoded from that chunk, without copying.
 * A client that goes away mid-body is noticed by the deadline sweep (a `close` listener per request would
 * cost more than the rest of the reading).
 */
function readBody(req: IncomingMessage, limit: number, deadlines: Deadlines, done: (result: BodyResult) => void): void {
  if (req.readableEnded) return done('');
  let first: Buffer | undefined;
  let more: Buffer[] | undefined;
  let size = 0;
  let finished = false;
  const finish = (result: BodyResult) => {
    if (finished) return;
    finished = true;
    deadlines.delete(deadline);
    first = more = undefined;
    done(result);
  };
  const deadline = deadlines.add(req, finish);
  // The listeners stay: after the answer the rest of the body keeps flowing (and is dropped), so the
  // socket is never left stalled.
  req.on('data', (chunk: Buffer | string) => {
    if (finished) return;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += bytes.length;
    if (size > limit) return finish(TOO_LARGE);
    if (first === undefined) first = bytes;
    else (more ??= [first]).push(bytes);
  });
  req.on('end', () => {
    if (finished) return;
    finish(more ? Buffer.concat(more, size).toString('utf8') : first ? first.toString('utf8') : '');
  });
}

interface Deadline {
  at: number;
  req: IncomingMessage;
  expire: (why: typeof TIMED_OUT | typeof ABORTED) => void;
  prev: Deadline | undefined;
  next: Deadline | undefined;
  linked: boolean;
}

/**
 * The bodies one handler is reading, watched by one shared timer instead of a timer and a `close` listener
 * per request: each sweep gives up on bodies past their deadline and on requests the client abandoned.
 * The list is in insertion order, which is also deadline order (every entry has the same timeout); adding
 * and removing an entry only relinks two neighbours. The timer runs only while bodies are being read, and
 * never keeps the process alive. It ticks every tenth of the timeout (10 ms to 1 s), so a deadline fires
 * up to one tick late and an abandoned request is let go within one tick. The clock is monotonic, so a
 * change of the system time moves no deadline.
 */
class Deadlines {
  private head: Deadline | undefined;
  private tail: Deadline | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly every: number;

  constructor(private readonly timeoutMs: number) {
    this.every = Math.min(1000, Math.max(10, Math.ceil(timeoutMs / 10)));
  }

  add(req: IncomingMessage, expire: Deadline['expire']): Deadline {
    const deadline: Deadline = { at: performance.now() + this.timeoutMs, req, expire, prev: this.tail, next: undefined, linked: true };
    if (this.tail) this.tail.next = deadline;
    else this.head = deadline;
    this.tail = deadline;
    this.timer ??= setInterval(() => this.sweep(), this.every).unref();
    return deadline;
  }

  delete(deadline: Deadline): void {
    if (!deadline.linked) return;
    deadline.linked = false;
    if (deadline.prev) deadline.prev.next = deadline.next;
    else this.head = deadline.next;
    if (deadline.next) deadline.next.prev = deadline.prev;
    else this.tail = deadline.prev;
    deadline.prev = deadline.next = undefined;
  }

  private sweep(): void {
    const now = performance.now();
    for (let deadline = this.head; deadline; ) {
      const next = deadline.next;
      const late = deadline.at <= now;
      if (late || deadline.req.destroyed) {
        this.delete(deadline);
        deadline.expire(late ? TIMED_OUT : ABORTED);
        // Answering may have settled other requests too: start over if the next one left the list.
        if (next && !next.linked) {
          deadline = this.head;
          continue;
        }
      }
      deadline = next;
    }
    if (!this.head && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

/**
 * Answers before reading the body. A body that is absent or declared small is left to Node, which reads
 * and drops it and keeps the connection; a large or chunked one is discarded within bounds.
 */
function answerBeforeBody(req: IncomingMessage, res: ServerResponse, result: AuthorizeFailure, limit: number, allow?: string): void {
  const headers = req.headers;
  const declared = headers['content-length'];
  const small = headers['transfer-encoding'] === undefined && (declared === undefined || Number(declared) <= limit);
  if (small) return send(res, result, allow);
  return answerThenDiscard(req, res, result, allow);
}

/**
 * Sends the whole answer with `Connection: close`, then keeps reading and discarding what the client is
 * still sending (at most DISCARD_BYTES, for at most DISCARD_MS) before the connection is closed, so the
 * client reads the answer instead of a connection reset (see DISCARD_BYTES).
 */
function answerThenDiscard(req: IncomingMessage, res: ServerResponse, result: AuthorizeFailure, allow?: string): void {
  if (res.headersSent || res.writableEnded || res.destroyed) return;
  if (req.complete || req.readableEnded) return send(res, result, allow, true);
  const text = JSON.stringify(result.body);
  res.writeHead(result.status, responseHeaders(text, allow, true));
  // The body has its Content-Length: the client has the whole answer now. Ending the response is what
  // closes the connection, so that waits for the end of the upload or the limits.
  res.write(text);
  let discarded = 0;
  const close = () => {
    clearTimeout(timer);
    if (!res.writableEnded && !res.destroyed) res.end();
  };
  const timer = setTimeout(close, DISCARD_MS);
  req.on('data', (chunk: Buffer | string) => {
    discarded += chunk.length;
    // Stop reading: the client's writes wait, nothing is reset until the time is up.
    if (discarded > DISCARD_BYTES) req.pause();
  });
  req.on('end', close);
  req.on('close', close);
  req.resume();
}

const CONTENT_TYPE = 'application/json; charset=utf-8';

/** Response headers as a flat list (Node's cheapest form for writeHead). */
function responseHeaders(text: string, allow: string | undefined, close: boolean): (string | number)[] {
  const headers: (string | number)[] = ['content-type', CONTENT_TYPE, 'content-length', Buffer.byteLength(text), 'cache-control', 'no-store'];
  if (allow !== undefined) headers.push('allow', allow);
  if (close) headers.push('connection', 'close');
  return headers;
}

/** Sends a JSON answer in one writeHead and one end (nothing if the response is already gone). */
function send(res: ServerResponse, result: { status: number; body: unknown }, allow?: string, close = false): void {
  if (res.headersSent || res.writableEnded || res.destroyed) return;
  const text = JSON.stringify(result.body);
  res.writeHead(result.status, responseHeaders(text, allow, close));
  res.end(text);
}

export type { AuthErrorBody };

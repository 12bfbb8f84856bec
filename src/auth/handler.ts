/**
 * The auth route as a Node request handler: `(req, res, next?)`, usable with `node:http` directly and as
 * Express/Connect middleware. Reads `socket_id` and `channel_name` from form-encoded (what pusher-js sends)
 * or JSON bodies, answers JSON, and never answers malformed input with a 5xx or lets it crash the process.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Broadcast } from '../broadcast.js';
import { ConfigError } from '../errors.js';
import { authorize, checkSubscription, credentialsOf, failure, type AuthErrorBody, type AuthorizeFailure } from './authorize.js';
import { rulesOf } from './rules.js';
import { authRoutes, type RouteDefinition } from './routes.js';

/** Default body limit: a subscription request is about 100 bytes. */
export const DEFAULT_MAX_BODY_BYTES = 8 * 1024;

/**
 * Default time for the whole body to arrive once the handler starts reading it. A subscription request
 * fits in one packet; a body still trickling in after 10 s is a stalled or slowloris client (Node's own
 * `server.requestTimeout` would hold it for 5 minutes).
 */
export const DEFAULT_BODY_TIMEOUT_MS = 10_000;

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
  /** Largest request body accepted, in bytes (default 8 KB); larger gets 413. */
  maxBodyBytes?: number;
  /** Time for the body to arrive, in milliseconds (default 10 s); slower gets 408 and the connection is closed. */
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
  credentialsOf(broadcast);
  rulesOf(broadcast.config);
  const route = authRoutes(broadcast.config, { authRoute: options.authRoute })[0]!;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 64) throw new ConfigError('createAuthHandler: maxBodyBytes must be a whole number >= 64');
  const bodyTimeoutMs = options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
  if (!Number.isInteger(bodyTimeoutMs) || bodyTimeoutMs < 1 || bodyTimeoutMs > 2 ** 31 - 1) {
    throw new ConfigError('createAuthHandler: bodyTimeoutMs must be a whole number of milliseconds >= 1');
  }
  const onError = options.onError ?? defaultOnError;
  const report = (error: unknown, info: AuthErrorInfo) => {
    try {
      onError(error, info);
    } catch {
      // A failing logger must not take the route down.
    }
  };

  const handler = async (req: Req, res: ServerResponse, next?: (error?: unknown) => void): Promise<void> => {
    try {
      if (!matchesPath(req, route.path)) {
        if (next) return next();
        return send(res, failure(404, 'not_found', 'Not found'));
      }
      if (req.method !== 'POST') {
        return send(res, failure(405, 'method_not_allowed', `Use POST for ${route.path}`), { allow: 'POST' });
      }
      const parsed = await readFields(req, maxBodyBytes, bodyTimeoutMs);
      // The rest of an oversized or stalled body is not worth reading: answer, then drop the connection.
      if (!parsed.ok) return send(res, parsed, parsed.status === 413 || parsed.status === 408 ? { connection: 'close' } : {});
      const socketId = field(parsed.fields, 'socket_id');
      const channelName = field(parsed.fields, 'channel_name');
      const invalid = checkSubscription(socketId, channelName);
      if (invalid) return send(res, invalid);

      let user: unknown;
      try {
        user = await options.user(req);
      } catch (error) {
        report(error, { kind: 'user', status: 403, channel: channelName as string });
        return send(res, failure(403, 'unauthenticated', 'No authenticated user'));
      }
      const result = await authorize(broadcast, socketId, channelName, user);
      if (!result.ok && result.cause !== undefined) {
        const kind = result.status === 500 ? 'config' : result.body.error.code === 'unauthenticated' ? 'user' : 'rule';
        report(result.cause, { kind, status: result.status, channel: channelName as string, ...(result.rule ? { rule: result.rule } : {}) });
      }
      return send(res, result);
    } catch (error) {
      report(error, { kind: 'internal', status: 500 });
      return send(res, failure(500, 'internal_error', 'Internal error'));
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

function field(fields: Fields, name: string): unknown {
  return Object.prototype.hasOwnProperty.call(fields, name) ? fields[name] : undefined;
}

function mediaType(req: IncomingMessage): string {
  const header = req.headers['content-type'];
  return typeof header === 'string' ? (header.split(';')[0] ?? '').trim().toLowerCase() : '';
}

/** The request's fields, or the failure to answer with (400, 408, 413, 415). */
async function readFields(req: IncomingMessage, limit: number, timeoutMs: number): Promise<{ ok: true; fields: Fields } | AuthorizeFailure> {
  const type = mediaType(req);
  // Express/Connect body parsers (express.urlencoded(), express.json()) may have read the body already.
  const preParsed = (req as { body?: unknown }).body;
  const consumed = (req as { _body?: unknown })._body === true || req.readableEnded;
  if (preParsed !== undefined && consumed) {
    if (typeof preParsed === 'string' || Buffer.isBuffer(preParsed)) return parseBody(type, String(preParsed));
    if (preParsed !== null && typeof preParsed === 'object' && !Array.isArray(preParsed)) return { ok: true, fields: preParsed as Fields };
    return failure(400, 'invalid_request', 'The body must be an object with socket_id and channel_name');
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return tooLarge(req, limit);
  if (type !== '' && !isForm(type) && !isJson(type)) {
    req.resume();
    return unsupported(type);
  }
  const body = await readBody(req, limit, timeoutMs);
  if (body === 'too-large') return tooLarge(req, limit);
  if (body === 'aborted') return failure(400, 'invalid_request', 'The request body was incomplete');
  if (body === 'timeout') return failure(408, 'request_timeout', `The request body did not arrive within ${timeoutMs} ms`);
  return parseBody(type, body);
}

const isForm = (type: string) => type === 'application/x-www-form-urlencoded';
const isJson = (type: string) => type === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(type);

function unsupported(type: string): AuthorizeFailure {
  if (type === '') return failure(415, 'unsupported_media_type', 'Missing Content-Type: send application/x-www-form-urlencoded or application/json');
  return failure(415, 'unsupported_media_type', `Unsupported content type ${JSON.stringify(type.slice(0, 100))}: send application/x-www-form-urlencoded or application/json`);
}

function tooLarge(req: IncomingMessage, limit: number): AuthorizeFailure {
  req.resume();
  return failure(413, 'payload_too_large', `The request body is larger than ${limit} bytes`);
}

function parseBody(type: string, text: string): { ok: true; fields: Fields } | AuthorizeFailure {
  if (text.trim() === '') return { ok: true, fields: {} };
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
  if (isForm(type)) {
    const fields: Fields = {};
    for (const [key, value] of new URLSearchParams(text)) {
      if (key !== 'socket_id' && key !== 'channel_name') continue;
      const previous = fields[key];
      // A repeated field (`socket_id=1.1&socket_id=2.2`) is a list, which the checks refuse.
      fields[key] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
    }
    return { ok: true, fields };
  }
  return unsupported(type);
}

type BodyResult = string | 'too-large' | 'aborted' | 'timeout';

/** Reads at most `limit` bytes of the body as UTF-8, giving up after `timeoutMs`. */
function readBody(req: IncomingMessage, limit: number, timeoutMs: number): Promise<BodyResult> {
  if (req.readableEnded) return Promise.resolve('');
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    const finish = (result: BodyResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAborted);
      req.off('close', onAborted);
      // Keep draining (and ignoring) whatever else arrives, so the socket is not left stalled.
      req.on('error', () => {});
      req.resume();
      resolve(result);
    };
    const onData = (chunk: Buffer | string) => {
      size += chunk.length;
      if (size > limit) {
        chunks.length = 0;
        return finish('too-large');
      }
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    };
    const onEnd = () => finish(Buffer.concat(chunks).toString('utf8'));
    const onAborted = () => finish('aborted');
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAborted);
    req.on('close', onAborted);
  });
}

function send(res: ServerResponse, result: { status: number; body: unknown }, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.writableEnded || res.destroyed) return;
  const text = JSON.stringify(result.body);
  res.writeHead(result.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export type { AuthErrorBody };

/**
 * The auth route as a Node request handler: `(req, res, next?)`, usable with `node:http` directly and as
 * Express/Connect middleware. Reads `socket_id` and `channel_name` from form-encoded (what pusher-js sends)
 * or JSON bodies, answers JSON, and never answers malformed input with a 5xx or lets it crash the process.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Broadcast } from '../core/broadcast.js';
import { ConfigError } from '../core/errors.js';
import { checkSubscription, decideSubscription, failure, signerOf, type AuthErrorBody, type AuthorizeFailure, type AuthorizeResult } from './authorize.js';
import {
  answerBeforeBody,
  answerThenDiscard,
  Deadlines,
  DEFAULT_BODY_TIMEOUT_MS,
  DEFAULT_MAX_BODY_BYTES,
  readBody,
  TIMED_OUT,
  TOO_LARGE,
  type BodyResult,
} from './body.js';
import { field, isForm, isJson, mediaType, parseBody, preParsedFields, unsupported, type ParsedFields } from './form.js';
import { send } from './response.js';
import { isThenable, rulesOf } from './rules.js';
import { authRoutes, type RouteDefinition } from './routes.js';

export { DEFAULT_BODY_TIMEOUT_MS, DEFAULT_MAX_BODY_BYTES };

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

function tooLarge(limit: number): AuthorizeFailure {
  return failure(413, 'payload_too_large', `The request body is larger than ${limit} bytes`);
}

export type { AuthErrorBody };

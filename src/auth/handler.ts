/**
 * The auth route as a Node request handler: `(req, res, next?)`, usable with `node:http` directly and as
 * Express/Connect middleware. Reads `socket_id` and `channel_name` from form-encoded (what pusher-js sends)
 * or JSON bodies, answers JSON, and never answers malformed input with a 5xx or lets it crash the process.
 * The same handler answers the user authentication route (pusher-js `signin()`, `socket_id` only).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Broadcast } from '../core/broadcast.js';
import type { BroadcastUser } from '../config/schema.js';
import { ConfigError } from '../core/errors.js';
import { checkSocketId, checkSubscription, decideSubscription, failure, isBroadcastUser, signerOf, type AuthErrorBody, type AuthorizeFailure, type AuthorizeResult } from './authorize.js';
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
import { authRoutes, userAuthRoutes, type RouteDefinition } from './routes.js';
import { decideUserSignIn, type SigningKey, type UserDataFields } from './users.js';

export { DEFAULT_BODY_TIMEOUT_MS, DEFAULT_MAX_BODY_BYTES };

/** Where a server-side problem happened, for `onError`. */
export interface AuthErrorInfo {
  /** `user`: the user() (or userData()) callback threw or returned no id, or a user that cannot be signed in; `rule`: a channel rule threw; `config`: e.g. no master key; `internal`: a bug. */
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
   * Path of the user authentication route, which pusher-js `signin()` posts `socket_id` to (default
   * `/broadcasting/user-auth`, Laravel Echo's); `false` to answer only channel authorization.
   */
  userAuthRoute?: string | false;
  /**
   * What a signed-in user's `user_data` holds beside the id: `{ user_info?, watchlist? }` (at most 100 ids).
   * May be async. Default: the `user_info` and `watchlist` fields of the user object, when it has them;
   * nothing else of the user object is sent.
   */
  userData?: (user: BroadcastUser, req: Req) => UserDataFields | undefined | Promise<UserDataFields | undefined>;
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

/** The handler, with the routes it answers. */
export interface AuthHandler<Req extends IncomingMessage = IncomingMessage> {
  (req: Req, res: ServerResponse, next?: (error?: unknown) => void): Promise<void>;
  readonly route: RouteDefinition;
  /** The user authentication route, unless `userAuthRoute: false`. */
  readonly userRoute?: RouteDefinition;
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
  const userRoute = options.userAuthRoute === false ? undefined : userAuthRoutes(broadcast.config, { userAuthRoute: options.userAuthRoute })[0]!;
  const userPath = userRoute?.path;
  if (userPath === path) {
    throw new ConfigError(`createAuthHandler: the auth route and the user authentication route are both ${path}`, {
      hint: 'Give them different paths (authRoute, userAuthRoute), or userAuthRoute: false',
    });
  }
  const userKey: SigningKey = { key: signer.key, secret: signer.hmacKey };
  const getUserData = options.userData;
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

  /** A route's answer from the request's fields: synchronous unless a callback returns a promise. */
  type Respond = (req: Req, res: ServerResponse, fields: ParsedFields) => void | Promise<void>;

  /** For a request answered before any of it had to wait: a promise that is already resolved. */
  const done: Promise<void> = Promise.resolve();

  const internalError = (res: ServerResponse, error: unknown): void => {
    report(error, { kind: 'internal', status: 500 });
    send(res, failure(500, 'internal_error', 'Internal error'));
  };

  const refuseUser = (res: ServerResponse, channel: string | undefined, error: unknown): void => {
    report(error, channel === undefined ? { kind: 'user', status: 403 } : { kind: 'user', status: 403, channel });
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
  const respondChannel: Respond = (req, res, fields) => {
    if (!fields.ok) return send(res, fields);
    const socketId = field(fields.fields, 'socket_id');
    const channelName = field(fields.fields, 'channel_name');
    const invalid = checkSubscription(socketId, channelName);
    if (invalid) return send(res, invalid);
    const channel = channelName as string;
    return withUser(req, res, channel, (user) => authorizeAndAnswer(res, socketId as string, channel, user));
  };

  /** Calls `then` with user()'s user (awaited when it returns a promise); refuses with 403 when user() fails. */
  const withUser = (req: Req, res: ServerResponse, channel: string | undefined, then: (user: unknown) => void | Promise<void>): void | Promise<void> => {
    let user: unknown;
    try {
      user = getUser(req);
      if (isThenable(user)) return Promise.resolve(user).then(then, (error: unknown) => refuseUser(res, channel, error));
    } catch (error) {
      return refuseUser(res, channel, error);
    }
    return then(user);
  };

  const signInAndAnswer = (req: Req, res: ServerResponse, socketId: string, user: unknown): void | Promise<void> => {
    const answerUser = (fields: UserDataFields | undefined) => {
      const result = decideUserSignIn(userKey, socketId, user, fields);
      if (!result.ok && result.cause !== undefined) report(result.cause, { kind: 'user', status: result.status });
      send(res, result);
    };
    if (getUserData === undefined || !isBroadcastUser(user)) return answerUser(undefined);
    let fields: ReturnType<NonNullable<typeof getUserData>>;
    try {
      fields = getUserData(user, req);
    } catch (error) {
      return refuseUserData(res, error);
    }
    if (isThenable(fields)) return Promise.resolve(fields).then((f) => answerUser(f ?? {}), (error: unknown) => refuseUserData(res, error));
    answerUser(fields ?? {});
  };

  const refuseUserData = (res: ServerResponse, error: unknown): void => {
    report(error, { kind: 'user', status: 500 });
    send(res, failure(500, 'invalid_user', 'The user cannot be signed in'));
  };

  /** The user authentication route: `socket_id`, then the user, then the signed user_data. */
  const respondUser: Respond = (req, res, fields) => {
    if (!fields.ok) return send(res, fields);
    const socketId = field(fields.fields, 'socket_id');
    const invalid = checkSocketId(socketId);
    if (invalid) return send(res, invalid);
    return withUser(req, res, undefined, (user) => signInAndAnswer(req, res, socketId as string, user));
  };

  /** A responder, turning anything it throws into a 500 (a bug here, never the request's content). */
  const respondSafely = (req: Req, res: ServerResponse, fields: ParsedFields, respond: Respond): Promise<void> => {
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
      // The channel route first, compared as given: it is the one every subscription hits.
      const respond: Respond | undefined =
        req.url === path ? respondChannel :
        userPath !== undefined && (req.url === userPath || matchesPath(req, userPath)) ? respondUser :
        matchesPath(req, path) ? respondChannel :
        undefined;
      if (respond === undefined) {
        if (next) next();
        else answerBeforeBody(req, res, failure(404, 'not_found', 'Not found'), maxBodyBytes);
        return done;
      }
      if (req.method !== 'POST') {
        answerBeforeBody(req, res, failure(405, 'method_not_allowed', `Use POST for ${respond === respondChannel ? path : userPath}`), maxBodyBytes, 'POST');
        return done;
      }
      const preParsed = preParsedFields(req);
      if (preParsed !== undefined) return respondSafely(req, res, preParsed, respond);

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
              const answered = respondSafely(req, res, parseBody(type, body), respond);
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
  return Object.assign(handler, userRoute ? { route, userRoute } : { route });
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
export function matchesPath(req: IncomingMessage, path: string): boolean {
  return pathnameOf(req.url) === path || pathnameOf((req as { originalUrl?: unknown }).originalUrl) === path;
}

function tooLarge(limit: number): AuthorizeFailure {
  return failure(413, 'payload_too_large', `The request body is larger than ${limit} bytes`);
}

export type { AuthErrorBody };

/**
 * What both auth route handlers share: their options, checked once; which path is which route; the checks
 * before the body (method, media type, declared size); and from the body's fields to the answer (the user,
 * the rules, the signature). `createAuthHandler` (Node) and `createFetchAuthHandler` (Request/Response) only
 * read bodies and write answers their own way, so both give the same statuses and JSON errors.
 */
import type { Broadcast } from '../core/broadcast.js';
import type { BroadcastUser } from '../config/schema.js';
import { ConfigError } from '../core/errors.js';
import { checkSocketId, checkSubscription, decideSubscription, failure, isBroadcastUser, type AuthorizeFailure, type AuthorizeResult } from './authorize.js';
import { field, isForm, isJson, unsupported, type ParsedFields } from './form.js';
import { isThenable, rulesOf } from './rules.js';
import { authRoutes, userAuthRoutes } from './routes.js';
import type { RouteSigner } from './sign.js';
import { decideUserSignIn, type UserDataFields, type UserSignInResult } from './users.js';

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
  /** `user`: the user() (or userData()) callback threw or returned no id, or a user that cannot be signed in; `rule`: a channel rule threw; `config`: e.g. no master key; `internal`: a bug. */
  kind: 'user' | 'rule' | 'config' | 'internal';
  status: number;
  channel?: string;
  rule?: string;
}

/**
 * The options both handlers take. `Req` is what `user()` is given (Node's IncomingMessage, or a Request);
 * `Ctx` is the fetch handler's optional second argument (a framework's context), undefined for Node.
 */
export interface AuthRouteOptions<Req, Ctx = undefined> {
  /**
   * The authenticated user for a request (an object with an `id`), or null/undefined for none. May be async.
   * With Express and Passport: `(req) => req.user`. If it throws, the request is answered 403.
   */
  user: (req: Req, context: Ctx) => unknown;
  /** Path to answer (default: config `auth.route`, else `/broadcasting/authorize`). */
  authRoute?: string;
  /**
   * Also answer `/broadcasting/auth`, Laravel Echo's default `authEndpoint`, with the same channel
   * authorization (default true), so an Echo front end needs no `authEndpoint` setting.
   */
  echoAuthRoute?: boolean;
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
  userData?: (user: BroadcastUser, req: Req, context: Ctx) => UserDataFields | undefined | Promise<UserDataFields | undefined>;
  /**
   * Largest request body accepted, in bytes (default 8 KB); larger gets 413. The Node handler also sends
   * `Connection: close` and reads and drops the rest of the upload (at most 1 MB, for at most 2 s) so the
   * client sees the 413.
   */
  maxBodyBytes?: number;
  /**
   * Time for the body to arrive, in milliseconds (default 10 s); slower gets 408. In the Node handler one
   * timer checks all bodies in flight every tenth of this (10 ms to 1 s), so the 408 may come that much later,
   * and the connection is closed.
   */
  bodyTimeoutMs?: number;
  /**
   * Called for server-side problems (a rule or user() that threw, a missing encryption key). Default: one
   * line on stderr via console.error. Request bodies, headers and signatures are never passed or logged.
   */
  onError?: (error: unknown, info: AuthErrorInfo) => void;
}

/** An answer: the status and the JSON body (a signed body or `{ error: { code, message } }`). */
export type Answer = AuthorizeResult | UserSignInResult;

/** A route the handler answers, and which kind it is. */
export interface MatchedRoute {
  kind: 'channel' | 'user';
  path: string;
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

/** The path without query, origin (absolute-form URLs) or trailing slash. */
export function pathnameOf(url: unknown): string | undefined {
  if (typeof url !== 'string') return undefined;
  let path = url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '');
  const end = path.search(/[?#]/);
  if (end !== -1) path = path.slice(0, end);
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  return path || '/';
}

export function tooLarge(limit: number): AuthorizeFailure {
  return failure(413, 'payload_too_large', `The request body is larger than ${limit} bytes`);
}

export const NOT_FOUND = failure(404, 'not_found', 'Not found');

/**
 * The routes and the decisions, prepared once from the options. Throws a ConfigError at once when the
 * connection cannot sign, a rule or a path is invalid, or two routes share a path.
 */
export function createResponder<Req, Ctx>(
  broadcast: Broadcast,
  options: AuthRouteOptions<Req, Ctx>,
  signer: RouteSigner,
  name: string,
) {
  if (!options || typeof options.user !== 'function') {
    throw new ConfigError(`${name} needs a user(req) function that returns the authenticated user (an object with an id) or null`);
  }
  // Everything a request needs is prepared here, once: the compiled rules, the paths, the limits.
  const rules = rulesOf(broadcast.config);
  const channelRoutes = authRoutes(broadcast.config, { authRoute: options.authRoute, echoAuthRoute: options.echoAuthRoute });
  const route = channelRoutes[0]!;
  const userRoute = options.userAuthRoute === false ? undefined : userAuthRoutes(broadcast.config, { userAuthRoute: options.userAuthRoute })[0]!;
  const byPath = new Map<string, MatchedRoute>();
  for (const r of channelRoutes) byPath.set(r.path, { kind: 'channel', path: r.path });
  if (userRoute) {
    if (byPath.has(userRoute.path)) {
      throw new ConfigError(`${name}: the auth route and the user authentication route are both ${userRoute.path}`, {
        hint: userRoute.path === route.path
          ? 'Give them different paths (authRoute, userAuthRoute), or userAuthRoute: false'
          : "That is Laravel Echo's default auth route: give userAuthRoute another path, or set echoAuthRoute: false",
      });
    }
    byPath.set(userRoute.path, { kind: 'user', path: userRoute.path });
  }
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 64) throw new ConfigError(`${name}: maxBodyBytes must be a whole number >= 64`);
  const bodyTimeoutMs = options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
  if (!Number.isInteger(bodyTimeoutMs) || bodyTimeoutMs < 1 || bodyTimeoutMs > 2 ** 31 - 1) {
    throw new ConfigError(`${name}: bodyTimeoutMs must be a whole number of milliseconds >= 1`);
  }
  const getUser = options.user;
  const getUserData = options.userData;
  const onError = options.onError ?? defaultOnError;
  const report = (error: unknown, info: AuthErrorInfo) => {
    try {
      onError(error, info);
    } catch {
      // A failing logger must not take the route down.
    }
  };

  const internalError = (error: unknown): AuthorizeFailure => {
    report(error, { kind: 'internal', status: 500 });
    return failure(500, 'internal_error', 'Internal error');
  };

  const refuseUser = (channel: string | undefined, error: unknown): AuthorizeFailure => {
    report(error, channel === undefined ? { kind: 'user', status: 403 } : { kind: 'user', status: 403, channel });
    return failure(403, 'unauthenticated', 'No authenticated user');
  };

  /** Reports what the client is not told (a rule's exception, a missing master key), then answers. */
  const reported = (channel: string, result: AuthorizeResult): AuthorizeResult => {
    if (!result.ok && result.cause !== undefined) {
      const kind = result.status === 500 ? 'config' : result.body.error.code === 'unauthenticated' ? 'user' : 'rule';
      report(result.cause, result.rule ? { kind, status: result.status, channel, rule: result.rule } : { kind, status: result.status, channel });
    }
    return result;
  };

  /** Calls `then` with user()'s user (awaited when it returns a promise); refuses with 403 when user() fails. */
  const withUser = (req: Req, ctx: Ctx, channel: string | undefined, then: (user: unknown) => Answer | Promise<Answer>): Answer | Promise<Answer> => {
    let user: unknown;
    try {
      user = getUser(req, ctx);
      if (isThenable(user)) return Promise.resolve(user).then(then, (error: unknown) => refuseUser(channel, error));
    } catch (error) {
      return refuseUser(channel, error);
    }
    return then(user);
  };

  /** From the request's fields to the answer: synchronous unless user(), a rule or the signer returns a promise. */
  const respondChannel = (req: Req, ctx: Ctx, fields: ParsedFields): Answer | Promise<Answer> => {
    if (!fields.ok) return fields;
    const socketId = field(fields.fields, 'socket_id');
    const channelName = field(fields.fields, 'channel_name');
    const invalid = checkSubscription(socketId, channelName);
    if (invalid) return invalid;
    const channel = channelName as string;
    return withUser(req, ctx, channel, (user) => {
      const result = decideSubscription(signer, rules, socketId as string, channel, user);
      if (isThenable(result)) return (result as Promise<AuthorizeResult>).then((r) => reported(channel, r));
      return reported(channel, result as AuthorizeResult);
    });
  };

  const refuseUserData = (error: unknown): AuthorizeFailure => {
    report(error, { kind: 'user', status: 500 });
    return failure(500, 'invalid_user', 'The user cannot be signed in');
  };

  const signIn = (socketId: string, user: unknown, fields: UserDataFields | undefined): Answer | Promise<Answer> => {
    const answered = (result: UserSignInResult): UserSignInResult => {
      if (!result.ok && result.cause !== undefined) report(result.cause, { kind: 'user', status: result.status });
      return result;
    };
    const result = decideUserSignIn(signer, socketId, user, fields);
    return isThenable(result) ? (result as Promise<UserSignInResult>).then(answered) : answered(result as UserSignInResult);
  };

  /** The user authentication route: `socket_id`, then the user, then the signed user_data. */
  const respondUser = (req: Req, ctx: Ctx, fields: ParsedFields): Answer | Promise<Answer> => {
    if (!fields.ok) return fields;
    const socketId = field(fields.fields, 'socket_id');
    const invalid = checkSocketId(socketId);
    if (invalid) return invalid;
    return withUser(req, ctx, undefined, (user) => {
      if (getUserData === undefined || !isBroadcastUser(user)) return signIn(socketId as string, user, undefined);
      let data: ReturnType<NonNullable<typeof getUserData>>;
      try {
        data = getUserData(user, req, ctx);
      } catch (error) {
        return refuseUserData(error);
      }
      if (isThenable(data)) return Promise.resolve(data).then((d) => signIn(socketId as string, user, d ?? {}), refuseUserData);
      return signIn(socketId as string, user, data ?? {});
    });
  };

  return {
    route,
    userRoute,
    /** Every route answered: the configured one, Echo's (unless the same path or turned off), the user route. */
    routes: userRoute ? [...channelRoutes, userRoute] : channelRoutes,
    maxBodyBytes,
    bodyTimeoutMs,
    /** The route of an exact path, or undefined. */
    match: (path: string | undefined): MatchedRoute | undefined => (path === undefined ? undefined : byPath.get(path)),
    methodNotAllowed: (matched: MatchedRoute): AuthorizeFailure => failure(405, 'method_not_allowed', `Use POST for ${matched.path}`),
    /** A refusal from the headers alone: a declared size over the limit (413), a media type that is neither form nor JSON (415). */
    refuseHeaders(type: string, declaredLength: unknown): AuthorizeFailure | undefined {
      if (declaredLength !== undefined && declaredLength !== null && Number(declaredLength) > maxBodyBytes) return tooLarge(maxBodyBytes);
      if (type !== '' && !isForm(type) && !isJson(type)) return unsupported(type);
      return undefined;
    },
    /** The answer for a route's parsed fields. Never throws nor rejects: a bug becomes a reported 500. */
    respond(matched: MatchedRoute, req: Req, ctx: Ctx, fields: ParsedFields): Answer | Promise<Answer> {
      try {
        const answer = matched.kind === 'channel' ? respondChannel(req, ctx, fields) : respondUser(req, ctx, fields);
        if (isThenable(answer)) return (answer as Promise<Answer>).then(undefined, internalError);
        return answer as Answer;
      } catch (error) {
        return internalError(error);
      }
    },
    internalError,
  };
}

/** The prepared routes and decisions both handlers use. */
export type Responder<Req, Ctx> = ReturnType<typeof createResponder<Req, Ctx>>;

/**
 * The auth route as a Node request handler: `(req, res, next?)`, usable with `node:http` directly and as
 * Express/Connect middleware. Reads `socket_id` and `channel_name` from form-encoded (what pusher-js sends)
 * or JSON bodies, answers JSON, and never answers malformed input with a 5xx or lets it crash the process.
 * The same handler answers Laravel Echo's default `/broadcasting/auth` and the user authentication route
 * (pusher-js `signin()`, `socket_id` only). What it decides is shared with the fetch handler (responder.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Broadcast } from '../core/broadcast.js';
import type { BroadcastUser } from '../config/schema.js';
import { failure, signerOf, type AuthErrorBody } from './authorize.js';
import { answerBeforeBody, answerThenDiscard, Deadlines, readBody, TIMED_OUT, TOO_LARGE, type BodyResult } from './body.js';
import { mediaType, parseBody, preParsedFields } from './form.js';
import {
  createResponder,
  DEFAULT_BODY_TIMEOUT_MS,
  DEFAULT_MAX_BODY_BYTES,
  NOT_FOUND,
  pathnameOf,
  tooLarge,
  type Answer,
  type AuthErrorInfo,
  type AuthRouteOptions,
} from './responder.js';
import { send } from './response.js';
import { isThenable } from './rules.js';
import type { RouteDefinition } from './routes.js';
import { routeSigner } from './sign.js';
import type { UserDataFields } from './users.js';

export { DEFAULT_BODY_TIMEOUT_MS, DEFAULT_MAX_BODY_BYTES };
export type { AuthErrorInfo };

/** The Node handler's options: `user(req)` and `userData(user, req)` get Node's request (or Express's). */
export interface AuthHandlerOptions<Req extends IncomingMessage = IncomingMessage> extends Omit<AuthRouteOptions<Req>, 'user' | 'userData'> {
  /**
   * The authenticated user for a request (an object with an `id`), or null/undefined for none. May be async.
   * With Express and Passport: `(req) => req.user`. If it throws, the request is answered 403.
   */
  user: (req: Req) => unknown;
  /**
   * What a signed-in user's `user_data` holds beside the id: `{ user_info?, watchlist? }` (at most 100 ids).
   * May be async. Default: the `user_info` and `watchlist` fields of the user object, when it has them.
   */
  userData?: (user: BroadcastUser, req: Req) => UserDataFields | undefined | Promise<UserDataFields | undefined>;
}

/** The handler, with the routes it answers. */
export interface AuthHandler<Req extends IncomingMessage = IncomingMessage> {
  (req: Req, res: ServerResponse, next?: (error?: unknown) => void): Promise<void>;
  /** The configured channel authorization route. */
  readonly route: RouteDefinition;
  /** The user authentication route, unless `userAuthRoute: false`. */
  readonly userRoute?: RouteDefinition;
  /** Every route answered: the configured one, Echo's `/broadcasting/auth` (unless turned off), the user route. */
  readonly routes: readonly RouteDefinition[];
}

/**
 * Creates the auth route handler. It answers the configured route (`/broadcasting/authorize` by default),
 * Laravel Echo's default `/broadcasting/auth`, and the user authentication route `/broadcasting/user-auth`.
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
  // user(req) and userData(user, req) ignore the second argument the fetch handler passes.
  const core = createResponder<Req, undefined>(broadcast, options as AuthRouteOptions<Req>, routeSigner(signerOf(broadcast)), 'createAuthHandler');
  const { maxBodyBytes, bodyTimeoutMs } = core;
  const deadlines = new Deadlines(bodyTimeoutMs);

  /** For a request answered before any of it had to wait: a promise that is already resolved. */
  const done: Promise<void> = Promise.resolve();

  /** Sends an answer now, or when it is ready: a promise only when the answer had to wait. */
  const answerWith = (res: ServerResponse, answer: Answer | Promise<Answer>): Promise<void> => {
    if (isThenable(answer)) return (answer as Promise<Answer>).then((a) => send(res, a));
    send(res, answer as Answer);
    return done;
  };

  // Not an async function: a request costs one promise, and none when it is answered at once.
  const handler = (req: Req, res: ServerResponse, next?: (error?: unknown) => void): Promise<void> => {
    try {
      // The path as given first: the common case, and the one every subscription hits.
      const matched = core.match(req.url) ?? core.match(pathnameOf(req.url)) ?? core.match(pathnameOf((req as { originalUrl?: unknown }).originalUrl));
      if (matched === undefined) {
        if (next) next();
        else answerBeforeBody(req, res, NOT_FOUND, maxBodyBytes);
        return done;
      }
      if (req.method !== 'POST') {
        answerBeforeBody(req, res, core.methodNotAllowed(matched), maxBodyBytes, 'POST');
        return done;
      }
      const preParsed = preParsedFields(req);
      if (preParsed !== undefined) return answerWith(res, core.respond(matched, req, undefined, preParsed));

      const headers = req.headers;
      const type = mediaType(headers['content-type']);
      const refused = core.refuseHeaders(type, headers['content-length']);
      if (refused) {
        if (refused.status === 413) answerThenDiscard(req, res, refused);
        else answerBeforeBody(req, res, refused, maxBodyBytes);
        return done;
      }
      return new Promise<void>((resolve) => {
        // Called from the request's events or the deadline sweep: nothing may throw out of it.
        const bodyRead = (body: BodyResult) => {
          try {
            if (typeof body === 'string') {
              const answered = answerWith(res, core.respond(matched, req, undefined, parseBody(type, body)));
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
            send(res, core.internalError(error));
          }
          resolve();
        };
        try {
          readBody(req, maxBodyBytes, deadlines, bodyRead);
        } catch (error) {
          send(res, core.internalError(error));
          resolve();
        }
      });
    } catch (error) {
      send(res, core.internalError(error));
      return done;
    }
  };
  return Object.assign(handler, core.userRoute ? { route: core.route, userRoute: core.userRoute, routes: core.routes } : { route: core.route, routes: core.routes });
}

/** True for the route's path, in `req.url` or (Express, mounted under a prefix) `req.originalUrl`. */
export function matchesPath(req: IncomingMessage, path: string): boolean {
  return pathnameOf(req.url) === path || pathnameOf((req as { originalUrl?: unknown }).originalUrl) === path;
}

export type { AuthErrorBody };

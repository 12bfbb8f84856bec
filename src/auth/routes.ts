/**
 * The auth route definitions, like Masonite's `Broadcast.routes()` and Laravel's `Broadcast::routes()`: the
 * configured route (`/broadcasting/authorize`, Masonite's, by default) and Laravel Echo's default
 * `/broadcasting/auth`, so an Echo front end works without setting `authEndpoint`; and the user authentication
 * route, like Laravel's `Broadcast::userRoutes()` (`/broadcasting/user-auth`, which Echo uses).
 */
import { DEFAULT_AUTH_ROUTE, type BroadcastConfig } from '../config/schema.js';
import { ConfigError } from '../core/errors.js';

export interface RoutesOptions {
  /** Path of the auth route (default: config `auth.route`, else `/broadcasting/authorize`). */
  authRoute?: string;
  /**
   * Also answer `/broadcasting/auth`, Laravel Echo's default `authEndpoint` (default true). Nothing changes
   * when the auth route is that path already.
   */
  echoAuthRoute?: boolean;
}

export interface UserRoutesOptions {
  /** Path of the user authentication route (default `/broadcasting/user-auth`, Laravel Echo's). */
  userAuthRoute?: string;
}

/** Where Laravel Echo posts channel authorization when its `authEndpoint` is not set. */
export const ECHO_AUTH_ROUTE = '/broadcasting/auth';

/** Where pusher-js's `signin()` posts, as Laravel names it (Echo's `userAuthentication.endpoint`). */
export const DEFAULT_USER_AUTH_ROUTE = '/broadcasting/user-auth';

/** One route a web app has to mount. */
export interface RouteDefinition {
  method: 'POST';
  path: string;
  name: string;
  /** What answers it: the handler `createAuthHandler(broadcast, { user })` returns. */
  handler: string;
  /** Names of the app's middleware to run first (config `auth.middleware`), for display and adapters. */
  middleware: string[];
  /** The route must be exempt from CSRF checks: pusher-js posts without the app's CSRF token by default. */
  csrfExempt: true;
  description: string;
}

export const AUTH_ROUTE_NAME = 'broadcasting.authorize';
export const ECHO_AUTH_ROUTE_NAME = 'broadcasting.auth';
export const USER_AUTH_ROUTE_NAME = 'broadcasting.user-auth';

const PATH = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/;

/** Checks a route path: starts with `/`, no query, fragment or whitespace. */
export function validateRoutePath(path: unknown, from: string, what = 'auth route'): string {
  if (typeof path !== 'string' || !PATH.test(path)) {
    throw new ConfigError(`The ${what} ${JSON.stringify(path)} (from ${from}) is not a valid path`, {
      hint: 'Use an absolute path without query or fragment, e.g. "/broadcasting/authorize"',
    });
  }
  return path;
}

/** The path of the auth route: `authRoute`, else config `auth.route`, else the default. */
export function authRoutePath(config: BroadcastConfig, options: RoutesOptions = {}): string {
  if (options.authRoute !== undefined) return validateRoutePath(options.authRoute, 'the authRoute option');
  if (config.auth?.route !== undefined) return validateRoutePath(config.auth.route, 'config auth.route');
  return DEFAULT_AUTH_ROUTE;
}

/** The path of the user authentication route: `userAuthRoute`, else the default. */
export function userAuthRoutePath(options: UserRoutesOptions = {}): string {
  if (options.userAuthRoute !== undefined) return validateRoutePath(options.userAuthRoute, 'the userAuthRoute option', 'user authentication route');
  return DEFAULT_USER_AUTH_ROUTE;
}

/** Config `auth.middleware`, checked. */
function middlewareOf(config: BroadcastConfig): string[] {
  const middleware = config.auth?.middleware ?? [];
  if (!Array.isArray(middleware) || middleware.some((m) => typeof m !== 'string')) {
    throw new ConfigError('config auth.middleware must be a list of middleware names (strings)');
  }
  return [...middleware];
}

/**
 * The channel authorization routes: the configured one, then Echo's `/broadcasting/auth` (unless it is the
 * same path or `echoAuthRoute: false`). One handler answers both.
 */
export function authRoutes(config: BroadcastConfig, options: RoutesOptions = {}): RouteDefinition[] {
  const path = authRoutePath(config, options);
  const middleware = middlewareOf(config);
  const routes: RouteDefinition[] = [
    {
      method: 'POST',
      path,
      name: AUTH_ROUTE_NAME,
      handler: 'createAuthHandler',
      middleware,
      csrfExempt: true,
      description: 'Signs private and presence channel subscriptions for pusher-js and Laravel Echo',
    },
  ];
  if (options.echoAuthRoute !== false && path !== ECHO_AUTH_ROUTE) {
    routes.push({
      method: 'POST',
      path: ECHO_AUTH_ROUTE,
      name: ECHO_AUTH_ROUTE_NAME,
      handler: 'createAuthHandler',
      middleware: [...middleware],
      csrfExempt: true,
      description: "The same channel authorization at Laravel Echo's default authEndpoint",
    });
  }
  return routes;
}

/** The user authentication route (pusher-js `signin()`), answered by the same handler. */
export function userAuthRoutes(config: BroadcastConfig, options: UserRoutesOptions = {}): RouteDefinition[] {
  return [
    {
      method: 'POST',
      path: userAuthRoutePath(options),
      name: USER_AUTH_ROUTE_NAME,
      handler: 'createAuthHandler',
      middleware: middlewareOf(config),
      csrfExempt: true,
      description: 'Signs in users (pusher-js signin()): the signed user_data for messages to one user',
    },
  ];
}

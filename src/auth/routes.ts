/** The auth route definitions, like Masonite's `Broadcast.routes()` and Laravel's `Broadcast::routes()`. */
import { DEFAULT_AUTH_ROUTE, type BroadcastConfig } from '../config/schema.js';
import { ConfigError } from '../core/errors.js';

export interface RoutesOptions {
  /** Path of the auth route (default: config `auth.route`, else `/broadcasting/authorize`). */
  authRoute?: string;
}

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

const PATH = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/;

/** Checks a route path: starts with `/`, no query, fragment or whitespace. */
export function validateRoutePath(path: unknown, from: string): string {
  if (typeof path !== 'string' || !PATH.test(path)) {
    throw new ConfigError(`The auth route ${JSON.stringify(path)} (from ${from}) is not a valid path`, {
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

export function authRoutes(config: BroadcastConfig, options: RoutesOptions = {}): RouteDefinition[] {
  const middleware = config.auth?.middleware ?? [];
  if (!Array.isArray(middleware) || middleware.some((m) => typeof m !== 'string')) {
    throw new ConfigError('config auth.middleware must be a list of middleware names (strings)');
  }
  return [
    {
      method: 'POST',
      path: authRoutePath(config, options),
      name: AUTH_ROUTE_NAME,
      handler: 'createAuthHandler',
      middleware: [...middleware],
      csrfExempt: true,
      description: 'Signs private and presence channel subscriptions for pusher-js and Laravel Echo',
    },
  ];
}

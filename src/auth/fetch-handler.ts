/**
 * The auth route for web-standard runtimes: `(request: Request, context?) => Promise<Response>`, for Next.js
 * route handlers, Hono, Bun, Deno and Cloudflare Workers. The same routes, checks, statuses and JSON errors
 * as `createAuthHandler` (the decisions are shared, in responder.ts); the body is read from the request's
 * stream within the size and time limits, and signatures are made with Web Crypto.
 */
import type { Broadcast } from '../core/broadcast.js';
import { credentialsOf, failure, type AuthorizeFailure } from './authorize.js';
import { mediaType, parseBody } from './form.js';
import { createResponder, NOT_FOUND, pathnameOf, tooLarge, type Answer, type AuthRouteOptions } from './responder.js';
import type { RouteDefinition } from './routes.js';
import { createWebSigner } from './web-sign.js';

/**
 * The fetch handler's options: `user(request, context)` gets the Request, and the second argument the
 * handler was called with (Hono's `c`, Next.js's `{ params }`), when there is one.
 */
export type FetchAuthHandlerOptions<Ctx = unknown> = AuthRouteOptions<Request, Ctx>;

/** The handler, with the routes it answers. */
export interface FetchAuthHandler<Ctx = unknown> {
  (request: Request, context?: Ctx): Promise<Response>;
  /** The configured channel authorization route. */
  readonly route: RouteDefinition;
  /** The user authentication route, unless `userAuthRoute: false`. */
  readonly userRoute?: RouteDefinition;
  /** Every route answered: the configured one, Echo's `/broadcasting/auth` (unless turned off), the user route. */
  readonly routes: readonly RouteDefinition[];
}

const TOO_LARGE = Symbol('too large');
const TIMED_OUT = Symbol('timed out');
const INCOMPLETE = Symbol('incomplete');

/** A JSON answer, with the headers every answer of the Node handler carries. */
function json(answer: Answer, allow?: string): Response {
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };
  if (allow !== undefined) headers.allow = allow;
  return new Response(JSON.stringify(answer.body), { status: answer.status, headers });
}

/**
 * At most `limit` bytes of the body as UTF-8 text, within `timeoutMs`, or why not. Past the limit or the time
 * the stream is cancelled: nothing more is read.
 */
async function readText(request: Request, limit: number, timeoutMs: number): Promise<string | typeof TOO_LARGE | typeof TIMED_OUT | typeof INCOMPLETE> {
  const stream = request.body;
  if (stream === null) return '';
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), timeoutMs);
  });
  const stop = <T>(why: T): T => {
    reader.cancel().catch(() => {});
    return why;
  };
  try {
    for (;;) {
      const step = await Promise.race([reader.read(), late]);
      if (step === TIMED_OUT) return stop(TIMED_OUT);
      if (step.done) break;
      size += step.value.byteLength;
      if (size > limit) return stop(TOO_LARGE);
      chunks.push(step.value);
    }
  } catch {
    // The client went away mid-body.
    return INCOMPLETE;
  } finally {
    clearTimeout(timer);
  }
  const decoder = new TextDecoder();
  if (chunks.length === 1) return decoder.decode(chunks[0]);
  const all = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.byteLength;
  }
  return decoder.decode(all);
}

/**
 * Creates the auth route as a fetch handler. It answers the configured route (`/broadcasting/authorize` by
 * default), Laravel Echo's default `/broadcasting/auth`, and the user authentication route
 * `/broadcasting/user-auth`; other paths get 404.
 *
 * ```ts
 * // app/broadcasting/auth/route.ts (Next.js App Router)
 * export const POST = createFetchAuthHandler(broadcast, { user: async () => (await auth())?.user ?? null });
 * // Hono
 * app.post('/broadcasting/auth', (c) => handler(c.req.raw, c));
 * // Bun, Deno, Cloudflare Workers
 * export default { fetch: handler };
 * ```
 *
 * Throws a ConfigError at once when the connection cannot sign (log/null driver), a channel rule or the
 * route path is invalid, as `createAuthHandler` does.
 */
export function createFetchAuthHandler<Ctx = unknown>(broadcast: Broadcast, options: FetchAuthHandlerOptions<Ctx>): FetchAuthHandler<Ctx> {
  const core = createResponder<Request, Ctx | undefined>(
    broadcast,
    options as AuthRouteOptions<Request, Ctx | undefined>,
    createWebSigner(credentialsOf(broadcast)),
    'createFetchAuthHandler',
  );
  const { maxBodyBytes, bodyTimeoutMs } = core;

  const handler = async (request: Request, context?: Ctx): Promise<Response> => {
    try {
      const matched = core.match(pathnameOf(request.url));
      if (matched === undefined) return json(NOT_FOUND);
      if (request.method !== 'POST') return json(core.methodNotAllowed(matched), 'POST');
      const type = mediaType(request.headers.get('content-type') ?? undefined);
      const refused = core.refuseHeaders(type, request.headers.get('content-length') ?? undefined);
      if (refused) return json(refused);
      const body = await readText(request, maxBodyBytes, bodyTimeoutMs);
      let answer: Answer | AuthorizeFailure;
      if (typeof body === 'string') answer = await core.respond(matched, request, context, parseBody(type, body));
      else if (body === TOO_LARGE) answer = tooLarge(maxBodyBytes);
      else if (body === TIMED_OUT) answer = failure(408, 'request_timeout', `The request body did not arrive within ${bodyTimeoutMs} ms`);
      else answer = failure(400, 'invalid_request', 'The request body was incomplete');
      return json(answer);
    } catch (error) {
      return json(core.internalError(error));
    }
  };
  return Object.assign(handler, core.userRoute ? { route: core.route, userRoute: core.userRoute, routes: core.routes } : { route: core.route, routes: core.routes });
}

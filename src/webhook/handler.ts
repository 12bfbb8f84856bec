/**
 * Ready-made webhook endpoints: `createWebhookHandler` for Node's `http` (and Express/Connect), and
 * `createFetchWebhookHandler` for `Request`/`Response` runtimes (Next.js route handlers, Hono, Deno, Bun).
 * Both read the raw body, verify it (signature, age, keys), hand each typed event to `onEvent` in order,
 * and answer: 200 when every event was handled, 401 for a bad signature or a stale webhook, 400/413/415 for
 * what is not a webhook, 500 when `onEvent` threw or an encrypted event does not decrypt (Pusher retries).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigError } from '../core/errors.js';
import { mediaType } from '../auth/form.js';
import { matchesPath } from '../auth/handler.js';
import { validateRoutePath } from '../auth/routes.js';
import { send } from '../auth/response.js';
import {
  checkedApps,
  verifyWebhook,
  type VerifyWebhookOptions,
  type Webhook,
  type WebhookApp,
  type WebhookEvent,
  type WebhookRefusal,
} from './verify.js';
import type { PusherWebhookEvent } from './events.js';

/** Default body limit: Pusher batches events into one POST, each small. */
export const DEFAULT_WEBHOOK_MAX_BODY_BYTES = 1024 * 1024;
/** Default time for the body to arrive. */
export const DEFAULT_WEBHOOK_BODY_TIMEOUT_MS = 10_000;

/** What `onEvent` learns beside the event: which app signed the webhook, when it was sent, the whole body. */
export interface WebhookContext {
  key: string;
  /** `time_ms` of the webhook. */
  timeMs: number;
  /** The whole webhook as sent (its other events, in the wire format). */
  webhook: Webhook;
}

/** Why a request was refused, for `onRejected` (logs, `broadcast webhook:listen`). */
export interface WebhookRejection {
  status: number;
  /** A verification failure (`signature-mismatch`, `stale`, …) or an HTTP-level one (`method`, `media-type`, `too-large`, `handler-error`). */
  reason: WebhookRefusal | 'method' | 'media-type' | 'too-large' | 'timeout' | 'handler-error';
  message: string;
}

export interface WebhookHandlerOptions extends Omit<VerifyWebhookOptions, 'apps'> {
  /** The app(s) whose secret signs the webhooks; several with one key to rotate a secret. */
  apps: WebhookApp | readonly WebhookApp[];
  /** Called for each typed event, in order; may be async (the answer waits). If it throws, the answer is 500. */
  onEvent: (event: PusherWebhookEvent, context: WebhookContext) => unknown;
  /** Events of kinds this version does not know (default: ignored). */
  onOtherEvent?: (event: WebhookEvent, context: WebhookContext) => unknown;
  /** Every refused request, with why (default: nothing). */
  onRejected?: (rejection: WebhookRejection) => void;
  /** `onEvent` threw, or the master key does not decrypt an event (default: one line on stderr). */
  onError?: (error: unknown) => void;
  /** Largest body accepted, in bytes (default 1 MB); larger gets 413. */
  maxBodyBytes?: number;
}

export interface NodeWebhookHandlerOptions extends WebhookHandlerOptions {
  /** Only this path is answered (others go to `next()`, or 404); default: every path. */
  path?: string;
  /** Time for the body to arrive, in ms (default 10 s); slower gets 408. */
  bodyTimeoutMs?: number;
}

/** An answer: its status and JSON body. */
interface Answer {
  status: number;
  body: unknown;
}

function refusal(status: number, code: string, message: string): Answer {
  return { status, body: { error: { code, message } } };
}

const STATUS: Record<WebhookRefusal, [number, string]> = {
  'missing-signature': [401, 'invalid_signature'],
  'unknown-key': [401, 'invalid_signature'],
  'signature-mismatch': [401, 'invalid_signature'],
  stale: [401, 'stale'],
  'malformed-body': [400, 'invalid_request'],
  'unsupported-body': [400, 'invalid_request'],
  'decryption-failed': [500, 'decryption_failed'],
};

function defaultOnError(error: unknown): void {
  console.error(`[pusher-broadcast] webhook handler: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
}

/** The shared part of both handlers: options checked once, then body and headers to an answer. */
function webhookProcessor(options: WebhookHandlerOptions) {
  if (!options || typeof options.onEvent !== 'function') {
    throw new ConfigError('createWebhookHandler needs an onEvent(event, context) function');
  }
  const apps = checkedApps(options.apps);
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_WEBHOOK_MAX_BODY_BYTES;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 1) throw new ConfigError('createWebhookHandler: maxBodyBytes must be a whole number >= 1');
  const verifyOptions: VerifyWebhookOptions = {
    apps,
    ...(options.maxAgeMs !== undefined ? { maxAgeMs: options.maxAgeMs } : {}),
    ...(options.now ? { now: options.now } : {}),
  };
  // Checked now, not at the first webhook.
  if (verifyOptions.maxAgeMs !== undefined && verifyOptions.maxAgeMs !== false && !(typeof verifyOptions.maxAgeMs === 'number' && verifyOptions.maxAgeMs >= 0)) {
    throw new ConfigError('createWebhookHandler: maxAgeMs must be a number of milliseconds >= 0, or false');
  }
  const onError = options.onError ?? defaultOnError;
  const reject = (answer: Answer, reason: WebhookRejection['reason']): Answer => {
    try {
      options.onRejected?.({ status: answer.status, reason, message: (answer.body as { error: { message: string } }).error.message });
    } catch {
      // A failing logger must not change the answer.
    }
    return answer;
  };
  const report = (error: unknown) => {
    try {
      onError(error);
    } catch {
      // as above
    }
  };

  return {
    maxBodyBytes,
    /** A refusal before the body is read (method, media type, size), reported to onRejected. */
    early(status: number, code: string, message: string, reason: WebhookRejection['reason']): Answer {
      return reject(refusal(status, code, message), reason);
    },
    /** Checks the Content-Type: JSON, with or without parameters (`application/json; charset=utf-8`). */
    mediaTypeProblem(contentType: string | null | undefined): Answer | undefined {
      const type = mediaType(contentType ?? '');
      if (type === 'application/json') return undefined;
      return reject(refusal(415, 'unsupported_media_type', `Webhooks are application/json, not ${JSON.stringify(type || 'no Content-Type')}`), 'media-type');
    },
    async process(body: unknown, signature: string | undefined, key: string | undefined): Promise<Answer> {
      const verification = verifyWebhook({ body, signature, ...(key !== undefined ? { key } : {}) }, verifyOptions);
      if (!verification.valid) {
        const [status, code] = STATUS[verification.reason];
        if (verification.reason === 'decryption-failed') report(new ConfigError(verification.message));
        return reject(refusal(status, code, verification.message), verification.reason);
      }
      const context: WebhookContext = { key: verification.key, timeMs: verification.webhook.time_ms, webhook: verification.webhook };
      try {
        for (const event of verification.events) await options.onEvent(event, context);
        for (const event of verification.otherEvents) await options.onOtherEvent?.(event, context);
      } catch (error) {
        report(error);
        return reject(refusal(500, 'handler_error', 'The webhook could not be handled'), 'handler-error');
      }
      return { status: 200, body: { ok: true, events: verification.events.length + verification.otherEvents.length } };
    },
  };
}

/** A header's single value (the first of a repeated one). */
function headerOf(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * A webhook endpoint for Node's `http`, Express and Connect: `(req, res, next?)`.
 *
 * ```ts
 * const webhooks = createWebhookHandler({
 *   apps: { key: process.env.PUSHER_APP_KEY!, secret: process.env.PUSHER_APP_SECRET! },
 *   onEvent: (event) => { if (event.name === 'member_added') markOnline(event.userId); },
 * });
 * app.post('/webhooks/pusher', webhooks);          // Express: no JSON body parser before it
 * ```
 *
 * With Express, mount it before `express.json()` (or give it `express.raw({ type: 'application/json' })`):
 * the signature covers the raw bytes. Throws a ConfigError at once for an app without key or secret.
 */
export function createWebhookHandler(options: NodeWebhookHandlerOptions): (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => Promise<void> {
  const processor = webhookProcessor(options);
  const bodyTimeoutMs = options.bodyTimeoutMs ?? DEFAULT_WEBHOOK_BODY_TIMEOUT_MS;
  if (!Number.isInteger(bodyTimeoutMs) || bodyTimeoutMs < 1) throw new ConfigError('createWebhookHandler: bodyTimeoutMs must be a whole number of milliseconds >= 1');
  const path = options.path === undefined ? undefined : validateRoutePath(options.path, 'the path option', 'webhook path');

  return async (req, res, next) => {
    try {
      if (path !== undefined && !matchesPath(req, path)) {
        if (next) return next();
        return finish(req, res, refusal(404, 'not_found', 'Not found'));
      }
      if (req.method !== 'POST') return finish(req, res, processor.early(405, 'method_not_allowed', 'Use POST for webhooks', 'method'), 'POST');
      const wrongType = processor.mediaTypeProblem(req.headers['content-type']);
      if (wrongType) return finish(req, res, wrongType);
      const body = await rawBody(req, processor.maxBodyBytes, bodyTimeoutMs);
      if (body === 'too-large') return finish(req, res, processor.early(413, 'payload_too_large', `The body is larger than ${processor.maxBodyBytes} bytes`, 'too-large'));
      if (body === 'timeout') {
        // The rest of a stalled body is not worth waiting for: answer, then drop the connection.
        send(res, processor.early(408, 'request_timeout', `The body did not arrive within ${bodyTimeoutMs} ms`, 'timeout'), undefined, true);
        return;
      }
      const answer = await processor.process(body, headerOf(req.headers['x-pusher-signature']), headerOf(req.headers['x-pusher-key']));
      send(res, answer);
    } catch (error) {
      // A bug here, never the request's content.
      defaultOnError(error);
      send(res, refusal(500, 'internal_error', 'Internal error'));
    }
  };
}

/**
 * A webhook endpoint for `Request`/`Response` runtimes: `(request) => Promise<Response>`.
 *
 * ```ts
 * // app/webhooks/pusher/route.ts (Next.js)
 * export const POST = createFetchWebhookHandler({ apps: { key, secret }, onEvent: async (event) => { … } });
 * ```
 */
export function createFetchWebhookHandler(options: WebhookHandlerOptions): (request: Request) => Promise<Response> {
  const processor = webhookProcessor(options);
  const json = (answer: Answer, allow?: string) =>
    new Response(JSON.stringify(answer.body), {
      status: answer.status,
      headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...(allow ? { allow } : {}) },
    });
  return async (request) => {
    try {
      if (request.method !== 'POST') return json(processor.early(405, 'method_not_allowed', 'Use POST for webhooks', 'method'), 'POST');
      const wrongType = processor.mediaTypeProblem(request.headers.get('content-type'));
      if (wrongType) return json(wrongType);
      const declared = Number(request.headers.get('content-length') ?? 0);
      const tooLarge = () => json(processor.early(413, 'payload_too_large', `The body is larger than ${processor.maxBodyBytes} bytes`, 'too-large'));
      if (declared > processor.maxBodyBytes) return tooLarge();
      const body = new Uint8Array(await request.arrayBuffer());
      if (body.byteLength > processor.maxBodyBytes) return tooLarge();
      const answer = await processor.process(body, request.headers.get('x-pusher-signature') ?? undefined, request.headers.get('x-pusher-key') ?? undefined);
      return json(answer);
    } catch (error) {
      defaultOnError(error);
      return json(refusal(500, 'internal_error', 'Internal error'));
    }
  };
}

/** Sends an answer to a request whose body was not read, dropping the rest of the body. */
function finish(req: IncomingMessage, res: ServerResponse, answer: Answer, allow?: string): void {
  send(res, answer, allow);
  req.resume();
}

/**
 * The raw body as bytes, at most `limit` of them within `timeoutMs`; a body an Express/Connect parser already
 * read is taken from `req.body` (verifyWebhook refuses a parsed object, naming the fix).
 */
function rawBody(req: IncomingMessage, limit: number, timeoutMs: number): Promise<unknown> {
  const parsed = (req as { body?: unknown }).body;
  if (parsed !== undefined && ((req as { _body?: unknown })._body === true || req.readableEnded)) return Promise.resolve(parsed);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (value: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(value);
    };
    const timer = setTimeout(() => settle('timeout'), timeoutMs);
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > limit) return settle('too-large');
      chunks.push(chunk);
    });
    req.on('end', () => settle(Buffer.concat(chunks, size)));
    req.on('error', () => settle('timeout'));
  });
}


/**
 * Pusher webhooks: checking the `X-Pusher-Signature` header (hex HMAC-SHA256 of the raw body with the app
 * secret, compared in constant time), the age of the webhook (`time_ms`), and decoding the body into typed
 * events (decrypting client events of encrypted channels). Pure: for web apps that receive webhooks (see
 * webhook/handler.ts for ready-made handlers), and for `broadcast webhook:verify` and `webhook:listen`.
 */
import { hmacHex, safeEqual } from '../auth/sign.js';
import { ConfigError } from '../core/errors.js';
import { WEBHOOK_DEFAULTS } from './defaults.js';
import { DecryptionError, typedEvent, type PusherWebhookEvent } from './events.js';

export type * from './events.js';

/** How old (or how far in the future) a webhook's `time_ms` may be, by default: 5 minutes. */
export const DEFAULT_WEBHOOK_MAX_AGE_MS = WEBHOOK_DEFAULTS.maxAgeMs;

/** One webhook event: `channel_occupied`, `channel_vacated`, `member_added`, `member_removed`, `client_event`, … */
export interface WebhookEvent {
  name: string;
  channel?: string;
  /** client_event: the event name. */
  event?: string;
  /** client_event: the payload, as sent (a string). */
  data?: string;
  socket_id?: string;
  /** member_added / member_removed / client_event on presence channels. */
  user_id?: string;
  [field: string]: unknown;
}

/** A decoded webhook body. */
export interface Webhook {
  time_ms: number;
  events: WebhookEvent[];
}

/**
 * An app a webhook may come from: any pusher connection has these fields. Several apps may share a key
 * with different secrets, to rotate a secret: the webhook is valid when any of them signed it.
 */
export interface WebhookApp {
  key: string;
  secret: string;
  /** Decrypts client events of `private-encrypted-` channels (32 bytes, base64; empty or absent: not decrypted). */
  encryptionMasterKeyBase64?: string;
}

/** verifyWebhook's options (the form `verifyWebhook(request, { apps, maxAgeMs })`). */
export interface VerifyWebhookOptions {
  apps: WebhookApp | readonly WebhookApp[];
  /**
   * Refuse a webhook whose `time_ms` is further than this from now, in milliseconds (reason `stale`): a
   * replayed or long-delayed webhook. Default 5 minutes in this form; `false` to accept any age.
   */
  maxAgeMs?: number | false;
  /** The clock, in ms since the epoch (default `Date.now`). */
  now?: () => number;
}

export interface WebhookRequest {
  /**
   * The raw body, exactly as received: a string or bytes (a `Buffer`, any typed array, an ArrayBuffer). A
   * re-serialized JSON object will not match, and an already parsed body (an object) gives `unsupported-body`.
   */
  body: unknown;
  /** The `X-Pusher-Signature` header. */
  signature: string | undefined;
  /** The `X-Pusher-Key` header: picks the app when several are given. */
  key?: string;
}

export type WebhookVerification =
  | {
      valid: true;
      key: string;
      /** The body as Pusher sent it (`time_ms`, `events` in the wire format). */
      webhook: Webhook;
      /** The events, typed (camelCase), encrypted client event data decrypted when the app has a master key. */
      events: PusherWebhookEvent[];
      /** Events of a kind this version does not know, or without the fields Pusher documents for theirs. */
      otherEvents: WebhookEvent[];
    }
  | {
      valid: false;
      reason: WebhookRefusal;
      message: string;
    };

/** Why a webhook was refused. `stale`: `time_ms` is too far from now; `decryption-failed`: the master key does not open a client event. */
export type WebhookRefusal =
  | 'missing-signature'
  | 'unknown-key'
  | 'signature-mismatch'
  | 'stale'
  | 'malformed-body'
  | 'unsupported-body'
  | 'decryption-failed';

/** The bytes of a raw body, or undefined when it is not one (an object a body parser made, null, …). */
function bytesOf(body: unknown): Buffer | string | undefined {
  if (typeof body === 'string') return body;
  if (ArrayBuffer.isView(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  return undefined;
}

/**
 * The apps, checked: a missing or empty secret is a configuration mistake (`process.env.PUSHER_APP_SECRET!`
 * while the variable is unset), never a key to sign with: HMAC with the text "undefined" or an empty key is
 * something anyone can compute.
 */
export function checkedApps(apps: WebhookApp | readonly WebhookApp[]): readonly WebhookApp[] {
  const list = (Array.isArray(apps) ? apps : [apps]) as readonly unknown[];
  if (list.length === 0) throw new ConfigError('verifyWebhook: no app to check the webhook against', { hint: 'Pass { key, secret }, or an array of them' });
  list.forEach((app, i) => {
    const which = list.length === 1 ? 'the app' : `app ${i}`;
    if (app === null || typeof app !== 'object') throw new ConfigError(`verifyWebhook: ${which} must be an object { key, secret }`);
    const { key, secret } = app as Partial<Record<'key' | 'secret', unknown>>;
    checkSecret(secret, `verifyWebhook: ${typeof key === 'string' && key !== '' ? `${which} (key ${JSON.stringify(key)})` : which}`);
    if (typeof key !== 'string' || key === '') {
      throw new ConfigError(`verifyWebhook: ${which} has ${key === undefined ? 'no key' : 'an empty or non-string key'}`, { hint: 'Set PUSHER_APP_KEY (or the key you pass)' });
    }
    // An empty value (a variable set to nothing in .env) is no key, as for connections.
    const master = (app as WebhookApp).encryptionMasterKeyBase64;
    if (master !== undefined && master !== '' && (typeof master !== 'string' || Buffer.from(master, 'base64').length !== 32)) {
      throw new ConfigError(`verifyWebhook: ${which} (key ${JSON.stringify(key)}) has an encryptionMasterKeyBase64 that is not 32 bytes in base64`, {
        hint: 'Set PUSHER_ENCRYPTION_MASTER_KEY_BASE64 to the master key the app encrypts with (openssl rand -base64 32)',
      });
    }
  });
  return list as readonly WebhookApp[];
}

/** Throws a ConfigError unless `secret` is a non-empty string. */
function checkSecret(secret: unknown, what: string): asserts secret is string {
  if (typeof secret !== 'string' || secret === '') {
    throw new ConfigError(`${what} has ${secret === undefined ? 'no secret' : secret === '' ? 'an empty secret' : 'a secret that is not a string'}`, {
      hint: 'Set PUSHER_APP_SECRET (or the secret you pass): webhooks cannot be signed or verified without it',
    });
  }
}

/**
 * The `X-Pusher-Signature` value for a body: hex HMAC-SHA256 with the app secret. Throws a ConfigError for a
 * missing or empty secret, and a TypeError for a body that is not text or bytes.
 */
export function webhookSignature(body: string | Uint8Array | ArrayBuffer | ArrayBufferView, secret: string): string {
  checkSecret(secret, 'webhookSignature: the app');
  const bytes = bytesOf(body);
  if (bytes === undefined) throw new TypeError('webhookSignature: the body must be a string or bytes (a Buffer, a typed array or an ArrayBuffer)');
  return hmacHex(secret, bytes);
}

/**
 * Checks a webhook's signature against the app (or, with several apps, those with the `key`; without a key
 * each app is tried), its age, and decodes its body into typed events. Never throws for what the request
 * holds, whatever its type: the result says why it is invalid. Throws a ConfigError when an app has no key
 * or no secret (a missing or empty `PUSHER_APP_SECRET`), which would otherwise let anyone sign a webhook.
 *
 * ```ts
 * const result = verifyWebhook(
 *   { body: rawBody, signature: req.headers['x-pusher-signature'], key: req.headers['x-pusher-key'] },
 *   { apps: { key, secret, encryptionMasterKeyBase64 } },   // maxAgeMs: 5 minutes unless given
 * );
 * if (!result.valid) return res.status(401).end();
 * for (const event of result.events) if (event.name === 'member_added') …event.userId
 * ```
 *
 * Given the apps directly (`verifyWebhook(request, app)`, the form of 0.1), the age is checked only when
 * `maxAgeMs` is passed in the third argument.
 */
export function verifyWebhook(request: WebhookRequest, options: VerifyWebhookOptions): WebhookVerification;
export function verifyWebhook(request: WebhookRequest, apps: WebhookApp | readonly WebhookApp[], options?: Omit<VerifyWebhookOptions, 'apps'>): WebhookVerification;
export function verifyWebhook(
  request: WebhookRequest,
  appsOrOptions: WebhookApp | readonly WebhookApp[] | VerifyWebhookOptions,
  extra: Omit<VerifyWebhookOptions, 'apps'> = {},
): WebhookVerification {
  const withOptions = isOptions(appsOrOptions);
  const options: Omit<VerifyWebhookOptions, 'apps'> = withOptions ? appsOrOptions : extra;
  const list = checkedApps(withOptions ? appsOrOptions.apps : appsOrOptions);
  const maxAgeMs = options.maxAgeMs ?? (withOptions ? DEFAULT_WEBHOOK_MAX_AGE_MS : false);
  if (maxAgeMs !== false && !(typeof maxAgeMs === 'number' && maxAgeMs >= 0)) throw new ConfigError('verifyWebhook: maxAgeMs must be a number of milliseconds >= 0, or false');
  const { body, signature: header, key } = (request ?? {}) as Partial<WebhookRequest>;
  const bytes = bytesOf(body);
  if (bytes === undefined) {
    const got = body === null ? 'null' : body === undefined ? 'nothing' : Array.isArray(body) ? 'an array' : `a${typeof body === 'object' ? 'n object' : ` ${typeof body}`}`;
    return {
      valid: false,
      reason: 'unsupported-body',
      message:
        `The body must be the raw request body (a string or bytes), not ${got}: verify before any JSON body parser, ` +
        "e.g. with express.raw({ type: 'application/json' }) (which leaves {} when the Content-Type does not match)",
    };
  }
  const signature = typeof header === 'string' ? header.trim().toLowerCase() : '';
  if (signature === '') {
    return { valid: false, reason: 'missing-signature', message: 'The webhook has no X-Pusher-Signature' };
  }
  const candidates = key === undefined ? list : list.filter((app) => app.key === key);
  if (candidates.length === 0) {
    return { valid: false, reason: 'unknown-key', message: `No app with key ${JSON.stringify(key)} is configured` };
  }
  // Every candidate is checked, so the time taken does not tell which one matched.
  let matched: WebhookApp | undefined;
  for (const app of candidates) {
    if (safeEqual(hmacHex(app.secret, bytes), signature) && !matched) matched = app;
  }
  if (!matched) {
    return { valid: false, reason: 'signature-mismatch', message: 'The signature does not match the body (wrong secret, or the body was changed)' };
  }
  const webhook = parseWebhook(bytes);
  if (!webhook) {
    return { valid: false, reason: 'malformed-body', message: 'The signature matches, but the body is not a webhook (JSON with time_ms and events)' };
  }
  if (maxAgeMs !== false) {
    const age = (options.now ?? Date.now)() - webhook.time_ms;
    if (Math.abs(age) > maxAgeMs) {
      const apart = `${Math.round(Math.abs(age) / 1000)} s ${age >= 0 ? 'ago' : 'in the future'}`;
      return {
        valid: false,
        reason: 'stale',
        message: `The webhook's time_ms is ${apart}, beyond the ${Math.round(maxAgeMs / 1000)} s allowed (a replayed or long-delayed webhook, or clocks apart)`,
      };
    }
  }
  const events: PusherWebhookEvent[] = [];
  const otherEvents: WebhookEvent[] = [];
  try {
    for (const raw of webhook.events) {
      const typed = typedEvent(raw, matched.encryptionMasterKeyBase64);
      if (typed) events.push(typed);
      else otherEvents.push(raw);
    }
  } catch (error) {
    if (error instanceof DecryptionError) return { valid: false, reason: 'decryption-failed', message: error.message };
    throw error;
  }
  return { valid: true, key: matched.key, webhook, events, otherEvents };
}

/** The options form `{ apps, … }`, told from an app (`{ key, secret }`) or a list of apps. */
function isOptions(value: unknown): value is VerifyWebhookOptions {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && 'apps' in value;
}

/** Decodes a webhook body, or returns undefined when it is not JSON of the form `{ time_ms, events: [...] }` (or not text or bytes at all). */
export function parseWebhook(body: unknown): Webhook | undefined {
  const bytes = bytesOf(body);
  if (bytes === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  const v = value as { time_ms?: unknown; events?: unknown } | null;
  if (typeof v !== 'object' || v === null || typeof v.time_ms !== 'number' || !Array.isArray(v.events)) return undefined;
  if (!v.events.every((e) => typeof e === 'object' && e !== null && typeof (e as { name?: unknown }).name === 'string')) return undefined;
  return { time_ms: v.time_ms, events: v.events as WebhookEvent[] };
}

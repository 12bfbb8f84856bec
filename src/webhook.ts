/**
 * Pusher webhooks: checking the `X-Pusher-Signature` header (hex HMAC-SHA256 of the raw body with the app
 * secret, compared in constant time) and decoding the body. Pure: for web apps that receive webhooks, and
 * for `broadcast webhook:verify`.
 */
import { hmacHex, safeEqual } from './auth/sign.js';

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

/** An app a webhook may come from: any pusher connection has these fields. */
export interface WebhookApp {
  key: string;
  secret: string;
}

export interface WebhookRequest {
  /** The raw body, exactly as received (a re-serialized JSON object will not match). */
  body: string | Uint8Array;
  /** The `X-Pusher-Signature` header. */
  signature: string | undefined;
  /** The `X-Pusher-Key` header: picks the app when several are given. */
  key?: string;
}

export type WebhookVerification =
  | { valid: true; key: string; webhook: Webhook }
  | { valid: false; reason: 'missing-signature' | 'unknown-key' | 'signature-mismatch' | 'malformed-body'; message: string };

/** The `X-Pusher-Signature` value for a body: hex HMAC-SHA256 with the app secret. */
export function webhookSignature(body: string | Uint8Array, secret: string): string {
  return hmacHex(secret, typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength));
}

/**
 * Checks a webhook's signature against the app (or, with several apps, the one named by `key`; without a
 * key each app is tried) and decodes its body. Never throws for bad input: the result says why it is invalid.
 *
 * ```ts
 * const result = verifyWebhook({ body: rawBody, signature: req.headers['x-pusher-signature'], key: req.headers['x-pusher-key'] }, app);
 * if (!result.valid) return res.status(401).end();
 * for (const event of result.webhook.events) …
 * ```
 */
export function verifyWebhook(request: WebhookRequest, apps: WebhookApp | readonly WebhookApp[]): WebhookVerification {
  const list = (Array.isArray(apps) ? apps : [apps]) as readonly WebhookApp[];
  const signature = typeof request.signature === 'string' ? request.signature.trim().toLowerCase() : '';
  if (signature === '') {
    return { valid: false, reason: 'missing-signature', message: 'The webhook has no X-Pusher-Signature' };
  }
  const candidates = request.key === undefined ? list : list.filter((app) => app.key === request.key);
  if (candidates.length === 0) {
    return { valid: false, reason: 'unknown-key', message: `No app with key ${JSON.stringify(request.key)} is configured` };
  }
  // Every candidate is checked, so the time taken does not tell which one matched.
  let matched: WebhookApp | undefined;
  for (const app of candidates) {
    if (safeEqual(webhookSignature(request.body, String(app.secret)), signature) && !matched) matched = app;
  }
  if (!matched) {
    return { valid: false, reason: 'signature-mismatch', message: 'The signature does not match the body (wrong secret, or the body was changed)' };
  }
  const webhook = parseWebhook(request.body);
  if (!webhook) {
    return { valid: false, reason: 'malformed-body', message: 'The signature matches, but the body is not a webhook (JSON with time_ms and events)' };
  }
  return { valid: true, key: matched.key, webhook };
}

/** Decodes a webhook body, or returns undefined when it is not JSON of the form `{ time_ms, events: [...] }`. */
export function parseWebhook(body: string | Uint8Array): Webhook | undefined {
  let value: unknown;
  try {
    value = JSON.parse(typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
  const v = value as { time_ms?: unknown; events?: unknown } | null;
  if (typeof v !== 'object' || v === null || typeof v.time_ms !== 'number' || !Array.isArray(v.events)) return undefined;
  if (!v.events.every((e) => typeof e === 'object' && e !== null && typeof (e as { name?: unknown }).name === 'string')) return undefined;
  return { time_ms: v.time_ms, events: v.events as WebhookEvent[] };
}

/**
 * The `pusher` driver: the official `pusher` library over a keep-alive agent, with retries for requests
 * that surely did not reach the server and for answers that ask to try again (429, 503).
 */
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import type PusherClient from 'pusher';
import { connectionUrl, type PusherConnection } from '../config.js';
import { DeliveryError } from '../errors.js';
import type { Driver } from './types.js';

const require = createRequire(import.meta.url);

/** Connection errors that prove the request never reached the server. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

export interface PusherDriverOptions {
  /** Called before each retry; for --verbose logging. */
  onRetry?: (info: { attempt: number; delayMs: number; error: DeliveryError }) => void;
  /** Called after each HTTP request; for --verbose logging. */
  onRequest?: (info: { method: string; path: string; status?: number; ms: number }) => void;
}

export function createPusherDriver(connectionName: string, connection: PusherConnection, options: PusherDriverOptions = {}): Driver {
  const url = connectionUrl(connection);
  const tls = url.startsWith('https:');
  const agent = new (tls ? https : http).Agent({ keepAlive: true, maxSockets: 64 });
  const retries = connection.retries ?? 3;
  let client: PusherClient | undefined;

  const pusher = (): PusherClient => {
    if (!client) {
      const Pusher = require('pusher') as typeof PusherClient;
      client = new Pusher({
        appId: String(connection.appId),
        key: String(connection.key),
        secret: String(connection.secret),
        cluster: connection.cluster ?? 'mt1',
        host: new URL(url).hostname,
        port: String(new URL(url).port || (tls ? 443 : 80)),
        useTLS: tls,
        timeout: connection.timeout ?? 10_000,
        agent,
        encryptionMasterKeyBase64: connection.encryptionMasterKeyBase64,
      } as PusherClient.Options);
    }
    return client;
  };

  /**
   * Runs one API call with retries and returns the parsed JSON body. Some servers (soketi 1.6) answer
   * errors with HTTP 200 and `{"error", "code"}` in the body, so the body is checked as well as the status.
   */
  async function send(method: string, path: string, op: (p: PusherClient) => Promise<{ text(): Promise<string> }>): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      try {
        const text = await (await op(pusher())).text();
        const body = parseBody(text);
        if (isErrorBody(body)) throw { status: body.code, body: text };
        options.onRequest?.({ method, path, status: 200, ms: performance.now() - started });
        return body;
      } catch (raw) {
        const error = toDeliveryError(raw, connectionName, connection, url);
        options.onRequest?.({ method, path, status: error.status, ms: performance.now() - started });
        if (!error.retryable || attempt >= retries) throw error;
        const delayMs = Math.round(Math.min(4000, 250 * 2 ** attempt) * (0.5 + Math.random() / 2));
        options.onRetry?.({ attempt: attempt + 1, delayMs, error });
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  }

  return {
    driver: 'pusher',
    delivers: true,
    async trigger({ channels, event, data, socketId }) {
      await send('POST', '/events', (p) => p.trigger(channels, event, data, socketId ? { socket_id: socketId } : undefined));
    },
    async triggerBatch(events) {
      const batch = events.map((e) => ({
        channel: e.channel,
        name: e.event,
        data: e.data,
        ...(e.socketId ? { socket_id: e.socketId } : {}),
      }));
      await send('POST', '/batch_events', (p) => p.triggerBatch(batch as PusherClient.BatchEvent[]));
    },
    async get<T>(path: string, params?: Record<string, string>): Promise<T> {
      return (await send('GET', path, (p) => p.get({ path, params }))) as T;
    },
    close() {
      agent.destroy();
    },
  };
}

function parseBody(text: string): unknown {
  try {
    return text ? JSON.parse(text) : {};
  } catch {
    return text;
  }
}

function isErrorBody(body: unknown): body is { error: unknown; code: number } {
  const b = body as { error?: unknown; code?: unknown } | null;
  return typeof b === 'object' && b !== null && b.error !== undefined && typeof b.code === 'number' && b.code >= 400;
}

interface PusherRequestError {
  message?: string;
  status?: number;
  body?: string;
  error?: { code?: string; type?: string; name?: string; message?: string };
}

/** Turns the pusher library's RequestError into a DeliveryError a user can act on. Never includes the URL. */
export function toDeliveryError(raw: unknown, name: string, connection: PusherConnection, url: string): DeliveryError {
  if (raw instanceof DeliveryError) return raw;
  const e = (raw ?? {}) as PusherRequestError;
  const status = e.status;
  const body = serverMessage(e.body);
  if (status === undefined) {
    const cause = e.error ?? {};
    const code = cause.code ?? '';
    if (cause.name === 'AbortError' || cause.type === 'aborted') {
      return new DeliveryError(`No answer from ${url} within ${connection.timeout ?? 10_000} ms`, {
        hint: 'The server may be overloaded or unreachable; raise the timeout with --timeout or the connection\'s timeout',
      });
    }
    if (code || cause.message) {
      return new DeliveryError(`Could not reach the server at ${url}: ${describeNetworkError(code, cause.message)}`, {
        retryable: NOT_SENT.has(code),
        hint: `Is the server running? Check the host and port of connection "${name}" (PUSHER_HOST, PUSHER_PORT, PUSHER_SCHEME)`,
      });
    }
    return new DeliveryError(`Request to ${url} failed: ${e.message ?? String(raw)}`);
  }
  const suffix = body ? `: ${body}` : '';
  if (status === 401 || status === 403) {
    return new DeliveryError(`The server rejected the credentials (HTTP ${status})${suffix}`, {
      status,
      hint: `Check the app id, key and secret of connection "${name}" (PUSHER_APP_ID, PUSHER_APP_KEY, PUSHER_APP_SECRET)`,
    });
  }
  if (status === 404) {
    return new DeliveryError(`The server does not know this app or path (HTTP 404)${suffix}`, {
      status,
      hint: `Check the app id of connection "${name}" (PUSHER_APP_ID) and the host`,
    });
  }
  if (status === 413) {
    return new DeliveryError(`The payload is too large for the server (HTTP 413)${suffix}`, {
      status,
      hint: 'Send less data, or lower maxPayloadKb to the server\'s limit so it is caught before sending',
    });
  }
  if (status === 429 || status === 503) {
    return new DeliveryError(`The server asked to try again later (HTTP ${status})${suffix}`, { status, retryable: true });
  }
  return new DeliveryError(`The server answered HTTP ${status}${suffix}`, { status });
}

function describeNetworkError(code: string, message?: string): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ECONNRESET':
      return 'connection reset';
    default:
      return code || (message ?? 'network error');
  }
}

function serverMessage(body: string | undefined): string {
  if (!body) return '';
  let text = body.trim();
  try {
    const parsed = JSON.parse(text) as { error?: unknown; message?: unknown };
    text = String(parsed.error ?? parsed.message ?? text);
  } catch {
    // plain text body
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

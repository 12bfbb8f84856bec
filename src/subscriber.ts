/**
 * A WebSocket subscriber for Node.js: pusher-js connected to a pusher connection, authorizing private,
 * presence and encrypted channels locally with the app secret (no auth route needed). Used by
 * `broadcast listen`, `broadcast doctor` and `broadcast bench`; pusher-js is loaded only when one is created.
 */
import { connect as tcpConnect } from 'node:net';
import type {
  Channel as PusherChannel,
  ChannelAuthorizationHandler,
  ConnectionManager,
  Options as PusherOptions,
  PresenceChannel as PusherPresenceChannel,
} from 'pusher-js';
import { presenceChannelData, sharedSecret, signChannel } from './auth/sign.js';
import { channelType } from './core/channels.js';
import { connectionUrl, type PusherConnection } from './config/schema.js';
import { ConfigError, DeliveryError, UsageError } from './core/errors.js';

/** An event received on a subscribed channel (never a `pusher:` or `pusher_internal:` one). */
export interface ReceivedEvent {
  channel: string;
  event: string;
  /** Parsed JSON when the payload was JSON, else the string as sent. */
  data: unknown;
  /** When it arrived (ms since the epoch). */
  receivedAt: number;
}

/** A presence channel member. */
export interface Member {
  id: string;
  info?: unknown;
}

/** A member joining or leaving a presence channel. */
export interface MemberChange {
  channel: string;
  action: 'added' | 'removed';
  member: Member;
  receivedAt: number;
}

export interface SubscriberOptions {
  /** Presence channels: who to join as (`info` becomes `user_info`). Required to subscribe to presence channels. */
  user?: { id: string | number; info?: unknown };
  onEvent?: (event: ReceivedEvent) => void;
  onMember?: (change: MemberChange) => void;
  /** Every connection state change (`connecting`, `connected`, `unavailable`, …). */
  onState?: (change: { previous: string; current: string }) => void;
  /**
   * The connection was lost for good after it was established (the server refused the app key, stayed
   * unreachable for `unavailableTimeout`, …). Transient drops that pusher-js recovers from are not reported.
   */
  onError?: (error: DeliveryError) => void;
  /** Give up connecting after this long (default 10000 ms). */
  connectTimeoutMs?: number;
  /** Give up waiting for a subscription to be confirmed after this long (default 10000 ms). */
  subscribeTimeoutMs?: number;
}

export interface Subscriber {
  /** The connection's socket id (pass it as `socketId` to exclude this client from an emit). */
  readonly socketId: string;
  /** Subscribes and resolves once the server confirms; rejects with a DeliveryError when refused or unanswered. */
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): void;
  /** The current members of a subscribed presence channel. */
  members(channel: string): Member[];
  /** Closes the connection; safe to call more than once. */
  disconnect(): void;
}

/** Where the WebSocket of a pusher connection is: its own host, else Pusher Channels' `ws-<cluster>.pusher.com`. */
export function webSocketAddress(connection: PusherConnection): { host: string; port: number; tls: boolean } {
  const tls = connectionUrl(connection).startsWith('https:');
  const host = connection.host ?? `ws-${connection.cluster ?? 'mt1'}.pusher.com`;
  const port = connection.host && connection.port ? Number(connection.port) : tls ? 443 : 80;
  return { host, port, tls };
}

/** Pusher protocol close codes 4000-4099: the server will not accept this connection; pusher-js does not retry. */
const FATAL_CODES: Record<number, string> = {
  4001: 'the server does not know this app key',
  4003: 'the app is disabled',
  4004: 'the app is over its connection quota',
  4005: 'the path was not found',
  4006: 'the protocol version is not supported',
  4007: 'the client is not supported',
  4009: 'the connection is not authorized',
};

/**
 * Connects to the connection's WebSocket and resolves once connected. Rejects with a DeliveryError when the
 * server is unreachable, refuses the key, or does not answer within `connectTimeoutMs`.
 */
export async function createSubscriber(connection: PusherConnection, options: SubscriberOptions = {}): Promise<Subscriber> {
  // pusher-js is CommonJS: its class is `default` (Node's interop) or `default.default` (bundlers).
  const mod = (await import('pusher-js')) as unknown as { default: PusherClass & { default?: PusherClass } };
  const Pusher = mod.default.default ?? mod.default;
  const address = webSocketAddress(connection);
  const where = `${address.tls ? 'wss' : 'ws'}://${address.host}:${address.port}`;
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const subscribeTimeoutMs = options.subscribeTimeoutMs ?? 10_000;
  const credentials = { key: String(connection.key), secret: String(connection.secret) };
  const masterKey = connection.encryptionMasterKeyBase64;
  const credentialsHint = 'Check the app id, key and secret of the connection (PUSHER_APP_ID, PUSHER_APP_KEY, PUSHER_APP_SECRET)';
  const addressHint = 'Is the server running? Check the host and port of the connection (PUSHER_HOST, PUSHER_PORT, PUSHER_SCHEME)';

  const client = new Pusher(credentials.key, {
    cluster: connection.cluster ?? 'mt1',
    wsHost: address.host,
    wsPort: address.port,
    wssPort: address.port,
    forceTLS: address.tls,
    // 'ws' covers wss too when forceTLS is set; no HTTP fallbacks in Node.
    enabledTransports: ['ws'],
    disableStats: true,
    // pusher-js gives up and reports `unavailable` after this; it also bounds how long a refused socket retries.
    unavailableTimeout: Math.min(connectTimeoutMs, 10_000),
    channelAuthorization: {
      endpoint: '/unused',
      transport: 'ajax',
      customHandler: (({ socketId, channelName }, callback) => {
        try {
          const type = channelType(channelName);
          let channelData: string | undefined;
          if (type === 'presence') {
            if (!options.user) throw new UsageError(`Joining presence channel ${channelName} needs a user id`);
            // Always send user_info: soketi leaves a member without one out of the member list it sends
            // (its hash maps the id to undefined, which JSON drops), so clients would not see the member.
            channelData = presenceChannelData(options.user.id, options.user.info ?? {});
          }
          if (type === 'encrypted' && !masterKey) {
            throw new ConfigError(`Channel ${channelName} is encrypted, but the connection has no encryptionMasterKeyBase64`);
          }
          callback(null, {
            auth: signChannel(credentials, socketId, channelName, channelData),
            ...(channelData !== undefined ? { channel_data: channelData } : {}),
            ...(type === 'encrypted' ? { shared_secret: sharedSecret(channelName, masterKey!) } : {}),
          });
        } catch (error) {
          callback(error as Error, null);
        }
      }) satisfies ChannelAuthorizationHandler,
    },
  });

  let closed = false;
  let connected = false;
  const fatal = (raw: unknown): DeliveryError | undefined => {
    const code = errorCode(raw);
    if (code === undefined || code < 4000 || code > 4099) return undefined;
    const reason = serverText(raw) ?? FATAL_CODES[code] ?? 'the server refused the connection';
    return new DeliveryError(`The server at ${where} refused the WebSocket connection (${code}): ${reason}`, { hint: credentialsHint });
  };

  const socketId = await new Promise<string>((resolve, reject) => {
    const fail = (error: DeliveryError) => {
      if (connected || closed) return;
      closed = true;
      cleanup();
      client.disconnect();
      reject(error);
    };
    const timer = setTimeout(
      () => fail(new DeliveryError(`No WebSocket connection to ${where} within ${connectTimeoutMs} ms`, { hint: addressHint })),
      connectTimeoutMs,
    );
    // pusher-js retries a refused socket silently; a plain TCP probe tells "refused" or "host not found" at once.
    const probe = tcpConnect({ host: address.host, port: address.port });
    probe.setTimeout(connectTimeoutMs);
    probe.on('connect', () => probe.destroy());
    probe.on('timeout', () => probe.destroy());
    probe.on('error', (error: NodeJS.ErrnoException) => {
      probe.destroy();
      const reason = error.code === 'ECONNREFUSED' ? 'connection refused' : error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN' ? 'host not found' : error.code ?? error.message;
      fail(new DeliveryError(`Could not reach the WebSocket server at ${where}: ${reason}`, { hint: addressHint }));
    });
    const onState = (change: { previous: string; current: string }) => {
      options.onState?.(change);
      if (change.current === 'failed') fail(new DeliveryError(`pusher-js cannot open a WebSocket to ${where} (state "failed")`, { hint: addressHint }));
      if (change.current === 'unavailable') fail(new DeliveryError(`The WebSocket server at ${where} is unavailable`, { hint: addressHint }));
    };
    const onError = (raw: unknown) => {
      const error = fatal(raw);
      if (error) fail(error);
    };
    const onConnected = () => {
      connected = true;
      cleanup();
      resolve(client.connection.socket_id);
    };
    const cleanup = () => {
      clearTimeout(timer);
      probe.destroy();
      client.connection.unbind('state_change', onState);
      client.connection.unbind('error', onError);
      client.connection.unbind('connected', onConnected);
    };
    client.connection.bind('state_change', onState);
    client.connection.bind('error', onError);
    client.connection.bind('connected', onConnected);
  });

  // After the connection is up: report state changes, and failures pusher-js will not recover from.
  let reported = false;
  const report = (error: DeliveryError) => {
    if (closed || reported) return;
    reported = true;
    options.onError?.(error);
  };
  client.connection.bind('state_change', (change: { previous: string; current: string }) => {
    if (closed) return;
    options.onState?.(change);
    if (change.current === 'unavailable' || change.current === 'failed') {
      report(new DeliveryError(`Lost the WebSocket connection to ${where} (state "${change.current}")`, { hint: addressHint }));
    }
  });
  client.connection.bind('error', (raw: unknown) => {
    const error = fatal(raw);
    if (error) report(error);
  });

  const channels = new Map<string, PusherChannel>();

  return {
    socketId,
    subscribe(name) {
      if (closed) return Promise.reject(new DeliveryError('The subscriber is disconnected'));
      const type = channelType(name);
      if (type === 'presence' && !options.user) {
        return Promise.reject(new UsageError(`Joining presence channel ${name} needs a user id`));
      }
      if (type === 'encrypted' && !masterKey) {
        return Promise.reject(new ConfigError(`Channel ${name} is encrypted, but the connection has no encryptionMasterKeyBase64`, {
          hint: 'Set PUSHER_ENCRYPTION_MASTER_KEY_BASE64 (the server\'s master key, 32 bytes in base64)',
        }));
      }
      const existing = channels.get(name);
      if (existing?.subscribed) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const channel = client.subscribe(name);
        channels.set(name, channel);
        const done = () => {
          clearTimeout(timer);
          channel.unbind('pusher:subscription_succeeded', onSucceeded);
          channel.unbind('pusher:subscription_error', onRefused);
        };
        const onSucceeded = () => {
          done();
          resolve();
        };
        const onRefused = (raw: unknown) => {
          done();
          client.unsubscribe(name);
          channels.delete(name);
          reject(subscriptionError(name, raw, credentialsHint));
        };
        const timer = setTimeout(() => {
          done();
          client.unsubscribe(name);
          channels.delete(name);
          reject(new DeliveryError(`The server did not confirm the subscription to ${name} within ${subscribeTimeoutMs} ms`, { hint: addressHint }));
        }, subscribeTimeoutMs);
        channel.bind('pusher:subscription_succeeded', onSucceeded);
        channel.bind('pusher:subscription_error', onRefused);
        channel.bind_global((event: string, data: unknown) => {
          if (event === 'pusher:member_added' || event === 'pusher:member_removed') {
            const m = data as { id: string | number; info?: unknown };
            options.onMember?.({
              channel: name,
              action: event === 'pusher:member_added' ? 'added' : 'removed',
              member: { id: String(m.id), ...(m.info !== undefined ? { info: m.info } : {}) },
              receivedAt: Date.now(),
            });
            return;
          }
          if (event.startsWith('pusher:') || event.startsWith('pusher_internal:')) return;
          options.onEvent?.({ channel: name, event, data, receivedAt: Date.now() });
        });
      });
    },
    unsubscribe(name) {
      channels.delete(name);
      if (!closed) client.unsubscribe(name);
    },
    members(name) {
      const channel = channels.get(name) as PusherPresenceChannel | undefined;
      const out: Member[] = [];
      channel?.members?.each((m: { id: string | number; info?: unknown }) => {
        out.push({ id: String(m.id), ...(m.info !== undefined ? { info: m.info } : {}) });
      });
      return out;
    },
    disconnect() {
      if (closed) return;
      closed = true;
      client.disconnect();
    },
  };
}

/** The parts of the pusher-js client used here. */
interface PusherInstance {
  connection: ConnectionManager;
  subscribe(channel: string): PusherChannel;
  unsubscribe(channel: string): void;
  disconnect(): void;
}
type PusherClass = new (key: string, options: PusherOptions) => PusherInstance;

function errorCode(raw: unknown): number | undefined {
  const e = raw as { data?: { code?: unknown }; error?: { data?: { code?: unknown } } } | null;
  const code = e?.error?.data?.code ?? e?.data?.code;
  return typeof code === 'number' ? code : undefined;
}

function serverText(raw: unknown): string | undefined {
  const e = raw as { data?: { message?: unknown }; error?: { data?: { message?: unknown } } } | null;
  const message = e?.error?.data?.message ?? e?.data?.message;
  return typeof message === 'string' && message ? message : undefined;
}

/** A refused subscription: the server's reason (a bad signature), or ours (no user, no master key). */
function subscriptionError(channel: string, raw: unknown, hint: string): DeliveryError {
  const e = (raw ?? {}) as { type?: string; error?: unknown; status?: number; data?: { message?: unknown } };
  const reason = typeof e.error === 'string' ? e.error : typeof e.data?.message === 'string' ? e.data.message : JSON.stringify(raw);
  const signed = channelType(channel) !== 'public';
  return new DeliveryError(`The server refused the subscription to ${channel}: ${reason}`, {
    status: e.status,
    hint: signed ? `The subscription was signed locally with the app secret. ${hint}` : hint,
  });
}

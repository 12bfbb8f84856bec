/**
 * A real pusher-js client for tests: subscribes to channels (authorizing private, presence and encrypted
 * channels locally with the app secret) and records every event it receives.
 */
import PusherModule, { type Options as PusherOptions } from 'pusher-js';
import { presenceChannelData, sharedSecret, signChannel } from '../../src/auth/sign.js';
import type { SoketiServer } from './soketi.js';

/**
 * pusher-js's client class. Importing this CommonJS package from ESM yields the class itself at run time,
 * but under NodeNext resolution its typings describe the module object, so the class is re-typed here.
 */
export const Pusher = PusherModule as unknown as typeof PusherModule.default;
export type Pusher = InstanceType<typeof Pusher>;

export interface Received {
  channel: string;
  event: string;
  data: unknown;
}

export interface Listener {
  client: Pusher;
  socketId: string;
  received: Received[];
  subscribe(channel: string): Promise<void>;
  /** Resolves when `count` events (matching `filter`) have arrived, rejects after `ms`. */
  waitFor(count: number, filter?: (r: Received) => boolean, ms?: number): Promise<Received[]>;
  disconnect(): void;
}

/** pusher-js options that connect to `server` over plain WebSockets (also what Laravel Echo takes). */
export function socketOptions(server: SoketiServer) {
  return {
    cluster: 'mt1',
    wsHost: server.host,
    wsPort: server.port,
    forceTLS: false,
    enabledTransports: ['ws' as const],
    disableStats: true,
  };
}

export async function listen(
  server: SoketiServer,
  options: { user?: { id: string | number; info?: unknown }; authorizer?: PusherOptions['channelAuthorization']; masterKey?: string } = {},
): Promise<Listener> {
  const client = new Pusher(server.key, {
    ...socketOptions(server),
    channelAuthorization: options.authorizer ?? {
      endpoint: '/unused',
      transport: 'ajax',
      customHandler: ({ socketId, channelName }, callback) => {
        const channelData = channelName.startsWith('presence-')
          ? presenceChannelData(options.user?.id ?? 'test-user', options.user?.info)
          : undefined;
        callback(null, {
          auth: signChannel(server, socketId, channelName, channelData),
          ...(channelData ? { channel_data: channelData } : {}),
          ...(channelName.startsWith('private-encrypted-') && options.masterKey
            ? { shared_secret: sharedSecret(channelName, options.masterKey) }
            : {}),
        } as never);
      },
    },
  });
  const socketId = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('pusher-js did not connect within 10 s')), 10_000);
    client.connection.bind('connected', () => {
      clearTimeout(timer);
      resolve(client.connection.socket_id);
    });
  });
  const received: Received[] = [];
  const waiters: (() => void)[] = [];
  client.bind_global((event: string, data: unknown) => {
    void event;
    void data;
  });
  const listener: Listener = {
    client,
    socketId,
    received,
    subscribe(channel) {
      return new Promise((resolve, reject) => {
        const subscription = client.subscribe(channel);
        const timer = setTimeout(() => reject(new Error(`subscription to ${channel} timed out`)), 10_000);
        subscription.bind('pusher:subscription_succeeded', () => {
          clearTimeout(timer);
          resolve();
        });
        subscription.bind('pusher:subscription_error', (error: unknown) => {
          clearTimeout(timer);
          reject(new Error(`subscription to ${channel} failed: ${JSON.stringify(error)}`));
        });
        subscription.bind_global((event: string, data: unknown) => {
          if (event.startsWith('pusher:') || event.startsWith('pusher_internal:')) return;
          received.push({ channel, event, data });
          for (const w of waiters.splice(0)) w();
        });
      });
    },
    waitFor(count, filter = () => true, ms = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const matching = received.filter(filter);
          if (matching.length >= count) {
            clearTimeout(timer);
            resolve(matching);
            return true;
          }
          return false;
        };
        const timer = setTimeout(
          () => reject(new Error(`expected ${count} events, got ${received.filter(filter).length} within ${ms} ms`)),
          ms,
        );
        const loop = () => {
          if (!check()) waiters.push(loop);
        };
        loop();
      });
    },
    disconnect() {
      client.disconnect();
    },
  };
  return listener;
}

/** Waits a little longer to make sure nothing more arrives (for "exactly once" and exclusion checks). */
export function settle(ms = 300): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

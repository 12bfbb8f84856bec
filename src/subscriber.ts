/**
 * A WebSocket subscriber for Node.js: pusher-js connected to a pusher connection, authorizing private,
 * presence and encrypted channels locally with the app secret (no auth route needed). Used by
 * `broadcast listen`, `broadcast doctor` and `broadcast bench`; pusher-js is loaded only when one is created.
 *
 * The steps, each a function below: `connect` (pusher-js, a TCP probe, a time limit, the caller's signal),
 * `sign` (each subscription, as an auth route would), `subscribe` (until the server confirms), `route` (events,
 * member changes and cache misses to the callbacks; pusher-js has already decrypted encrypted channels' events)
 * and `watch` (drops and losses after connecting, explained by their close codes: core/close-codes.ts).
 */
import { connect as tcpConnect } from 'node:net';
import type {
  Channel as PusherChannel,
  ChannelAuthorizationHandler,
  ConnectionManager,
  Options as PusherOptions,
  PresenceChannel as PusherPresenceChannel,
  UserAuthenticationHandler,
} from 'pusher-js';
import { createSigner, missingMasterKey, presenceChannelData, signSubscription, type AuthCredentials, type ChannelAuth, type Signer } from './auth/sign.js';
import { userAuthBody, userChannel } from './auth/users.js';
import { channelType } from './core/channels.js';
import { explainCloseCode, isRefusal, type CloseCodeInfo } from './core/close-codes.js';
import { connectionFields, connectionUrl, type PusherConnection } from './config/schema.js';
import { DeliveryError, describeNetworkError, UsageError, type BroadcastError } from './core/errors.js';

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

/** A WebSocket close code (or `pusher:error` code) the server sent, explained; `reason` is the server's own text. */
export interface CloseCode extends CloseCodeInfo {
  reason?: string;
}

/** A pusher-js connection state change (`initialized`, `connecting`, `connected`, `unavailable`, `failed`, `disconnected`). */
export interface StateChange {
  previous: string;
  current: string;
  /** Leaving `connected`: the close code the server gave for the drop, when it gave one. */
  closeCode?: CloseCode;
}

/** A cache channel (`cache-`, `private-cache-`, `presence-cache-`, `private-encrypted-cache-`) had no cached event to send on subscribing. */
export interface CacheMiss {
  channel: string;
  receivedAt: number;
}

export interface SubscriberOptions {
  /**
   * Who the connection is: presence channels are joined as this user (`info` becomes `user_info`), and
   * `signIn` signs in as them. Required for presence channels and for `signIn`.
   */
  user?: { id: string | number; info?: unknown };
  /**
   * Sign in as `user` once connected (`pusher:signin`, signed locally with the app secret), as pusher-js's
   * `signin()` does in a browser: the events sent to that user (`broadcast.sendToUser`, `emit --user`) then
   * reach `onEvent` with the channel `#server-to-user-<id>`, and a server that requires signing in (soketi's
   * user authentication) keeps the connection. `createSubscriber` resolves once the server confirms it.
   */
  signIn?: boolean;
  onEvent?: (event: ReceivedEvent) => void;
  onMember?: (change: MemberChange) => void;
  /**
   * The server had no cached event for a cache channel when it was subscribed (`pusher:cache_miss`). When it
   * has one, that event arrives through `onEvent` like any other.
   */
  onCacheMiss?: (miss: CacheMiss) => void;
  /** Every connection state change (`connecting`, `connected`, `unavailable`, …). */
  onState?: (change: StateChange) => void;
  /**
   * The connection was lost for good after it was established (the server refused the app key, stayed
   * unreachable for `unavailableTimeout`, …). Transient drops that pusher-js recovers from are not reported.
   * The subscriber disconnects, and pending subscriptions reject with the same error. When the server gave a
   * close code, the error's `details.closeCode` is a {@link CloseCode}.
   */
  onError?: (error: DeliveryError) => void;
  /**
   * The connection's name, for hints: they then name where it is set (PUSHER_* for `pusher`, REVERB_* for
   * `reverb`, else the config file).
   */
  connectionName?: string;
  /** Give up connecting after this long (default 10000 ms). */
  connectTimeoutMs?: number;
  /** Give up waiting for a subscription to be confirmed after this long (default 10000 ms). */
  subscribeTimeoutMs?: number;
  /**
   * Disconnects when aborted. While connecting, `createSubscriber` then rejects with a DeliveryError; pending
   * subscriptions reject too.
   */
  signal?: AbortSignal;
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

/**
 * Connects to the connection's WebSocket and resolves once connected. Rejects with a DeliveryError when the
 * server is unreachable, refuses the key, does not answer within `connectTimeoutMs`, or `signal` is aborted.
 */
export async function createSubscriber(connection: PusherConnection, options: SubscriberOptions = {}): Promise<Subscriber> {
  if (options.signIn && !options.user) throw new UsageError('Signing in needs a user: give `user` with `signIn`');
  const target = targetOf(connection, options);
  const credentials = { key: String(connection.key), secret: String(connection.secret) };
  const signer = createSigner({ ...credentials, encryptionMasterKeyBase64: connection.encryptionMasterKeyBase64 });
  const Pusher = await loadPusher();
  const client = new Pusher(signer.key, clientOptions(connection, target, authorizer(signer, options.user), userAuthenticator(credentials, options.user)));
  const socketId = await connect(client, target, options);
  const subscriber = new NodeSubscriber(client, { target, signer, options, socketId });
  if (options.signIn) {
    try {
      await subscriber.signIn();
    } catch (error) {
      subscriber.disconnect();
      throw error;
    }
  }
  return subscriber;
}

/** Where a subscriber connects and how long it waits: fixed at creation, read by every step. */
interface Target {
  host: string;
  port: number;
  tls: boolean;
  /** `ws://host:port`, for messages. */
  where: string;
  /** What to check, for the hints of errors. */
  hints: { credentials: string; address: string };
  connectTimeoutMs: number;
  subscribeTimeoutMs: number;
}

/**
 * A sign-in that is not confirmed. soketi 1.6 ignores `pusher:signin` unless the app requires signing in (its
 * ws-handler); Laravel Reverb does not implement it (an unknown event to it); Pusher Channels always answers.
 */
export const SIGN_IN_HINT =
  'Not every server supports signing in: Pusher Channels does; soketi answers only when the app requires it ' +
  '(SOKETI_DEFAULT_APP_USER_AUTHENTICATION=true, or the app\'s enable_user_authentication); Laravel Reverb does not. ' +
  'A wrong secret is refused at once instead';
/** What the hints tell the user to check, named where the connection is set (its variables, or the config). */
function hintsFor(connectionName: string | undefined): Target['hints'] {
  const where = (fields: Parameters<typeof connectionFields>[1]) => (connectionName === undefined ? '' : ` (${connectionFields(connectionName, fields)})`);
  return {
    credentials: `Check the app id, key and secret of the connection${where(['appId', 'key', 'secret'])}`,
    address: `Is the server running? Check the host and port of the connection${where(['host', 'port', 'scheme'])}`,
  };
}

function targetOf(connection: PusherConnection, options: SubscriberOptions): Target {
  const address = webSocketAddress(connection);
  return {
    ...address,
    where: `${address.tls ? 'wss' : 'ws'}://${address.host}:${address.port}`,
    hints: hintsFor(options.connectionName),
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    subscribeTimeoutMs: options.subscribeTimeoutMs ?? 10_000,
  };
}

/** The parts of the pusher-js client used here. */
interface PusherInstance {
  connection: ConnectionManager;
  /** Sign-in (`signin()`) and the events sent to the signed-in user. */
  user: { bind(event: string, callback: (data: unknown) => void): void; unbind(event: string, callback: (data: unknown) => void): void; bind_global(callback: (event: string, data: unknown) => void): void; serverToUserChannel: PusherChannel | null };
  signin(): void;
  subscribe(channel: string): PusherChannel;
  unsubscribe(channel: string): void;
  disconnect(): void;
}
type PusherClass = new (key: string, options: PusherOptions) => PusherInstance;

async function loadPusher(): Promise<PusherClass> {
  // pusher-js is CommonJS: its class is `default` (Node's interop) or `default.default` (bundlers).
  const mod = (await import('pusher-js')) as unknown as { default: PusherClass & { default?: PusherClass } };
  return mod.default.default ?? mod.default;
}

function clientOptions(connection: PusherConnection, target: Target, customHandler: ChannelAuthorizationHandler, userHandler: UserAuthenticationHandler): PusherOptions {
  return {
    cluster: connection.cluster ?? 'mt1',
    wsHost: target.host,
    wsPort: target.port,
    wssPort: target.port,
    forceTLS: target.tls,
    // 'ws' covers wss too when forceTLS is set; no HTTP fallbacks in Node.
    enabledTransports: ['ws'],
    disableStats: true,
    // pusher-js gives up and reports `unavailable` after this; it also bounds how long a refused socket retries.
    unavailableTimeout: Math.min(target.connectTimeoutMs, 10_000),
    channelAuthorization: { endpoint: '/unused', transport: 'ajax', customHandler },
    userAuthentication: { endpoint: '/unused', transport: 'ajax', customHandler: userHandler },
  };
}

// ---- sign ----

/** Why a channel cannot be subscribed to with these credentials and this user, before asking the server. */
function subscriptionProblem(channel: string, signer: Signer, user: SubscriberOptions['user']): BroadcastError | undefined {
  const type = channelType(channel);
  if (type === 'presence' && !user) return new UsageError(`Joining presence channel ${channel} needs a user id`);
  if (type === 'encrypted' && !signer.masterKey) return missingMasterKey(channel, undefined);
  return undefined;
}

/** The auth body for one subscription, as an auth route would return it. */
function sign(signer: Signer, user: SubscriberOptions['user'], socketId: string, channel: string): ChannelAuth {
  const problem = subscriptionProblem(channel, signer, user);
  if (problem) throw problem;
  const type = channelType(channel);
  // Always send user_info: soketi leaves a member without one out of the member list it sends (its hash maps
  // the id to undefined, which JSON drops), so clients would not see the member.
  const channelData = type === 'presence' ? presenceChannelData(user!.id, user!.info ?? {}) : undefined;
  return signSubscription(signer, socketId, channel, type, channelData);
}

/** pusher-js's authorization hook: every subscription (and re-subscription after a reconnect) signed locally. */
function authorizer(signer: Signer, user: SubscriberOptions['user']): ChannelAuthorizationHandler {
  return ({ socketId, channelName }, callback) => {
    try {
      callback(null, sign(signer, user, socketId, channelName));
    } catch (error) {
      callback(error as Error, null);
    }
  };
}

/** pusher-js's sign-in hook: the user's sign-in (and a new one after each reconnect) signed locally. */
function userAuthenticator(credentials: AuthCredentials, user: SubscriberOptions['user']): UserAuthenticationHandler {
  return ({ socketId }, callback) => {
    try {
      if (!user) throw new UsageError('Signing in needs a user id');
      callback(null, userAuthBody(credentials, socketId, { id: user.id, ...(user.info !== undefined ? { user_info: user.info as Record<string, unknown> } : {}) }));
    } catch (error) {
      callback(error as Error, null);
    }
  };
}

// ---- connect ----

/**
 * Resolves with the socket id once pusher-js connects. The first of these ends the wait: connected, a refusal
 * or a state pusher-js gives up in, the TCP probe failing, the time limit, the caller's signal. On failure the
 * client is disconnected.
 */
async function connect(client: PusherInstance, target: Target, options: SubscriberOptions): Promise<string> {
  const settled = new AbortController();
  try {
    return await Promise.race([
      connected(client, target, options.onState, settled.signal),
      unreachable(target, settled.signal),
      expiry(target, settled.signal),
      cancellation(options.signal, settled.signal),
    ]);
  } catch (error) {
    // Stop listening first, so the `disconnected` state below reaches no one.
    settled.abort();
    disconnectForGood(client);
    throw error;
  } finally {
    settled.abort();
  }
}

function connected(client: PusherInstance, target: Target, onState: SubscriberOptions['onState'], settled: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const connection = client.connection;
    const closes = closeTracker();
    const onChange = (change: StateChange) => {
      onState?.(change);
      const failure = stateFailure(change.current, target, 'connect', closes.last);
      if (failure) reject(failure);
    };
    const onError = (raw: unknown) => {
      const refused = closes.seen(raw, target, 'connect');
      if (refused) reject(refused);
    };
    const onConnected = () => resolve(connection.socket_id);
    connection.bind('state_change', onChange);
    connection.bind('error', onError);
    connection.bind('connected', onConnected);
    onAbort(settled, () => {
      connection.unbind('state_change', onChange);
      connection.unbind('error', onError);
      connection.unbind('connected', onConnected);
    });
  });
}

/** Rejects when a plain TCP connection fails: pusher-js retries a refused socket silently, the probe tells at once. */
function unreachable(target: Target, settled: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const probe = tcpConnect({ host: target.host, port: target.port });
    probe.setTimeout(target.connectTimeoutMs);
    probe.on('connect', () => probe.destroy());
    probe.on('timeout', () => probe.destroy());
    probe.on('error', (error: NodeJS.ErrnoException) => {
      probe.destroy();
      reject(new DeliveryError(`Could not reach the WebSocket server at ${target.where}: ${describeNetworkError(error.code, error.message)}`, { hint: target.hints.address }));
    });
    onAbort(settled, () => probe.destroy());
  });
}

function expiry(target: Target, settled: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const timer = setTimeout(
      () => reject(new DeliveryError(`No WebSocket connection to ${target.where} within ${target.connectTimeoutMs} ms`, { hint: target.hints.address })),
      target.connectTimeoutMs,
    );
    onAbort(settled, () => clearTimeout(timer));
  });
}

/** Rejects when the caller's signal is aborted (never without one). */
function cancellation(signal: AbortSignal | undefined, settled: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (!signal) return;
    const stop = () => reject(new DeliveryError('Stopped before the WebSocket connection was established', { cause: signal.reason }));
    if (signal.aborted) return stop();
    signal.addEventListener('abort', stop, { once: true });
    onAbort(settled, () => signal.removeEventListener('abort', stop));
  });
}

// ---- watch ----

/**
 * After connecting: every state change to onState (a drop with the close code that caused it), and the first
 * loss pusher-js will not recover from to `lost`.
 */
function watch(client: PusherInstance, target: Target, options: SubscriberOptions, life: AbortSignal, lost: (error: DeliveryError) => void): void {
  const connection = client.connection;
  const closes = closeTracker();
  let reported = false;
  const report = (error: DeliveryError | undefined) => {
    if (!error || reported) return;
    reported = true;
    lost(error);
  };
  const onChange = (change: StateChange) => {
    const closeCode = change.previous === 'connected' ? closes.last : undefined;
    if (change.current === 'connected') closes.clear();
    options.onState?.(closeCode ? { ...change, closeCode } : change);
    report(stateFailure(change.current, target, 'watch', closes.last));
  };
  const onError = (raw: unknown) => report(closes.seen(raw, target, 'watch'));
  connection.bind('state_change', onChange);
  connection.bind('error', onError);
  onAbort(life, () => {
    connection.unbind('state_change', onChange);
    connection.unbind('error', onError);
  });
}

/**
 * The close codes pusher-js reports as `error` events (a close frame's code, or a `pusher:error` message's):
 * `seen` keeps the last one and returns the refusal when the code means the server will not take this
 * connection (4000-4099).
 */
function closeTracker(): {
  readonly last: CloseCode | undefined;
  seen(raw: unknown, target: Target, phase: Phase): DeliveryError | undefined;
  clear(): void;
} {
  let last: CloseCode | undefined;
  return {
    get last() {
      return last;
    },
    seen(raw, target, phase) {
      const code = closeCodeOf(raw);
      if (!code) return undefined;
      // soketi sends a `pusher:error` with its reason, then a close frame with the same code and no reason.
      last = !code.reason && last?.code === code.code && last.reason ? { ...code, reason: last.reason } : code;
      return isRefusal(last.code) ? closedError(target, last, phase === 'connect' ? 'refused' : 'closed') : undefined;
    },
    clear() {
      last = undefined;
    },
  };
}

/** The code and the server's text in a pusher-js error event, explained; undefined when it carries no code. */
function closeCodeOf(raw: unknown): CloseCode | undefined {
  const e = raw as { data?: { code?: unknown; message?: unknown }; error?: { data?: { code?: unknown; message?: unknown } } } | null;
  const data = e?.error?.data ?? e?.data;
  if (typeof data?.code !== 'number') return undefined;
  const reason = typeof data.message === 'string' && data.message ? data.message : undefined;
  return { ...explainCloseCode(data.code), ...(reason ? { reason } : {}) };
}

/** The error for a connection the server closed with `code`: its meaning, the server's words, and what to do. */
function closedError(target: Target, code: CloseCode, how: 'refused' | 'closed' | 'lost', state?: string): DeliveryError {
  const said = code.reason ? ` The server said: "${code.reason}"` : '';
  const what = {
    refused: 'refused the WebSocket connection',
    closed: 'closed the WebSocket connection',
    lost: `closed the WebSocket connection and it did not come back (state "${state}")`,
  }[how];
  return new DeliveryError(`The server at ${target.where} ${what}: close code ${code.code}, ${code.meaning}.${said}`, {
    hint: code.hint,
    details: { closeCode: code },
  });
}

/** The states pusher-js gives up in, as errors: while connecting, or after the connection was up. */
/** Connecting (until the first `connected`), or watching an established connection. */
type Phase = 'connect' | 'watch';

function stateFailure(state: string, target: Target, phase: Phase, code: CloseCode | undefined): DeliveryError | undefined {
  // `disconnected` is only seen here when pusher-js gave up by itself: disconnect() stops watching first.
  if (state !== 'failed' && state !== 'unavailable' && state !== 'disconnected') return undefined;
  if (code) return closedError(target, code, phase === 'connect' ? 'refused' : 'lost', state);
  if (phase === 'watch') return new DeliveryError(`Lost the WebSocket connection to ${target.where} (state "${state}")`, { hint: target.hints.address });
  return state === 'unavailable'
    ? new DeliveryError(`The WebSocket server at ${target.where} is unavailable`, { hint: target.hints.address })
    : new DeliveryError(`pusher-js cannot open a WebSocket to ${target.where} (state "${state}")`, { hint: target.hints.address });
}



// ---- subscribe and route ----

class NodeSubscriber implements Subscriber {
  readonly socketId: string;
  private readonly client: PusherInstance;
  private readonly target: Target;
  private readonly signer: Signer;
  private readonly options: SubscriberOptions;
  private readonly channels = new Map<string, PusherChannel>();
  /** Aborted by disconnect(): ends the watch and rejects pending subscriptions. */
  private readonly life = new AbortController();

  constructor(client: PusherInstance, parts: { target: Target; signer: Signer; options: SubscriberOptions; socketId: string }) {
    this.client = client;
    this.target = parts.target;
    this.signer = parts.signer;
    this.options = parts.options;
    this.socketId = parts.socketId;
    watch(client, this.target, this.options, this.life.signal, (error) => {
      this.options.onError?.(error);
      this.close(error);
    });
    const { signal } = this.options;
    if (signal) {
      const stop = () => this.disconnect();
      signal.addEventListener('abort', stop, { once: true });
      onAbort(this.life.signal, () => signal.removeEventListener('abort', stop));
      if (signal.aborted) this.disconnect();
    }
  }

  subscribe(name: string): Promise<void> {
    const problem = this.life.signal.aborted ? disconnected(this.life.signal) : subscriptionProblem(name, this.signer, this.options.user);
    if (problem) return Promise.reject(problem);
    const existing = this.channels.get(name);
    if (existing?.subscribed) return Promise.resolve();
    const channel = existing ?? this.open(name);
    return confirmation(channel, name, this.target, this.life.signal).catch((error: unknown) => {
      this.unsubscribe(name);
      throw error;
    });
  }

  unsubscribe(name: string): void {
    this.channels.delete(name);
    if (!this.life.signal.aborted) this.client.unsubscribe(name);
  }

  members(name: string): Member[] {
    const out: Member[] = [];
    (this.channels.get(name) as PusherPresenceChannel | undefined)?.members?.each((m: unknown) => out.push(memberOf(m)));
    return out;
  }

  disconnect(): void {
    this.close();
  }

  /**
   * Signs in as the options' user and resolves once the server confirms it and the user's own channel
   * (`#server-to-user-<id>`) is subscribed; the user's events then go to onEvent. pusher-js signs in again
   * by itself after a reconnect.
   */
  signIn(): Promise<void> {
    const user = this.options.user!;
    const channel = userChannel(user.id);
    const { onEvent } = this.options;
    // The user's events, not pusher-js's own (`pusher:signin_error` is emitted here too).
    this.client.user.bind_global((event, data) => {
      if (!event.startsWith('pusher:') && !event.startsWith('pusher_internal:')) onEvent?.({ channel, event, data, receivedAt: Date.now() });
    });
    return new Promise((resolve, reject) => {
      const { connection } = this.client;
      const settle = (error?: BroadcastError) => {
        clearTimeout(timer);
        connection.unbind('message', onMessage);
        connection.unbind('error', onError);
        this.client.user.unbind('pusher:signin_error', onRefused);
        this.life.signal.removeEventListener('abort', onClosed);
        if (error) reject(error);
        else resolve();
      };
      // pusher-js handles the confirmation first (it opens the user's channel), then passes it on to us.
      const onMessage = (message: { event?: string }) => {
        if (message.event !== 'pusher:signin_success') return;
        const own = this.client.user.serverToUserChannel;
        if (!own || own.subscribed) return settle();
        confirmation(own, channel, this.target, this.life.signal).then(() => settle(), settle);
      };
      // Laravel Reverb has no user sign-in: it answers any event it does not know with `pusher:error` 4200
      // "Invalid message format" and keeps the connection (its Protocols/Pusher/Server.php).
      const onError = (raw: unknown) => {
        const code = closeCodeOf(raw);
        if (code?.code !== 4200 || code.reason !== 'Invalid message format') return;
        settle(new DeliveryError(`The server does not support signing in: it answered pusher:signin with error 4200 ("${code.reason}")`, { hint: SIGN_IN_HINT }));
      };
      const onRefused = (raw: unknown) => {
        const reason = (raw as { error?: unknown } | null)?.error;
        settle(new DeliveryError(`Could not sign in as user ${user.id}: ${typeof reason === 'string' ? reason : JSON.stringify(raw)}`));
      };
      // Closed with 4009 while signing in: the server checked the sign-in and refused it (a wrong secret).
      const onClosed = () => {
        const lost = disconnected(this.life.signal);
        const code = (lost.details as { closeCode?: CloseCode } | undefined)?.closeCode;
        if (code?.code !== 4009) return settle(lost);
        const said = code.reason ? ` The server said: "${code.reason}"` : '';
        settle(new DeliveryError(`The server refused the sign-in as user ${user.id} (close code 4009).${said}`, { hint: `The sign-in was signed locally with the app secret. ${this.target.hints.credentials}`, details: lost.details }));
      };
      const timer = setTimeout(
        () => settle(new DeliveryError(`The server did not confirm the sign-in as user ${user.id} within ${this.target.subscribeTimeoutMs} ms`, { hint: SIGN_IN_HINT })),
        this.target.subscribeTimeoutMs,
      );
      connection.bind('message', onMessage);
      connection.bind('error', onError);
      this.client.user.bind('pusher:signin_error', onRefused);
      this.life.signal.addEventListener('abort', onClosed, { once: true });
      this.client.signin();
    });
  }

  /** Ends the connection; `lost` (the connection was lost for good) is what pending subscriptions reject with. */
  private close(lost?: DeliveryError): void {
    if (this.life.signal.aborted) return;
    this.life.abort(lost);
    disconnectForGood(this.client);
  }

  private open(name: string): PusherChannel {
    const channel = this.client.subscribe(name);
    this.channels.set(name, channel);
    channel.bind_global(route(name, this.options));
    return channel;
  }
}

/** Why a subscriber's connection is over: the loss that ended it, else a disconnect by its owner. */
function disconnected(life: AbortSignal): DeliveryError {
  return life.reason instanceof DeliveryError ? life.reason : new DeliveryError('The subscriber is disconnected');
}

/** Resolves when the server confirms the subscription; rejects when it refuses, does not answer, or the subscriber closes. */
function confirmation(channel: PusherChannel, name: string, target: Target, life: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (error?: BroadcastError) => {
      clearTimeout(timer);
      channel.unbind('pusher:subscription_succeeded', onSucceeded);
      channel.unbind('pusher:subscription_error', onRefused);
      life.removeEventListener('abort', onClosed);
      if (error) reject(error);
      else resolve();
    };
    const onSucceeded = () => settle();
    const onRefused = (raw: unknown) => settle(subscriptionError(name, raw, target));
    const onClosed = () => settle(disconnected(life));
    const timer = setTimeout(
      () => settle(new DeliveryError(`The server did not confirm the subscription to ${name} within ${target.subscribeTimeoutMs} ms`, { hint: target.hints.address })),
      target.subscribeTimeoutMs,
    );
    channel.bind('pusher:subscription_succeeded', onSucceeded);
    channel.bind('pusher:subscription_error', onRefused);
    life.addEventListener('abort', onClosed, { once: true });
  });
}

const MEMBER_EVENTS: Record<string, MemberChange['action']> = { 'pusher:member_added': 'added', 'pusher:member_removed': 'removed' };

/**
 * A channel's events to onEvent, its member changes to onMember and a cache channel's miss to onCacheMiss;
 * other protocol events are dropped. (A cache channel's cached event comes as an ordinary event.)
 */
function route(channel: string, options: SubscriberOptions): (event: string, data: unknown) => void {
  return (event, data) => {
    const receivedAt = Date.now();
    const action = MEMBER_EVENTS[event];
    if (action) options.onMember?.({ channel, action, member: memberOf(data), receivedAt });
    else if (event === 'pusher:cache_miss') options.onCacheMiss?.({ channel, receivedAt });
    else if (!event.startsWith('pusher:') && !event.startsWith('pusher_internal:')) options.onEvent?.({ channel, event, data, receivedAt });
  };
}

/** A member as pusher-js has it (an id that may be a number), with a string id. */
function memberOf(raw: unknown): Member {
  const m = raw as { id: string | number; info?: unknown };
  return { id: String(m.id), ...(m.info !== undefined ? { info: m.info } : {}) };
}

/** A refused subscription: the server's reason (a bad signature), or ours (no user, no master key). */
function subscriptionError(channel: string, raw: unknown, target: Target): DeliveryError {
  const e = (raw ?? {}) as { type?: string; error?: unknown; status?: number; data?: { message?: unknown } };
  const reason = typeof e.error === 'string' ? e.error : typeof e.data?.message === 'string' ? e.data.message : JSON.stringify(raw);
  const signed = channelType(channel) !== 'public';
  return new DeliveryError(`The server refused the subscription to ${channel}: ${reason}`, {
    status: e.status,
    hint: signed ? `The subscription was signed locally with the app secret. ${target.hints.credentials}` : target.hints.credentials,
  });
}

/** Runs `fn` once `signal` aborts. */
function onAbort(signal: AbortSignal, fn: () => void): void {
  if (signal.aborted) fn();
  else signal.addEventListener('abort', fn, { once: true });
}

/**
 * Disconnects for good. pusher-js 8 can start connecting again after disconnect(): a handshake already in
 * flight that answers "retry" (a server shutting down) schedules a new connection, and the process then never
 * exits. A disconnected subscriber never reconnects.
 */
function disconnectForGood(client: PusherInstance): void {
  client.disconnect();
  (client.connection as unknown as { connect(): void }).connect = () => {};
}

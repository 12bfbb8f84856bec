/** The `Broadcast` facade: validates, plans and sends events over the configured connection. */
import { authorize as authorizeSubscription, type AuthorizeResult } from '../auth/authorize.js';
import { authRoutes, type RouteDefinition, type RoutesOptions } from '../auth/routes.js';
import * as users from '../auth/users.js';
import { userAuthRoutes, type UserRoutesOptions } from '../auth/routes.js';
import { channelAttributes, channelName, channelType, triggerGroups, type ChannelAttributes, type ChannelLike } from './channels.js';
import { resolveConnection, type BroadcastConfig, type Env, type ResolvedConnection } from '../config/schema.js';
import { createDriver, deliver, deliveryError, type Driver, type EventLogger } from '../transport/index.js';
import type { PusherDriverOptions } from '../transport/pusher.js';
import type { BulkInput, BulkResult, BulkSendOptions } from '../bulk/send.js';
import type { LineRules } from '../bulk/ndjson.js';
import { ConfigError, UsageError, ValidationError } from './errors.js';
import { checkEchoNamespace, echoEventName } from './echo.js';
import { isBroadcastEvent, type CanBroadcast } from './events.js';
import { LIMITS, missingFieldMark, validateChannelName, validateEventName, validatePayloadSize, validateRequestSize, validateSocketId, validateTriggerInfo } from './validation.js';

/** How an instance sends; given once, to the constructor (or `fromConfig`). */
export interface BroadcastOptions extends PusherDriverOptions {
  /** Connection to use instead of the default. */
  connection?: string;
  /** Environment for PUSHER_* and BROADCAST_CONNECTION (default: `process.env`). */
  env?: Env;
  /**
   * Resolves the current user. When set and it yields no user, private and presence channels are skipped
   * (and reported in `skipped`), as in Masonite.
   */
  user?: () => unknown;
  /**
   * Where the `log` driver writes each event, one line (`order.shipped → orders {"id":1}`): a function given
   * the line, or a stream (default: standard error).
   */
  logger?: EventLogger;
  /**
   * Largest payload accepted, in KB; overrides the connection's `maxPayloadKb` (the CLI's --max-payload-kb and
   * BROADCAST_MAX_PAYLOAD_KB). Default: the connection's, else 10 (Pusher Channels' limit).
   */
  maxPayloadKb?: number;
  /**
   * Name events as Laravel Echo listeners expect: with `echoNamespace: 'App\\Events'` (Echo's default), the
   * event `OrderShipped` is sent as `App\Events\OrderShipped`, which `listen('OrderShipped')` receives, and
   * `.order.shipped` as `order.shipped`, which `listen('.order.shipped')` receives: write each name as the
   * Echo listener does. Applies to `channel()` and `prepare()`. Default: names are sent as given.
   */
  echoNamespace?: string;
}

/** Options of `sendMany`. */
export type SendManyOptions = Omit<BulkSendOptions, 'rules'>;

export interface SendOptions {
  /** Exclude this connection (the sender's own socket) from receiving the event. */
  socketId?: string;
  /**
   * Ask the server for counts with the event (the HTTP API's `info`): `user_count` (presence channels only) and
   * `subscription_count`, as a list or comma-separated; the result's `info` has what it reported. Pusher Channels
   * counts such a request as two messages; soketi 1.6 ignores it (no counts come back).
   */
  info?: string | readonly string[];
}

/** A validated event, ready to send: `requests` are the channel groups, one HTTP request each. */
export interface PreparedBroadcast {
  event: string;
  data: unknown;
  channels: string[];
  skipped: { channel: string; reason: string }[];
  requests: string[][];
  socketId?: string;
  bytes: number;
  /** The `info` attributes asked for (`"user_count,subscription_count"`), when any were. */
  info?: string;
}

/** What was sent. */
export interface BroadcastResult {
  connection: string;
  driver: 'pusher' | 'log' | 'null';
  /** False for the log and null drivers, which send nothing. */
  delivered: boolean;
  event: string;
  channels: string[];
  skipped: { channel: string; reason: string }[];
  requests: number;
  socketId?: string;
  data: unknown;
  /** With the `info` option: what the server reported for each channel (empty when it reported nothing, as soketi). */
  info?: Record<string, ChannelAttributes>;
}

export class Broadcast {
  readonly config: BroadcastConfig;
  /** The connection in use, with where each of its values came from. */
  readonly resolved: ResolvedConnection;
  /** The config file this instance was loaded from, if any. */
  configPath?: string;
  private readonly options: BroadcastOptions;
  private driverInstance?: Driver;

  constructor(config: BroadcastConfig = {}, options: BroadcastOptions = {}) {
    this.config = config;
    this.options = options;
    this.resolved = resolveConnection(config, options.env ?? process.env, options.connection);
    const max = options.maxPayloadKb;
    if (max !== undefined && !(typeof max === 'number' && max > 0 && Number.isFinite(max))) {
      throw new UsageError(`maxPayloadKb must be a positive number of KB, not ${JSON.stringify(max)}`);
    }
    if (options.echoNamespace !== undefined) checkEchoNamespace(options.echoNamespace);
  }

  /** The payload limit in effect, in KB: the `maxPayloadKb` option, else the connection's, else Pusher's 10. */
  get maxPayloadKb(): number {
    return this.options.maxPayloadKb ?? this.resolved.connection.maxPayloadKb ?? LIMITS.defaultMaxPayloadKb;
  }

  /** Loads the project's config as the CLI does (`broadcast.config.ts`, `.broadcastrc`, …) and the environment. */
  static async fromConfig(options: BroadcastOptions & { cwd?: string; configPath?: string } = {}): Promise<Broadcast> {
    const { loadConfig } = await import('../config/load.js');
    const loaded = await loadConfig(options);
    const broadcast = new Broadcast(loaded.config, options);
    broadcast.configPath = loaded.filepath;
    return broadcast;
  }

  get connectionName(): string {
    return this.resolved.name;
  }

  /** The driver for the connection, created on first use. */
  get driver(): Driver {
    this.driverInstance ??= createDriver(this.resolved.name, this.resolved.connection, this.options);
    return this.driverInstance;
  }

  /**
   * Broadcasts an event.
   *
   * `channel('orders', 'order.shipped', { id: 1 })`, `channel(['a', 'private-b'], 'e', data)` (names used as
   * given), or `channel(new OrderShipped({ id: 1 }))` (the event's own channels, name and payload).
   */
  channel(event: CanBroadcast, options?: SendOptions): Promise<BroadcastResult>;
  channel(channels: ChannelLike | ChannelLike[], event: string, data?: unknown, options?: SendOptions): Promise<BroadcastResult>;
  async channel(...args: unknown[]): Promise<BroadcastResult> {
    const prepared = await this.prepare(...(args as Parameters<Broadcast['prepare']>));
    return this.send(prepared);
  }

  /** Validates and plans a broadcast without sending anything (what `--dry-run` shows). */
  prepare(event: CanBroadcast, options?: SendOptions): Promise<PreparedBroadcast>;
  prepare(channels: ChannelLike | ChannelLike[], event: string, data?: unknown, options?: SendOptions): Promise<PreparedBroadcast>;
  async prepare(...args: unknown[]): Promise<PreparedBroadcast> {
    if (isBroadcastEvent(args[0])) {
      const instance = args[0];
      const options = (args[1] ?? {}) as SendOptions;
      const channels = renderChannels(instance);
      const event = instance.broadcastAs();
      const data = instance.broadcastWith();
      if (instance.broadcastWhen && !instance.broadcastWhen()) {
        return this.plan(event, data, [], channels.map((channel) => ({ channel, reason: 'broadcastWhen() returned false' })), options);
      }
      return this.planWithUser(channels, event, data, options);
    }
    const [channels, event, data, options] = args as [ChannelLike | ChannelLike[], string, unknown, SendOptions | undefined];
    if (typeof event !== 'string') {
      throw new UsageError('broadcast.channel() needs an event name, or an event instance (a class extending CanBroadcast)');
    }
    const names = (Array.isArray(channels) ? channels : [channels]).map(channelName);
    return this.planWithUser(names, event, data ?? {}, options ?? {});
  }

  private async planWithUser(channels: string[], event: string, data: unknown, options: SendOptions): Promise<PreparedBroadcast> {
    for (const channel of channels) validateChannelName(channel, this.resolved.limits?.channelNameLength);
    if (!this.options.user || channels.every((c) => channelType(c) === 'public')) {
      return this.plan(event, data, channels, [], options);
    }
    const user = await this.options.user();
    if (user) return this.plan(event, data, channels, [], options);
    return this.plan(
      event,
      data,
      channels.filter((c) => channelType(c) === 'public'),
      channels.filter((c) => channelType(c) !== 'public').map((channel) => ({ channel, reason: 'no authenticated user' })),
      options,
    );
  }

  private plan(
    event: string,
    data: unknown,
    channels: string[],
    skipped: PreparedBroadcast['skipped'],
    options: SendOptions,
  ): PreparedBroadcast {
    const namespace = this.options.echoNamespace;
    if (namespace !== undefined && typeof event === 'string') event = echoEventName(event, namespace);
    // The server profile's limits (config/servers.ts): soketi allows longer names, Reverb limits whole requests.
    const limits = this.resolved.limits;
    validateEventName(event, limits?.eventNameLength);
    const unique = [...new Set(channels.map((c) => validateChannelName(c, limits?.channelNameLength)))];
    if (unique.length === 0 && skipped.length === 0) throw new UsageError('No channels given');
    const socketId = options.socketId === undefined ? undefined : validateSocketId(options.socketId);
    // Servers count the data they receive: for an encrypted channel, its encrypted form.
    const bytes = validatePayloadSize(data, this.maxPayloadKb, unique.some((c) => channelType(c) === 'encrypted'));
    if (limits?.requestBytes) validateRequestSize(event, data, triggerGroups(unique), socketId, limits.requestBytes, this.resolved.server);
    const info = options.info === undefined ? undefined : validateTriggerInfo(options.info, unique);
    const encrypted = unique.filter((c) => channelType(c) === 'encrypted');
    const connection = this.resolved.connection;
    if (encrypted.length > 0 && connection.driver === 'pusher' && !connection.encryptionMasterKeyBase64) {
      throw new ConfigError(`Channel "${encrypted[0]}" is encrypted, but connection "${this.resolved.name}" has no encryptionMasterKeyBase64`, {
        hint: 'Set PUSHER_ENCRYPTION_MASTER_KEY_BASE64 (32 bytes, base64: openssl rand -base64 32)',
      });
    }
    return { event, data, channels: unique, skipped, requests: triggerGroups(unique), socketId, bytes, ...(info ? { info } : {}) };
  }

  /**
   * Sends a prepared broadcast. Requests go out concurrently; if some fail, a DeliveryError with code
   * `partial_delivery` says which channels did and did not get the event (`details.sent`, `details.failed`).
   */
  async send(prepared: PreparedBroadcast): Promise<BroadcastResult> {
    const driver = this.driver;
    let reported: BroadcastResult['info'];
    if (prepared.requests.length > 0) {
      const delivery = await deliver(driver, prepared.requests, prepared);
      if (delivery.failed.length > 0) throw deliveryError(delivery);
      if (delivery.info) reported = Object.fromEntries(Object.entries(delivery.info).map(([name, raw]) => [name, channelAttributes(raw)]));
    }
    return {
      connection: this.resolved.name,
      driver: driver.driver,
      delivered: driver.delivers && prepared.requests.length > 0,
      event: prepared.event,
      channels: prepared.channels,
      skipped: prepared.skipped,
      requests: prepared.requests.length,
      ...(prepared.socketId ? { socketId: prepared.socketId } : {}),
      data: prepared.data,
      ...(prepared.info ? { info: reported ?? {} } : {}),
    };
  }

  /**
   * Sends many events (what `broadcast emit --file` does): event objects (`{ channel, event, data }`, or
   * `channels: [...]`), NDJSON lines from `readNdjsonLines`, or events from `parseEventLine`, one by one or in
   * arrays, from an iterable or an async iterable. Single-channel events go out in batch requests, the others
   * as triggers (100 channels a request, encrypted channels alone, as `send` does); each channel's events
   * arrive in input order; `concurrency` requests at most are in flight, `rate` events a second at most.
   *
   * Never throws for delivery failures: the result counts what was `sent` and what `failed` (with `errors`,
   * and `stopped` when the server went down, refused the credentials, or `signal` was aborted). Events not
   * confirmed sent go to `failed` as lines of input, in an order that keeps each channel's order, so they can
   * be sent again. An event that breaks the protocol's rules is failed without being sent.
   */
  async sendMany(events: BulkInput, options: SendManyOptions = {}): Promise<BulkResult> {
    // Loaded on first use: importing the library stays light.
    const { sendBulk } = await import('../bulk/send.js');
    return sendBulk(this.driver, events, { ...options, rules: this.eventRules });
  }

  /** What each event of `sendMany` (or each line of `emit --file`) is checked against on this connection. */
  get eventRules(): LineRules {
    const connection = this.resolved.connection;
    return {
      maxPayloadKb: this.maxPayloadKb,
      channelNameLength: this.resolved.limits?.channelNameLength,
      eventNameLength: this.resolved.limits?.eventNameLength,
      encryptedProblem:
        connection.driver === 'pusher' && !connection.encryptionMasterKeyBase64
          ? `connection "${this.resolved.name}" has no encryptionMasterKeyBase64 (set PUSHER_ENCRYPTION_MASTER_KEY_BASE64)`
          : undefined,
    };
  }

  /** The auth route definitions (path from `authRoute`, else config `auth.route`, else the default). */
  routes(options: RoutesOptions = {}): RouteDefinition[] {
    return authRoutes(this.config, options);
  }

  /**
   * Decides one channel subscription as the auth route does: `{ ok, status, body }` with the signed body
   * (200) or a refusal (400, 403, 500 for an encrypted channel without a master key). `user` is the
   * authenticated user (an object with an `id`) or null.
   */
  authorize(socketId: unknown, channelName: unknown, user: unknown): Promise<AuthorizeResult> {
    return authorizeSubscription(this, socketId, channelName, user);
  }

  /** The auth route definitions without a config or connection: `Broadcast.routes({ authRoute })`. */
  static routes(options: RoutesOptions = {}): RouteDefinition[] {
    return authRoutes({}, options);
  }

  /** The user authentication route definitions: `Broadcast.userRoutes({ userAuthRoute })` (default `/broadcasting/user-auth`). */
  static userRoutes(options: UserRoutesOptions = {}): RouteDefinition[] {
    return userAuthRoutes({}, options);
  }

  /** The user authentication route definitions, with config `auth.middleware`. */
  userRoutes(options: UserRoutesOptions = {}): RouteDefinition[] {
    return userAuthRoutes(this.config, options);
  }

  /** Signs a user sign-in (pusher-js `signin()`): `{ auth, user_data }` for `{ id, user_info?, watchlist? }`. */
  authenticateUser(socketId: string, user: users.UserAuthInput): users.UserAuth {
    return users.authenticateUser(this, socketId, user);
  }

  /** Sends an event to every connection signed in as `userId` (channel `#server-to-user-<id>`). */
  sendToUser(userId: string | number, event: string, data?: unknown, options?: SendOptions): Promise<users.UserMessageResult> {
    return users.sendToUser(this, userId, event, data, options);
  }

  /** Closes every connection signed in as `userId`. */
  terminateUserConnections(userId: string | number): Promise<users.TerminateResult> {
    return users.terminateUserConnections(this, userId);
  }

  /** Releases the connection's sockets. */
  close(): void {
    this.driverInstance?.close();
    this.driverInstance = undefined;
  }
}

/**
 * An event's channel names, refusing those rendered from a missing or odd field (`private-orders.undefined`,
 * `room.[object Object]`): sent, they would reach a channel nobody listens on, and the call would succeed.
 * The error's `details` name the class (`eventClass`) and the `channel`.
 */
function renderChannels(instance: CanBroadcast): string[] {
  let channels: string[];
  try {
    const on = instance.broadcastOn();
    channels = (Array.isArray(on) ? on : [on]).map(channelName);
  } catch (error) {
    // A Channel object refused the name (`[object Object]` is not a legal name): the same mistake, said the same way.
    // Read by shape: the event's module may have its own copy of this package.
    const channel = (error as { details?: { channel?: unknown } } | undefined)?.details?.channel;
    if (typeof channel === 'string' && missingFieldMark(channel) !== undefined) throw renderedChannelError(instance, channel);
    throw error;
  }
  const rendered = channels.find((channel) => typeof channel === 'string' && missingFieldMark(channel) !== undefined);
  if (rendered !== undefined) throw renderedChannelError(instance, rendered);
  return channels;
}

function renderedChannelError(instance: CanBroadcast, channel: string): ValidationError {
  const eventClass = instance.constructor?.name || 'the event';
  return new ValidationError(
    `${eventClass}'s channel "${channel}" was built from a missing or invalid field (it contains "${missingFieldMark(channel)}"); nothing was sent`,
    {
      hint: `Check the data ${eventClass} was created with: a field its broadcastOn() uses is missing, misspelt (names are case-sensitive), null or an object`,
      details: { eventClass, channel },
    },
  );
}

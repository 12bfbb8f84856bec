/**
 * Channel discovery and following: polls the HTTP API's `GET /channels` every `intervalMs`, subscribes (one
 * pusher-js connection, signed locally with the app secret) to each occupied channel as it appears, and leaves
 * it once nobody else is subscribed. Reports what it sees as records: the channel list after each poll, channels
 * joined and left, events, presence members, connection states and warnings. Used by `broadcast console`;
 * written so `broadcast listen --all` can use it as is. Library-internal (not exported from the package).
 *
 * How occupancy is told apart from the follower's own subscription: the server counts the follower among a
 * channel's subscribers, so a followed channel counts as occupied while `subscription_count` is above 1 (the
 * follower's own, once confirmed before the poll was sent). Servers that give no `subscription_count`
 * (Pusher Channels without subscription counting) leave public and private channels followed until the
 * follower stops; presence channels are still left when their last other member leaves.
 */
import { randomBytes } from 'node:crypto';
import type { Broadcast } from './core/broadcast.js';
import { channelType, type ChannelType } from './core/channels.js';
import { BroadcastError, UsageError } from './core/errors.js';
import type { PusherConnection } from './config/schema.js';
import { USER_CHANNEL_PREFIX, userChannel } from './auth/users.js';
import type { Member, MemberChange, ReceivedEvent, Subscriber } from './subscriber.js';

import { FOLLOW_DEFAULTS } from './config/defaults.js';

export { FOLLOW_DEFAULTS };

/** Why a channel is or is not followed. */
export type FollowState =
  /** Subscribed: its events and members are reported. */
  | 'following'
  /** The subscription is on its way. */
  | 'subscribing'
  /** Not followed: `maxChannels` channels are followed already. */
  | 'limit'
  /** Not followed: an encrypted channel, and the connection has no master key to decrypt it. */
  | 'no-master-key'
  /** Not followed: presence channels are not joined (`presence: false`). */
  | 'skipped'
  /** The server refused the subscription (it is tried again once the channel has been vacated). */
  | 'refused'
  /** Not followed yet: there is no WebSocket connection (the next poll tries again). */
  | 'disconnected';

/** An occupied channel, as the last poll saw it. */
export interface FollowedChannel {
  name: string;
  type: ChannelType;
  /** Connections subscribed, not counting the follower's own; absent when the server does not say. */
  subscriptionCount?: number;
  /** Presence channels: distinct users, not counting the follower; absent when unknown. */
  userCount?: number;
  follow: FollowState;
}

/** What the follower reports, in the order it happens. `at`/`receivedAt`: ms since the epoch. */
export type FollowRecord =
  /** After each successful poll: every occupied channel (sorted by name), and how long the poll took. */
  | { type: 'channels'; channels: FollowedChannel[]; at: number; latencyMs: number }
  /** The follower subscribed to a channel (`joined`), or left it because it was vacated or the connection was lost (`left`). */
  | { type: 'channel'; action: 'joined' | 'left'; channel: string; at: number; reason?: 'vacated' | 'disconnected' }
  | ({ type: 'event' } & ReceivedEvent)
  | ({ type: 'member' } & MemberChange)
  /** The WebSocket connection's state (`connecting`, `connected`, `unavailable`, `disconnected`, …). */
  | { type: 'connection'; state: string; socketId?: string; at: number }
  /**
   * A poll of the HTTP API failed (server unreachable, credentials refused), or the WebSocket could not connect
   * or was lost for good; polling goes on, and the next successful poll connects again.
   */
  | { type: 'error'; source: 'api' | 'websocket'; code: string; message: string; hint?: string; details?: Record<string, unknown>; at: number }
  /** Something the user should know: the channel limit reached, a channel that cannot be followed. */
  | { type: 'warning'; message: string; channel?: string; at: number };

export interface FollowOptions {
  /** Time between the end of one poll and the start of the next (default 2000 ms, at least 250). */
  intervalMs?: number;
  /** Most channels followed at once (default 100); occupied channels past it are listed but not followed. */
  maxChannels?: number;
  /** Only channels starting with this (sent as `filter_by_prefix`). */
  prefix?: string;
  /** Channels never to follow nor list (e.g. the caller's own probe channels). */
  ignore?: (channel: string) => boolean;
  /** Join presence channels (default true): the follower then shows up as a member to everyone there. */
  presence?: boolean;
  /** Who to join presence channels as (default `broadcast-<random>` with `{ name: 'broadcast' }` as info); a number is signed as a JSON number. */
  user?: { id: string | number; info?: unknown };
  /**
   * Sign in as `user` on connecting (see createSubscriber's `signIn`): the events sent to that user come as
   * `event` records on `#server-to-user-<id>`, and a server that requires signing in keeps the connection.
   */
  signIn?: boolean;
  /** Every record, as it happens. */
  onRecord: (record: FollowRecord) => void;
  /** Stops the follower when aborted. */
  signal?: AbortSignal;
}

export interface Follower {
  /** The presence user id the follower joins as (left out of `members` and member records). */
  readonly userId: string;
  /** The occupied channels as last polled. */
  channels(): FollowedChannel[];
  /** The current members of a followed presence channel, without the follower; undefined when not followed. */
  members(channel: string): Member[] | undefined;
  /** The WebSocket's socket id while connected. */
  socketId(): string | undefined;
  /** Polls now (and resolves once that poll is done), instead of waiting for the interval. */
  refresh(): Promise<void>;
  /** Stops polling and closes the connection; safe to call more than once. */
  stop(): void;
}

interface ChannelsBody {
  channels?: Record<string, { subscription_count?: unknown; user_count?: unknown }>;
}

/**
 * After leaving a channel the server may count the follower's subscription a little longer (the protocol does
 * not confirm an unsubscription): polls sent within this long after leaving take one subscriber off, as for a
 * followed channel, so a channel the follower just left is not seen as occupied and followed again.
 */
const LEAVE_GRACE_MS = 1_000;

/** A followed channel's subscription. */
interface Subscription {
  state: 'subscribing' | 'following';
  /** When the server confirmed it (ms since the epoch). */
  confirmedAt?: number;
}

/**
 * Starts following the occupied channels of `broadcast`'s connection (a pusher connection). Resolves once
 * polling has started; the first poll runs at once. Nothing throws after that: failures are `error` records
 * and polling goes on, so a server that restarts is followed again.
 */
export async function followChannels(broadcast: Broadcast, options: FollowOptions): Promise<Follower> {
  const { connection, name: connectionName } = broadcast.resolved;
  if (connection.driver !== 'pusher') {
    throw new UsageError(`Connection "${connectionName}" uses the ${connection.driver} driver, which has no server to follow`);
  }
  const intervalMs = Math.max(FOLLOW_DEFAULTS.minIntervalMs, options.intervalMs ?? FOLLOW_DEFAULTS.intervalMs);
  const maxChannels = options.maxChannels ?? FOLLOW_DEFAULTS.maxChannels;
  const joinPresence = options.presence ?? true;
  const user = options.user ?? { id: `broadcast-${randomBytes(4).toString('hex')}`, info: { name: 'broadcast' } };
  // `#server-to-user-…` channels are users' own, never followed (signed in, the follower has its own).
  const ignore = (name: string) => name.startsWith(USER_CHANNEL_PREFIX) || (options.ignore?.(name) ?? false);
  const ownChannel = options.signIn ? userChannel(user.id) : undefined;
  const emit = options.onRecord;
  const { createSubscriber } = await import('./subscriber.js');

  let subscriber: Subscriber | undefined;
  let connecting: Promise<void> | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let listed: FollowedChannel[] = [];
  /** Servers that refuse `info=subscription_count` (or `user_count`) on /channels are not asked again. */
  let askCounts = true;
  let askUserCounts = options.prefix === undefined || options.prefix.startsWith('presence-');
  let overLimitWarned = false;
  const followed = new Map<string, Subscription>();
  /** When the follower left each channel it left recently (ms since the epoch). */
  const left = new Map<string, number>();
  /** Channels refused, or that cannot be followed; cleared when the channel is vacated, so it is tried again. */
  const unfollowable = new Map<string, FollowState>();

  const connect = (): Promise<void> => {
    if (!connecting) emit({ type: 'connection', state: 'connecting', at: Date.now() });
    return (connecting ??= createSubscriber(connection as PusherConnection, {
      user,
      connectionName,
      ...(options.signIn ? { signIn: true } : {}),
      onEvent: (e) => {
        if (!stopped && (followed.has(e.channel) || e.channel === ownChannel)) emit({ type: 'event', ...e });
      },
      onMember: (m) => {
        if (!stopped && followed.has(m.channel) && m.member.id !== String(user.id)) emit({ type: 'member', ...m });
      },
      // Changes after the first connection (its own states are reported around createSubscriber).
      onState: ({ current }) => {
        if (stopped || !subscriber) return;
        // While reconnecting the server does not count the follower; pusher-js subscribes again once connected,
        // which is taken to be done a second later (it is a few messages on a fresh socket).
        const countedFrom = current === 'connected' ? Date.now() + 1_000 : undefined;
        for (const sub of followed.values()) if (sub.state === 'following') sub.confirmedAt = countedFrom;
        emit({ type: 'connection', state: current, at: Date.now() });
      },
      onError: (error) => {
        // Lost for good: forget every subscription; the next poll connects again and re-follows.
        if (stopped) return;
        emit(errorRecord('websocket', error));
        dropConnection();
      },
    }).then(
      (created) => {
        if (stopped) return created.disconnect();
        subscriber = created;
        emit({ type: 'connection', state: 'connected', socketId: created.socketId, at: Date.now() });
      },
      (error: unknown) => {
        connecting = undefined;
        if (stopped) return;
        emit({ type: 'connection', state: 'unavailable', at: Date.now() });
        emit(errorRecord('websocket', error));
      },
    ));
  };

  const dropConnection = () => {
    subscriber?.disconnect();
    subscriber = undefined;
    connecting = undefined;
    for (const name of [...followed.keys()]) {
      followed.delete(name);
      left.set(name, Date.now());
      emit({ type: 'channel', action: 'left', channel: name, at: Date.now(), reason: 'disconnected' });
    }
  };

  const follow = (name: string) => {
    const s = subscriber!;
    followed.set(name, { state: 'subscribing' });
    s.subscribe(name).then(
      () => {
        const sub = followed.get(name);
        if (stopped || !sub || subscriber !== s) return;
        sub.state = 'following';
        sub.confirmedAt = Date.now();
        emit({ type: 'channel', action: 'joined', channel: name, at: sub.confirmedAt });
      },
      (error: unknown) => {
        if (stopped || subscriber !== s || !followed.has(name)) return;
        followed.delete(name);
        unfollowable.set(name, 'refused');
        emit({ type: 'warning', channel: name, message: `Cannot follow ${name}: ${(error as Error).message}`, at: Date.now() });
      },
    );
  };

  const leave = (name: string) => {
    followed.delete(name);
    left.set(name, Date.now());
    subscriber?.unsubscribe(name);
    emit({ type: 'channel', action: 'left', channel: name, at: Date.now(), reason: 'vacated' });
  };

  /** Why a channel cannot be followed (besides the limit), or undefined. */
  const obstacle = (name: string): FollowState | undefined => {
    const type = channelType(name);
    if (type === 'encrypted' && !connection.encryptionMasterKeyBase64) return 'no-master-key';
    if (type === 'presence' && !joinPresence) return 'skipped';
    return unfollowable.get(name);
  };

  async function poll(): Promise<void> {
    const sentAt = Date.now();
    const started = performance.now();
    let body: ChannelsBody;
    const params: Record<string, string> = {};
    if (options.prefix !== undefined) params.filter_by_prefix = options.prefix;
    try {
      body = await getChannels(params, askCounts, () => (askCounts = false));
    } catch (error) {
      emit(errorRecord('api', error));
      return;
    }
    // user_count needs filter_by_prefix=presence- (Pusher's rule); soketi ignores it, counts then come from members.
    let users: ChannelsBody['channels'] = {};
    if (askUserCounts) {
      try {
        users = (await broadcast.driver.get<ChannelsBody>('/channels', { filter_by_prefix: options.prefix ?? 'presence-', info: 'user_count' }))?.channels ?? {};
        const answers = Object.values(users);
        // A server that lists presence channels without user_count (soketi) ignores the attribute: stop asking.
        if (answers.length > 0 && answers.every((info) => typeof info?.user_count !== 'number')) askUserCounts = false;
      } catch (error) {
        if (!isRefusedParameter(error)) {
          emit(errorRecord('api', error));
          return;
        }
        askUserCounts = false;
      }
    }
    const latencyMs = Math.round(performance.now() - started);
    if (stopped) return;

    for (const [name, at] of left) if (sentAt - at >= LEAVE_GRACE_MS) left.delete(name);
    const occupied = new Map<string, { subscriptionCount?: number; userCount?: number }>();
    for (const [name, info] of Object.entries(body?.channels ?? {})) {
      if (ignore(name)) continue;
      const sub = followed.get(name);
      // The follower's own subscription is counted when the server had confirmed it by the time this poll was
      // sent, and may still be counted just after the follower left.
      const leftAt = left.get(name);
      const own = (sub?.confirmedAt !== undefined && sub.confirmedAt <= sentAt) || (leftAt !== undefined && sentAt - leftAt < LEAVE_GRACE_MS) ? 1 : 0;
      const count = typeof info?.subscription_count === 'number' ? Math.max(0, info.subscription_count - own) : undefined;
      const apiUsers = users?.[name]?.user_count;
      const presence = channelType(name) === 'presence';
      const members = presence && sub?.state === 'following' ? subscriber?.members(name).filter((m) => m.id !== String(user.id)) : undefined;
      const userCount = members ? members.length : presence && typeof apiUsers === 'number' ? Math.max(0, apiUsers - own) : undefined;
      // Presence: nobody else is there once the member list (or count) has no one but the follower.
      const vacated = count === 0 || (count === undefined && presence && userCount === 0 && own === 1);
      if (!vacated) occupied.set(name, { ...(count !== undefined ? { subscriptionCount: count } : {}), ...(userCount !== undefined ? { userCount } : {}) });
    }

    // A subscription still on its way is judged at the next poll: cancelling it half-way would leave pusher-js's
    // channel object (and its handlers) in place for the next subscription to the same name.
    for (const [name, sub] of [...followed]) if (sub.state === 'following' && !occupied.has(name)) leave(name);
    for (const name of [...unfollowable.keys()]) if (!occupied.has(name)) unfollowable.delete(name);

    // Connected even with nothing to follow yet, so the connection's state is known from the start.
    if (!subscriber) await connect();
    const wanted = [...occupied.keys()].sort().filter((name) => !followed.has(name) && obstacle(name) === undefined);
    if (stopped) return;
    let overLimit = 0;
    for (const name of wanted) {
      if (!subscriber) break;
      if (followed.size >= maxChannels) {
        overLimit++;
        continue;
      }
      follow(name);
    }
    if (overLimit > 0 && !overLimitWarned) {
      overLimitWarned = true;
      emit({
        type: 'warning',
        message: `${followed.size + overLimit} channels are occupied; following ${maxChannels} at most (${overLimit} not followed)`,
        at: Date.now(),
      });
    } else if (overLimit === 0) {
      overLimitWarned = false;
    }

    listed = [...occupied.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, counts]) => {
        const sub = followed.get(name);
        const follow: FollowState = sub ? sub.state : (obstacle(name) ?? (subscriber ? 'limit' : 'disconnected'));
        return { name, type: channelType(name), ...counts, follow };
      });
    emit({ type: 'channels', channels: listed, at: Date.now(), latencyMs });
  }

  /** GET /channels, with `info=subscription_count` unless the server refused it once. */
  async function getChannels(params: Record<string, string>, withCounts: boolean, refused: () => void): Promise<ChannelsBody> {
    if (!withCounts) return broadcast.driver.get<ChannelsBody>('/channels', params);
    try {
      return await broadcast.driver.get<ChannelsBody>('/channels', { ...params, info: 'subscription_count' });
    } catch (error) {
      if (!isRefusedParameter(error)) throw error;
      refused();
      emit({ type: 'warning', message: 'The server does not report subscription counts on GET /channels: followed channels are left only when the follower stops', at: Date.now() });
      return broadcast.driver.get<ChannelsBody>('/channels', params);
    }
  }

  const loop = () => {
    if (stopped) return;
    running = poll()
      .catch((error: unknown) => emit(errorRecord('api', error)))
      .finally(() => {
        running = undefined;
        if (!stopped) timer = setTimeout(loop, intervalMs);
      });
  };

  const stop = () => {
    if (stopped) return;
    stopped = true;
    clearTimeout(timer);
    subscriber?.disconnect();
    subscriber = undefined;
    options.signal?.removeEventListener('abort', stop);
  };
  if (options.signal?.aborted) stopped = true;
  options.signal?.addEventListener('abort', stop, { once: true });
  loop();

  return {
    userId: String(user.id),
    channels: () => listed,
    members(name) {
      if (followed.get(name)?.state !== 'following' || !subscriber) return undefined;
      return subscriber.members(name).filter((m) => m.id !== String(user.id));
    },
    socketId: () => subscriber?.socketId,
    async refresh() {
      if (stopped) return;
      if (running) await running;
      clearTimeout(timer);
      loop();
      await running;
    },
    stop,
  };
}

/** A 400 answer: the server does not take a parameter (an `info` attribute it does not know). */
function isRefusedParameter(error: unknown): boolean {
  return (error as { status?: unknown })?.status === 400;
}

function errorRecord(source: 'api' | 'websocket', error: unknown): Extract<FollowRecord, { type: 'error' }> {
  const known = error instanceof BroadcastError ? error : undefined;
  return {
    type: 'error',
    source,
    code: known?.code ?? 'internal',
    message: error instanceof Error ? error.message : String(error),
    ...(known?.hint ? { hint: known.hint } : {}),
    // e.g. the WebSocket close code, explained: listen --all fails with it as listen does.
    ...(known?.details ? { details: known.details } : {}),
    at: Date.now(),
  };
}

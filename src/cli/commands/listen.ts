/**
 * `broadcast listen <channels>`: subscribes with pusher-js (private, presence and encrypted channels signed
 * locally with the app secret) and streams what arrives as records: `subscribed` once every channel is,
 * then `event`, `member`, `cacheMiss` (an empty cache channel) and `state` (reconnects, with the close code
 * explained) records; NDJSON with --json, lines for a person otherwise.
 * `broadcast listen --all [--prefix p]` follows every occupied channel instead (src/follow.ts: found by polling
 * the HTTP API, subscribed as they appear, left when vacated): `following` once connected, then `channel`
 * (joined, left) and `warning` records besides events, members and states.
 * Ends on --count, --duration, a stop signal or a closed stdout; fails fast when the server cannot be used.
 *
 * The steps: `planOf` (everything typed, checked before connecting), `serverOf` (the connection),
 * `connect` and `subscribeAll`, `receive` (records until it ends) and `ending` (the outcome); with --all,
 * `listenAll` and `receiveAll` in place of the middle ones.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter, on } from 'node:events';
import { userChannel } from '../../auth/users.js';
import { channelType } from '../../core/channels.js';
import { BroadcastError, ConfigError, DeliveryError, ERROR_CODES, UsageError, type ErrorCode } from '../../core/errors.js';
import { channelNameProblem, validateChannelName } from '../../core/validation.js';
import { DEFAULTS } from '../../config/defaults.js';
import { ENV_VARS, type Connection, type PusherConnection } from '../../config/schema.js';
import { FOLLOW_DEFAULTS, followChannels, type Follower, type FollowRecord } from '../../follow.js';
import { createSubscriber, SIGN_IN_HINT, type CacheMiss, type CloseCode, type Member, type MemberChange, type ReceivedEvent, type StateChange, type Subscriber } from '../../subscriber.js';
import { defineCommand, type Outcome } from '../command.js';
import { openBroadcast, stoppedBy, type Context } from '../context.js';
import { formatDuration } from '../../core/duration.js';
import { readJsonOption, splitList } from '../input.js';
import type { Io } from '../io.js';
import { parseUserId } from './auth-sign.js';

export interface ListenOptions {
  user?: string;
  userInfo?: string;
  /** Sign in as --user: the user's events, and servers that require signing in. */
  signIn?: boolean;
  events?: string;
  count?: number;
  /** How long to listen (ms). */
  duration?: number;
  /** The old name of --duration (ms). */
  timeout?: number;
  /** Follow every occupied channel (no <channels>). */
  all?: boolean;
  /** --all: only channels starting with this. */
  prefix?: string;
  /** --all: time between two polls of the channel list (ms). */
  interval?: number;
  /** --all: most channels followed at once. */
  maxChannels?: number;
}

/** How a listen that succeeded ended: --count reached, --duration over, or stdout closed by its reader (`| head -1`). */
export type ListenStatus = 'done' | 'duration' | 'closed';

/** The closing record (`type: "result"`). */
export interface ListenResult {
  /** How it ended; absent when it failed (the error says why). */
  status?: ListenStatus;
  /** Matching events received. */
  events: number;
}

/** The records a listen streams before its result. Times are ISO 8601; ids are strings. */
export type ListenRecord =
  | { type: 'subscribed'; connection: string; socketId: string; channels: string[]; user?: Member; signedIn?: true; members?: Record<string, Member[]> }
  | { type: 'event'; channel: string; event: string; data: unknown; receivedAt: string }
  | { type: 'member'; channel: string; action: MemberChange['action']; user: Member; receivedAt: string }
  | { type: 'cacheMiss'; channel: string; receivedAt: string }
  | { type: 'state'; previous: string; current: string; at: string; closeCode?: CloseCode }
  /** --all: connected and following; `user` is who presence channels are joined as. */
  | { type: 'following'; connection: string; socketId: string; prefix?: string; intervalMs: number; maxChannels: number; user: Member; signedIn?: true }
  /** --all: a channel subscribed once occupied (`joined`, with the other members of a presence channel), or left. */
  | { type: 'channel'; action: 'joined' | 'left'; channel: string; at: string; reason?: 'vacated' | 'disconnected'; members?: Member[] }
  /** --all: something that does not end the listen (the channel limit, a channel that cannot be followed, a failing poll). */
  | { type: 'warning'; message: string; at: string; channel?: string; code?: string; hint?: string };

export default defineCommand<ListenResult, ListenRecord>({
  async run(ctx, channelList: string | undefined, options: ListenOptions) {
    const plan = await planOf(ctx, channelList, options);
    if (plan.all) return listenAll(ctx, plan, plan.all);
    const server = await serverOf(ctx, plan);
    if (plan.user && !plan.user.chosen) ctx.io.note(`Joining presence channels as user ${plan.user.id} (choose with --user)`);
    ctx.io.note(ctx.io.errStyle.dim(`Connecting (connection "${server.name}")…`));
    return listen(ctx, plan, server);
  },

  render(io, { status, events }) {
    if (status === 'closed') return;
    const n = `${events} event${events === 1 ? '' : 's'}`;
    if (status) io.note(io.errStyle.dim(`${status === 'done' ? 'Done' : 'Duration reached'} after ${n}`));
    else if (events > 0) io.note(io.errStyle.dim(`Stopped after ${n}`));
  },

  renderRecord(io, record) {
    switch (record.type) {
      case 'subscribed':
        return renderSubscribed(io, record);
      case 'event':
        return io.out(eventLine(io, record));
      case 'member':
        return io.out(memberLine(io, record));
      case 'cacheMiss':
        return io.out(cacheMissLine(io, record));
      case 'state':
        return io.note(io.errStyle.yellow(stateText(record)));
      case 'following':
        return renderFollowing(io, record);
      case 'channel':
        return io.note(channelLine(io, record));
      case 'warning':
        return io.warn(warningText(record));
    }
  },
});

/** What the user asked for, checked. */
interface ListenPlan {
  /** The named channels; empty with --all. */
  channels: string[];
  all?: AllPlan;
  /** Only events with these names are shown and counted (--events). */
  names?: Set<string>;
  count?: number;
  durationMs?: number;
  /** Set when a presence channel is in the list or with --sign-in; `chosen` is false when listen made the id up. */
  user?: { id: string | number; info?: unknown; chosen: boolean };
  /** --sign-in: sign in as `user` (always chosen). */
  signIn?: boolean;
}

/** --all: what to follow. */
interface AllPlan {
  prefix?: string;
  intervalMs: number;
  maxChannels: number;
}

interface Server {
  name: string;
  connection: PusherConnection;
}

/** Everything the user typed, checked before connecting (exit 2). */
async function planOf(ctx: Context, channelList: string | undefined, options: ListenOptions): Promise<ListenPlan> {
  const names = options.events !== undefined ? { names: new Set(splitList(options.events, 'event')) } : {};
  const durationMs = options.duration ?? options.timeout;
  const all = allPlanOf(channelList, options);
  if (options.signIn && options.user === undefined) {
    throw new UsageError('--sign-in needs --user <id>: the user to sign in as', { hint: 'broadcast listen --user 42 --sign-in' });
  }
  const signIn = options.signIn ? { signIn: true } : {};
  // Presence channels may turn up at any time: the user is always known.
  if (all) return { channels: [], all, ...names, count: options.count, durationMs, user: await presenceUser(ctx, options), ...signIn };
  if (channelList === undefined && !options.signIn) {
    throw new UsageError('Name the channels to listen to, or give --all to follow every occupied channel', {
      hint: 'broadcast listen orders,private-admin   or   broadcast listen --all --prefix private-   or   broadcast listen --user 42 --sign-in',
    });
  }
  const channels = channelList === undefined ? [] : [...new Set(splitList(channelList, 'channel').map((c) => validateChannelName(c)))];
  const presence = channels.some((c) => channelType(c) === 'presence');
  if (!presence && !options.signIn && (options.user !== undefined || options.userInfo !== undefined)) {
    throw new UsageError('--user and --user-info apply to presence channels and --sign-in only', {
      hint: 'Add a presence- channel to the list, give --sign-in, or drop --user',
    });
  }
  const user = presence || options.signIn ? { user: await presenceUser(ctx, options) } : {};
  return { channels, ...names, count: options.count, durationMs, ...user, ...signIn };
}

/** --all and the options that only go with it; undefined without --all. */
function allPlanOf(channelList: string | undefined, options: ListenOptions): AllPlan | undefined {
  if (!options.all) {
    const flags = { prefix: '--prefix', interval: '--interval', maxChannels: '--max-channels' } as const;
    const key = (Object.keys(flags) as (keyof typeof flags)[]).find((k) => options[k] !== undefined);
    if (key) throw new UsageError(`${flags[key]} goes with --all`, { hint: `broadcast listen --all ${flags[key]} …` });
    return undefined;
  }
  if (channelList !== undefined) {
    throw new UsageError('Give channel names or --all, not both', { hint: 'To follow only some channels with --all, narrow it with --prefix' });
  }
  if (options.prefix !== undefined) {
    const problem = options.prefix === '' ? 'it is empty' : channelNameProblem(options.prefix);
    if (problem) throw new UsageError(`Invalid --prefix ${JSON.stringify(options.prefix)}: ${problem}`);
  }
  const intervalMs = options.interval ?? FOLLOW_DEFAULTS.intervalMs;
  if (intervalMs < FOLLOW_DEFAULTS.minIntervalMs) {
    throw new UsageError(`--interval must be at least ${formatDuration(FOLLOW_DEFAULTS.minIntervalMs)}, not ${formatDuration(intervalMs)}`);
  }
  return {
    ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
    intervalMs,
    maxChannels: options.maxChannels ?? FOLLOW_DEFAULTS.maxChannels,
  };
}

async function presenceUser(ctx: Context, options: ListenOptions): Promise<NonNullable<ListenPlan['user']>> {
  let info: unknown;
  if (options.userInfo !== undefined) {
    info = await readJsonOption(ctx, options.userInfo, '--user-info');
    if (info === null || typeof info !== 'object' || Array.isArray(info)) {
      throw new UsageError('--user-info must be a JSON object', { hint: `e.g. --user-info '{"name":"Ada"}'` });
    }
  }
  // The wire keeps an all-digit id a number, as backends sign it (see auth:sign); output shows it as a string.
  if (options.user !== undefined) return { id: parseUserId(options.user), info, chosen: true };
  return { id: `broadcast-cli-${randomBytes(3).toString('hex')}`, info, chosen: false };
}

/** The selected connection: one with a server, and a master key when an encrypted channel is asked for. */
async function serverOf(ctx: Context, plan: ListenPlan): Promise<Server> {
  const broadcast = await openBroadcast(ctx);
  const { name, connection } = broadcast.resolved;
  assertPusher(name, connection);
  const encrypted = plan.channels.find((c) => channelType(c) === 'encrypted');
  if (encrypted && !connection.encryptionMasterKeyBase64) {
    throw new ConfigError(`Channel "${encrypted}" is encrypted, but connection "${name}" has no encryptionMasterKeyBase64`, {
      hint: `Set ${ENV_VARS.encryptionMasterKeyBase64} (the master key the server's events are encrypted with)`,
    });
  }
  return { name, connection };
}

function assertPusher(name: string, connection: Connection): asserts connection is PusherConnection {
  if (connection.driver !== 'pusher') {
    throw new UsageError(`Connection "${name}" uses the ${connection.driver} driver, which has no server to listen to`, {
      hint: `Set ${ENV_VARS.appId}, ${ENV_VARS.key} and ${ENV_VARS.secret} (with ${ENV_VARS.host} and ${ENV_VARS.port} for soketi or Reverb), or pick a pusher connection with --connection`,
    });
  }
}

/** What the subscriber reports, queued in arrival order until `receive` takes it. */
type Arrival =
  | { kind: 'event'; event: ReceivedEvent }
  | { kind: 'member'; change: MemberChange }
  | { kind: 'cacheMiss'; miss: CacheMiss }
  | { kind: 'state'; change: StateChange; at: number }
  | { kind: 'lost'; error: DeliveryError };

/** How far a listen got. */
interface Progress {
  subscribed: boolean;
  events: number;
  /** --count was reached. */
  done: boolean;
  failure?: unknown;
}

async function listen(ctx: Context, plan: ListenPlan, server: Server): Promise<Outcome<ListenResult>> {
  if (ctx.signal.aborted) return { result: { events: 0 }, error: stoppedBy(ctx) };
  const stop = stopConditions(ctx, plan.durationMs);
  const arrivals = new EventEmitter();
  // Queued from the start: what arrives on one channel while the others subscribe is kept, in order.
  const queue = on(arrivals, 'arrival', { signal: stop.signal }) as AsyncIterableIterator<[Arrival]>;
  let subscriber: Subscriber | undefined;
  try {
    try {
      subscriber = await connect(plan, server, arrivals, stop.signal);
      await subscribeAll(subscriber, plan.channels);
    } catch (failure) {
      void queue.return?.();
      return ending(ctx, plan, stop.cause(), { subscribed: false, events: 0, done: false, failure });
    }
    ctx.emit(subscribedRecord(plan, server, subscriber));
    noteUntil(ctx, plan);
    const progress = await receive(ctx, plan, queue, Date.now());
    return ending(ctx, plan, stop.cause(), progress);
  } finally {
    subscriber?.disconnect();
    stop.release();
  }
}

type StopCause = 'signal' | 'duration' | 'closed';

/** One signal for what ends a listen early: the user's stop signal, --duration, a stdout closed by its reader. */
function stopConditions(ctx: Context, durationMs: number | undefined) {
  const controller = new AbortController();
  const stop = (cause: StopCause) => {
    if (!controller.signal.aborted) controller.abort(cause);
  };
  const onSignal = () => stop('signal');
  const onClosed = () => stop('closed');
  ctx.signal.addEventListener('abort', onSignal, { once: true });
  ctx.io.stdout.on('error', onClosed);
  const timer = durationMs === undefined ? undefined : setTimeout(() => stop('duration'), durationMs);
  const cause = (): StopCause | undefined => (controller.signal.aborted ? (controller.signal.reason as StopCause) : undefined);
  return {
    signal: controller.signal,
    cause,
    release() {
      clearTimeout(timer);
      ctx.signal.removeEventListener('abort', onSignal);
      // After stdout closed, the closing record fails to write too: keep that error handled.
      if (cause() !== 'closed') ctx.io.stdout.off('error', onClosed);
    },
  };
}

/** Connects, reporting what arrives to `arrivals`; gives up after 10 s (or --duration, if shorter) or on `signal`. */
function connect(plan: ListenPlan, server: Server, arrivals: EventEmitter, signal: AbortSignal): Promise<Subscriber> {
  const arrive = (arrival: Arrival) => arrivals.emit('arrival', arrival);
  const limitMs = Math.min(DEFAULTS.connectTimeoutMs, plan.durationMs ?? DEFAULTS.connectTimeoutMs);
  return createSubscriber(server.connection, {
    connectionName: server.name,
    ...(plan.user ? { user: { id: plan.user.id, info: plan.user.info } } : {}),
    ...(plan.signIn ? { signIn: true } : {}),
    onEvent: (event) => arrive({ kind: 'event', event }),
    onMember: (change) => arrive({ kind: 'member', change }),
    onCacheMiss: (miss) => arrive({ kind: 'cacheMiss', miss }),
    onState: (change) => arrive({ kind: 'state', change, at: Date.now() }),
    onError: (error) => arrive({ kind: 'lost', error }),
    connectTimeoutMs: limitMs,
    subscribeTimeoutMs: limitMs,
    signal,
  });
}

async function subscribeAll(subscriber: Subscriber, channels: string[]): Promise<void> {
  await Promise.all(channels.map((channel) => subscriber.subscribe(channel)));
}

function subscribedRecord(plan: ListenPlan, server: Server, subscriber: Subscriber): ListenRecord {
  const presence = plan.channels.filter((c) => channelType(c) === 'presence');
  return {
    type: 'subscribed',
    connection: server.name,
    socketId: subscriber.socketId,
    // Signed in, the user's own channel is listened on too: its events carry its name.
    channels: plan.signIn ? [...plan.channels, userChannel(plan.user!.id)] : plan.channels,
    ...(plan.user ? { user: { id: String(plan.user.id), ...(plan.user.info !== undefined ? { info: plan.user.info } : {}) } } : {}),
    ...(plan.signIn ? { signedIn: true as const } : {}),
    ...(presence.length > 0 ? { members: Object.fromEntries(presence.map((c) => [c, subscriber.members(c)])) } : {}),
  };
}

/** Tells a person when the listen will end. */
function noteUntil(ctx: Context, plan: ListenPlan): void {
  const until = [
    plan.count !== undefined ? `${plan.count} event${plan.count === 1 ? '' : 's'}` : '',
    plan.durationMs !== undefined ? formatDuration(plan.durationMs) : '',
  ].filter(Boolean);
  ctx.io.note(ctx.io.errStyle.dim(until.length ? `Stopping after ${until.join(' or ')}; Ctrl+C to stop sooner.` : 'Press Ctrl+C to stop.'));
}

/**
 * Emits a record for each arrival until --count matching events have arrived, the connection is lost for
 * good, or the stop signal ends the queue. Connection states from before `since` (connecting) are left out.
 */
async function receive(ctx: Context, plan: ListenPlan, queue: AsyncIterableIterator<[Arrival]>, since: number): Promise<Progress> {
  let events = 0;
  try {
    for await (const [arrival] of queue) {
      if (arrival.kind === 'lost') return { subscribed: true, events, done: false, failure: arrival.error };
      const record = recordOf(arrival, plan, since);
      if (!record) continue;
      ctx.emit(record);
      if (record.type === 'event' && ++events === plan.count) return { subscribed: true, events, done: true };
    }
  } catch (error) {
    if ((error as Error).name !== 'AbortError') throw error;
  }
  return { subscribed: true, events, done: false };
}

function recordOf(arrival: Exclude<Arrival, { kind: 'lost' }>, plan: ListenPlan, since: number): ListenRecord | undefined {
  switch (arrival.kind) {
    case 'event':
      return eventRecord(arrival.event, plan);
    case 'member':
      return memberRecord(arrival.change);
    case 'cacheMiss':
      return { type: 'cacheMiss', channel: arrival.miss.channel, receivedAt: iso(arrival.miss.receivedAt) };
    case 'state':
      if (arrival.at < since) return undefined;
      return { type: 'state', ...arrival.change, at: iso(arrival.at) };
  }
}

/** An event's record; undefined when --events leaves it out. */
function eventRecord({ channel, event, data, receivedAt }: ReceivedEvent, plan: ListenPlan): ListenRecord | undefined {
  if (plan.names && !plan.names.has(event)) return undefined;
  return { type: 'event', channel, event, data, receivedAt: iso(receivedAt) };
}

function memberRecord({ channel, action, member, receivedAt }: MemberChange): ListenRecord {
  return { type: 'member', channel, action, user: member, receivedAt: iso(receivedAt) };
}

/** ms since the epoch, as ISO 8601 (UTC). */
function iso(ms: number): string {
  return new Date(ms).toISOString();
}

// ---- --all ----

/**
 * Follows every occupied channel (of --prefix) until it ends as a listen of named channels does. The first
 * poll and connection must work (a wrong secret or an unreachable server fails at once, as it does for named
 * channels); later failures are `warning` records, and the follower tries again at the next poll.
 */
async function listenAll(ctx: Context, plan: ListenPlan, all: AllPlan): Promise<Outcome<ListenResult>> {
  // A poll that fails is tried again by the next one: no retries; each request gives up after 10 s.
  const broadcast = await openBroadcast(ctx, { timeout: DEFAULTS.connectTimeoutMs, retries: 0 });
  try {
    const { name, connection } = broadcast.resolved;
    assertPusher(name, connection);
    if (!plan.user!.chosen) ctx.io.note(`Joining presence channels as user ${plan.user!.id} (choose with --user)`);
    ctx.io.note(ctx.io.errStyle.dim(`Connecting (connection "${name}")…`));
    if (ctx.signal.aborted) return { result: { events: 0 }, error: stoppedBy(ctx) };
    const stop = stopConditions(ctx, plan.durationMs);
    const records = new EventEmitter();
    // Queued from the start, as for named channels: nothing the follower reports is lost while listen starts.
    const queue = on(records, 'record', { signal: stop.signal }) as AsyncIterableIterator<[FollowRecord]>;
    let follower: Follower | undefined;
    try {
      follower = await followChannels(broadcast, {
        intervalMs: all.intervalMs,
        maxChannels: all.maxChannels,
        ...(all.prefix !== undefined ? { prefix: all.prefix } : {}),
        user: { id: plan.user!.id, info: plan.user!.info },
        ...(plan.signIn ? { signIn: true } : {}),
        onRecord: (record) => records.emit('record', record),
        signal: stop.signal,
      });
      const progress = await receiveAll(ctx, plan, all, name, follower, queue);
      return ending(ctx, plan, stop.cause(), progress);
    } finally {
      follower?.stop();
      stop.release();
    }
  } finally {
    broadcast.close();
  }
}

/**
 * Turns the follower's records into listen's until --count matching events have arrived or the stop signal
 * ends the queue. Before the first connection, a failure ends the listen; after it, failures are warnings
 * (once per failing stretch: a server that is down would otherwise warn at every poll).
 */
async function receiveAll(
  ctx: Context,
  plan: ListenPlan,
  all: AllPlan,
  connection: string,
  follower: Follower,
  queue: AsyncIterableIterator<[FollowRecord]>,
): Promise<Progress> {
  let events = 0;
  /** The connection's last state; undefined until first connected (`following`). */
  let state: string | undefined;
  const failing = new Set<'api' | 'websocket'>();
  const keyless = new Set<string>();
  const emit = (record: ListenRecord) => ctx.emit(record);
  const warn = (record: Extract<ListenRecord, { type: 'warning' }>) => {
    emit(record);
    // A person sees it through renderRecord; in JSON mode stderr gets it too.
    if (ctx.io.json) ctx.io.warn(warningText(record));
  };
  try {
    for await (const [record] of queue) {
      switch (record.type) {
        case 'connection':
          if (state === undefined) {
            if (record.state !== 'connected') continue;
            emit(followingRecord(plan, all, connection, record.socketId ?? follower.socketId() ?? ''));
            noteUntil(ctx, plan);
          } else if (record.state !== state) {
            emit({ type: 'state', previous: state, current: record.state, at: iso(record.at) });
          }
          state = record.state;
          if (state === 'connected') failing.delete('websocket');
          break;
        case 'error':
          if (state === undefined) return { subscribed: false, events, done: false, failure: failureOf(record) };
          if (failing.has(record.source)) continue;
          failing.add(record.source);
          warn({
            type: 'warning',
            message: `${record.message}; trying again ${record.source === 'api' ? `every ${formatDuration(all.intervalMs)}` : 'at the next poll'}`,
            at: iso(record.at),
            code: record.code,
            ...(record.hint ? { hint: record.hint } : {}),
          });
          break;
        case 'channels':
          failing.delete('api');
          for (const c of record.channels) {
            if (c.follow !== 'no-master-key' || keyless.has(c.name)) continue;
            keyless.add(c.name);
            warn({
              type: 'warning',
              channel: c.name,
              message: `${c.name} is encrypted, and connection "${connection}" has no encryptionMasterKeyBase64: not followed`,
              hint: `Set ${ENV_VARS.encryptionMasterKeyBase64} to decrypt its events`,
              at: iso(record.at),
            });
          }
          break;
        case 'warning':
          warn({ type: 'warning', message: record.message, at: iso(record.at), ...(record.channel ? { channel: record.channel } : {}) });
          break;
        case 'channel':
          emit(channelRecord(record, follower));
          break;
        case 'event': {
          const event = eventRecord(record, plan);
          if (!event) continue;
          emit(event);
          if (++events === plan.count) return { subscribed: true, events, done: true };
          break;
        }
        case 'member':
          emit(memberRecord(record));
          break;
      }
    }
  } catch (error) {
    if ((error as Error).name !== 'AbortError') throw error;
  }
  return { subscribed: state !== undefined, events, done: false };
}

function followingRecord(plan: ListenPlan, all: AllPlan, connection: string, socketId: string): ListenRecord {
  const { id, info } = plan.user!;
  return {
    type: 'following',
    connection,
    socketId,
    ...(all.prefix !== undefined ? { prefix: all.prefix } : {}),
    intervalMs: all.intervalMs,
    maxChannels: all.maxChannels,
    user: { id: String(id), ...(info !== undefined ? { info } : {}) },
    ...(plan.signIn ? { signedIn: true as const } : {}),
  };
}

function channelRecord(record: Extract<FollowRecord, { type: 'channel' }>, follower: Follower): ListenRecord {
  const { action, channel, at, reason } = record;
  const members = action === 'joined' && channelType(channel) === 'presence' ? follower.members(channel) : undefined;
  return { type: 'channel', action, channel, at: iso(at), ...(reason ? { reason } : {}), ...(members ? { members } : {}) };
}

/** The follower's first failure, as the error listen ends with. */
function failureOf(record: Extract<FollowRecord, { type: 'error' }>): BroadcastError {
  const code: ErrorCode = record.code in ERROR_CODES ? (record.code as ErrorCode) : 'delivery';
  return new BroadcastError(record.message, { code, ...(record.hint ? { hint: record.hint } : {}), ...(record.details ? { details: record.details } : {}) });
}

/** The outcome: what ended the listen decides between success, `not_received`, a stop, and the failure itself. */
function ending(ctx: Context, plan: ListenPlan, cause: StopCause | undefined, progress: Progress): Outcome<ListenResult> {
  const { events } = progress;
  if (progress.done) return { result: { status: 'done', events } };
  if (cause === 'signal') return { result: { events }, error: stoppedBy(ctx) };
  if (cause === 'closed') return { result: { status: 'closed', events } };
  const within = `within --duration ${formatDuration(plan.durationMs ?? 0)}`;
  if (cause === 'duration' && !progress.subscribed) {
    // A sign-in the server never answers is the usual reason with --sign-in: say so, and why it happens.
    if (plan.signIn) return { result: { events }, error: new DeliveryError(`Not signed in as user ${plan.user!.id} and subscribed ${within}`, { hint: SIGN_IN_HINT }) };
    return { result: { events }, error: new DeliveryError(`${plan.all ? 'Not connected' : 'Not subscribed to every channel'} ${within}`) };
  }
  if (progress.failure !== undefined) {
    if (progress.failure instanceof BroadcastError) return { result: { events }, error: progress.failure };
    throw progress.failure;
  }
  if (cause === 'duration' && plan.count !== undefined) {
    const error = new BroadcastError(`Received ${events} of ${plan.count} events ${within}`, {
      code: 'not_received',
      ...(plan.names ? { hint: `Only events named ${[...plan.names].join(', ')} count (--events)` } : {}),
    });
    return { result: { events }, error };
  }
  if (cause === 'duration') return { result: { status: 'duration', events } };
  throw new Error('listen ended without a cause');
}

// ---- for a person ----

function renderSubscribed(io: Io, record: Extract<ListenRecord, { type: 'subscribed' }>): void {
  const s = io.errStyle;
  const who = record.signedIn ? `, signed in as user ${record.user!.id}` : '';
  io.note(`Listening on ${record.channels.join(', ')}${who} ${s.dim(`(socket ${record.socketId})`)}`);
  for (const [channel, list] of Object.entries(record.members ?? {})) {
    io.note(`  ${channel}: ${list.length} member${list.length === 1 ? '' : 's'} (${list.map((m) => m.id).join(', ')})`);
  }
}

function renderFollowing(io: Io, record: Extract<ListenRecord, { type: 'following' }>): void {
  const s = io.errStyle;
  const which = record.prefix === undefined ? 'every occupied channel' : `every occupied channel starting with ${record.prefix}`;
  const who = record.signedIn ? `, and ${userChannel(record.user.id)} signed in as user ${record.user.id}` : '';
  io.note(`Following ${which}${who} ${s.dim(`(socket ${record.socketId}; checking every ${formatDuration(record.intervalMs)}, at most ${record.maxChannels} at once)`)}`);
}

function channelLine(io: Io, record: Extract<ListenRecord, { type: 'channel' }>): string {
  const s = io.errStyle;
  const members = record.members ? ` (${record.members.length} other member${record.members.length === 1 ? '' : 's'}${record.members.length ? `: ${record.members.map((m) => m.id).join(', ')}` : ''})` : '';
  const what = record.action === 'joined' ? s.green('subscribed') : s.yellow(`left${record.reason ? ` (${record.reason})` : ''}`);
  return `${s.dim(clock(record.at))} ${s.cyan(record.channel)} ${what}${members}`;
}

function warningText(record: Extract<ListenRecord, { type: 'warning' }>): string {
  return `${record.message}${record.hint ? ` (${record.hint})` : ''}`;
}

function eventLine(io: Io, record: Extract<ListenRecord, { type: 'event' }>): string {
  const s = io.style;
  const data = formatData(record.data, Boolean(io.stdout.isTTY));
  return `${s.dim(clock(record.receivedAt))} ${s.cyan(record.channel)} ${s.bold(record.event)}${data.startsWith('\n') ? '' : ' '}${data}`;
}

function memberLine(io: Io, record: Extract<ListenRecord, { type: 'member' }>): string {
  const s = io.style;
  const sign = record.action === 'added' ? s.green('+ joined') : s.yellow('- left');
  const info = record.user.info === undefined ? '' : ` ${formatData(record.user.info, false)}`;
  return `${s.dim(clock(record.receivedAt))} ${s.cyan(record.channel)} ${sign} ${record.user.id}${info}`;
}

function cacheMissLine(io: Io, record: Extract<ListenRecord, { type: 'cacheMiss' }>): string {
  const s = io.style;
  return `${s.dim(clock(record.receivedAt))} ${s.cyan(record.channel)} ${s.dim('cache miss: no event cached yet')}`;
}

function stateText({ current, closeCode }: Extract<ListenRecord, { type: 'state' }>): string {
  const why = closeCode ? ` (close code ${closeCode.code}, ${closeCode.meaning})` : '';
  if (current === 'connecting') return `connection lost${why}; reconnecting…`;
  if (current === 'connected') return 'reconnected';
  return `connection: ${current}${why}`;
}

/** Local time of day with milliseconds: 14:03:07.123. */
function clock(iso: string): string {
  const d = new Date(iso);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** Data as JSON: indented on a terminal, one line otherwise (so each event stays on one line). */
function formatData(data: unknown, pretty: boolean): string {
  if (pretty && data !== null && typeof data === 'object') return `\n${JSON.stringify(data, null, 2)}`;
  return JSON.stringify(data) ?? String(data);
}

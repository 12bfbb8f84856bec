/**
 * What the console's page can ask for: a snapshot of the state, a check of an event as `emit` would check it
 * (the library's own validation and limits), sending it, signing a subscription as `auth:sign` does, and the
 * members of a presence channel. Each answer is plain data for server.ts to send as JSON; none carries the app
 * secret or the master key.
 */
import { credentialsOf } from '../../auth/authorize.js';
import { channelAuthBody, presenceChannelData } from '../../auth/sign.js';
import type { Broadcast, PreparedBroadcast } from '../../core/broadcast.js';
import { channelType } from '../../core/channels.js';
import { BroadcastError, UsageError, ValidationError } from '../../core/errors.js';
import { LIMITS, validateChannelName } from '../../core/validation.js';
import { connectionUrl, type PusherConnection } from '../../config/schema.js';
import type { Follower, FollowedChannel } from '../../follow.js';
import { webSocketAddress } from '../../subscriber.js';
import { parseUserId, randomSocketId } from '../commands/auth-sign.js';
import { parseJson, splitList } from '../input.js';
import { describeEvent, type Registry } from '../registry.js';
import type { Check } from '../checks.js';

/** A registered event class as the composer offers it. */
export interface ComposerEvent {
  name: string;
  as: string | null;
  /** Channel names, with the payload fields they use as `{field}`. */
  patterns: string[];
  dynamic: boolean;
}

/** The page's view of the console when it (re)connects. */
export interface ConsoleState {
  type: 'state';
  connection: { name: string; url: string; webSocket: string; appId: string; key: string; encryption: boolean; maxPayloadKb: number };
  /** Where the config came from. */
  config: string;
  readOnly: boolean;
  intervalMs: number;
  maxChannels: number;
  /** The presence user id the console joins as (not listed among members). */
  userId: string;
  checks: Check[];
  channels: FollowedChannel[];
  connectionState: string;
  poll: PollState;
  events: ComposerEvent[];
  registryErrors: { source: string; message: string }[];
  limits: { channelNameLength: number; eventNameLength: number; channelsPerTrigger: number; maxPayloadBytes: number };
  warnings: string[];
}

export interface PollState {
  ok: boolean;
  at?: number;
  latencyMs?: number;
  error?: string;
}

/** The composer's request: channels and an event name, or a registered event class; data is JSON text. */
export interface ComposeRequest {
  channels?: unknown;
  event?: unknown;
  eventClass?: unknown;
  data?: unknown;
  socketId?: unknown;
}

/** What a check or a send answers. */
export type ComposeAnswer =
  | { ok: true; event: string; channels: string[]; skipped: { channel: string; reason: string }[]; requests: number; bytes: number; maxBytes: number; sent: boolean }
  | { ok: false; error: { code: string; message: string; hint?: string } };

export interface SignRequest {
  channel?: unknown;
  socketId?: unknown;
  user?: unknown;
  userInfo?: unknown;
}

/** As `auth:sign --json` prints it. */
export type SignAnswer =
  | { ok: true; channel: string; socketId: string; socketIdGenerated: boolean; body: ReturnType<typeof channelAuthBody> }
  | { ok: false; error: { code: string; message: string; hint?: string } };

export interface ConsoleAppInput {
  broadcast: Broadcast;
  follower: Follower;
  registry: Registry;
  configDetail: string;
  readOnly: boolean;
  intervalMs: number;
  maxChannels: number;
}

/** The console's live state (kept up to date by the command from the follower's records) and its API. */
export class ConsoleApp {
  checks: Check[] = [];
  connectionState = 'connecting';
  poll: PollState = { ok: false };
  warnings: string[] = [];
  /** Events sent from the page. */
  sent = 0;
  private readonly events: ComposerEvent[];

  constructor(private readonly input: ConsoleAppInput) {
    this.events = input.registry.events.map(({ name, eventClass }) => {
      const d = describeEvent(eventClass);
      return { name, as: d.as ?? null, patterns: d.patterns, dynamic: d.dynamic };
    });
  }

  state(): ConsoleState {
    const { broadcast, follower } = this.input;
    const connection = broadcast.resolved.connection as PusherConnection;
    const ws = webSocketAddress(connection);
    const maxPayloadKb = connection.maxPayloadKb ?? LIMITS.defaultMaxPayloadKb;
    return {
      type: 'state',
      connection: {
        name: broadcast.connectionName,
        url: connectionUrl(connection),
        webSocket: `${ws.tls ? 'wss' : 'ws'}://${ws.host}:${ws.port}`,
        appId: String(connection.appId),
        key: String(connection.key),
        encryption: Boolean(connection.encryptionMasterKeyBase64),
        maxPayloadKb,
      },
      config: this.input.configDetail,
      readOnly: this.input.readOnly,
      intervalMs: this.input.intervalMs,
      maxChannels: this.input.maxChannels,
      userId: follower.userId,
      checks: this.checks,
      channels: follower.channels(),
      connectionState: this.connectionState,
      poll: this.poll,
      events: this.events,
      registryErrors: this.input.registry.errors,
      limits: {
        channelNameLength: LIMITS.channelNameLength,
        eventNameLength: LIMITS.eventNameLength,
        channelsPerTrigger: LIMITS.channelsPerTrigger,
        maxPayloadBytes: maxPayloadKb * 1024,
      },
      warnings: this.warnings.slice(-20),
    };
  }

  /** Validates an event exactly as `emit` would (nothing is sent). */
  async check(request: ComposeRequest): Promise<ComposeAnswer> {
    try {
      return this.answer(await this.prepare(request), false);
    } catch (error) {
      return failure(error);
    }
  }

  /** Validates and sends an event. */
  async send(request: ComposeRequest): Promise<ComposeAnswer> {
    let prepared: PreparedBroadcast;
    try {
      prepared = await this.prepare(request);
      await this.input.broadcast.send(prepared);
    } catch (error) {
      return failure(error);
    }
    this.sent++;
    return this.answer(prepared, true);
  }

  /** The body the auth route would return for a subscription, as `auth:sign` prints it. */
  sign(request: SignRequest): SignAnswer {
    try {
      const channel = text(request.channel, 'channel');
      validateChannelName(channel);
      const type = channelType(channel);
      if (type === 'public') throw new ValidationError(`"${channel}" is a public channel: it needs no authorization`);
      const given = optionalText(request.socketId);
      const user = optionalText(request.user);
      const info = optionalText(request.userInfo);
      if (type !== 'presence' && (user !== undefined || info !== undefined)) {
        throw new UsageError('A user applies to presence channels only');
      }
      let channelData: string | undefined;
      if (type === 'presence') {
        if (user === undefined) throw new UsageError(`Presence channel "${channel}" needs a user id`);
        const userInfo = info === undefined ? undefined : parseJson(info, 'user info');
        if (userInfo !== undefined && (userInfo === null || typeof userInfo !== 'object' || Array.isArray(userInfo))) {
          throw new UsageError('The user info must be a JSON object');
        }
        channelData = presenceChannelData(parseUserId(user), userInfo);
      }
      const socketId = given ?? randomSocketId();
      const body = channelAuthBody(credentialsOf(this.input.broadcast), socketId, channel, channelData);
      return { ok: true, channel, socketId, socketIdGenerated: given === undefined, body };
    } catch (error) {
      return failure(error);
    }
  }

  /** The members of a presence channel: live when followed, else from the HTTP API (ids only). */
  async members(channel: string): Promise<{ ok: true; channel: string; live: boolean; members: { id: string; info?: unknown }[] } | { ok: false; error: { code: string; message: string } }> {
    try {
      validateChannelName(channel);
      if (channelType(channel) !== 'presence') throw new ValidationError(`"${channel}" is not a presence channel: only presence channels have members`);
      const live = this.input.follower.members(channel);
      if (live) return { ok: true, channel, live: true, members: live };
      const body = await this.input.broadcast.driver.get<{ users?: { id: string | number }[] }>(`/channels/${channel}/users`);
      return { ok: true, channel, live: false, members: (body?.users ?? []).map((u) => ({ id: String(u.id) })).filter((m) => m.id !== this.input.follower.userId) };
    } catch (error) {
      return failure(error);
    }
  }

  private async prepare(request: ComposeRequest): Promise<PreparedBroadcast> {
    const { broadcast, registry } = this.input;
    const data = parseData(request.data);
    const socketId = optionalText(request.socketId);
    const className = optionalText(request.eventClass);
    if (className !== undefined) {
      const found = registry.events.find((e) => e.name === className);
      if (!found) throw new UsageError(`"${className}" is not a registered event`);
      if (data === null || typeof data !== 'object' || Array.isArray(data)) {
        throw new UsageError(`The data for event ${className} must be a JSON object (its properties become the event's)`);
      }
      let instance;
      try {
        instance = new found.eventClass(data);
      } catch (error) {
        throw new UsageError(`Could not create ${className} from the data: ${(error as Error).message}`);
      }
      try {
        return await broadcast.prepare(instance, { socketId });
      } catch (error) {
        if (error instanceof BroadcastError) throw error;
        throw new UsageError(`${className} failed with this data: ${(error as Error).message}`);
      }
    }
    const channels = text(request.channels, 'channels');
    const event = text(request.event, 'event name');
    return broadcast.prepare(splitList(channels, 'channel'), event, data, { socketId });
  }

  private answer(prepared: PreparedBroadcast, sent: boolean): ComposeAnswer {
    const connection = this.input.broadcast.resolved.connection;
    return {
      ok: true,
      event: prepared.event,
      channels: prepared.channels,
      skipped: prepared.skipped,
      requests: prepared.requests.length,
      bytes: prepared.bytes,
      maxBytes: (connection.maxPayloadKb ?? LIMITS.defaultMaxPayloadKb) * 1024,
      sent,
    };
  }
}

/** The composer's JSON text (empty means `{}`); parse errors without `parseJson`'s shell-quoting hint. */
function parseData(value: unknown): unknown {
  try {
    return parseJson(typeof value === 'string' && value.trim() !== '' ? value : '{}', 'the data');
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** A required text field of a request; an empty one is named in the error. */
function text(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`Give the ${what}`);
  return value.trim();
}

function optionalText(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

function failure(error: unknown): { ok: false; error: { code: string; message: string; hint?: string } } {
  if (!(error instanceof BroadcastError)) return { ok: false, error: { code: 'internal', message: error instanceof Error ? error.message : String(error) } };
  return { ok: false, error: { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) } };
}

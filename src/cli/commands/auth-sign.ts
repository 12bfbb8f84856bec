/**
 * `broadcast auth:sign <channel>`: the body the auth route would return for a subscription, or with
 * `--verify` a check of a signature a client or server produced.
 */
import { randomInt } from 'node:crypto';
import { credentialsOf } from '../../auth/authorize.js';
import { channelAuthBody, presenceChannelData, verifyChannelAuth, type ChannelAuth } from '../../auth/sign.js';
import { channelType } from '../../core/channels.js';
import { BroadcastError, ConfigError, UsageError, ValidationError } from '../../core/errors.js';
import { validateChannelName, validateSocketId } from '../../core/validation.js';
import { defineCommand } from '../command.js';
import { openBroadcast } from '../context.js';
import { parseJson, readJsonOption } from '../input.js';

export interface AuthSignOptions {
  socketId?: string;
  user?: string;
  userInfo?: string;
  channelData?: string;
  verify?: string;
}

/** What `auth:sign` printed: the body the auth route would return for the subscription. */
export interface AuthSignBody {
  channel: string;
  socketId: string;
  /** True when no --socket-id was given and a random valid one was signed for. */
  socketIdGenerated: boolean;
  /** Pusher's wire format, as the route returns it: `auth`, and `channel_data` / `shared_secret` when they apply. */
  body: ChannelAuth;
}

/** What `auth:sign --verify` found: the signature matches (a mismatch is an error, exit 1). */
export interface AuthVerified {
  channel: string;
  socketId: string;
  socketIdGenerated: false;
  valid: true;
  /** The channel_data the signature covers, when there is one. */
  channelData?: string;
}

export type AuthSignResult = AuthSignBody | AuthVerified;

/** A signature that does not verify: `mismatch`, exit 1. */
function mismatch(message: string, details: Record<string, unknown>): BroadcastError {
  return new BroadcastError(message, { code: 'mismatch', details });
}

/** A user id as most backends write it: all digits (no leading zero, within 2^53) as a number, else a string. */
export function parseUserId(value: string): string | number {
  if (value === '') throw new UsageError('--user must not be empty');
  return /^(0|[1-9]\d*)$/.test(value) && Number.isSafeInteger(Number(value)) ? Number(value) : value;
}

export function randomSocketId(): string {
  return `${randomInt(1, 2 ** 31)}.${randomInt(1, 2 ** 31)}`;
}

interface VerifyInput {
  auth: string;
  channelData?: string;
  sharedSecret?: string;
}

/** `--verify` takes the `auth` string, or the whole JSON body the route returned. */
function parseVerify(value: string): VerifyInput {
  const text = value.trim();
  if (!text.startsWith('{')) return { auth: text };
  const body = parseJson(text, '--verify');
  const { auth, channel_data: channelData, shared_secret: sharedSecret } = body as Record<string, unknown>;
  if (typeof auth !== 'string') throw new UsageError('The --verify body has no "auth" string', { hint: 'Pass the auth value ("<key>:<signature>") or the whole JSON body the auth route returned' });
  if (channelData !== undefined && typeof channelData !== 'string') throw new UsageError('The --verify body\'s "channel_data" must be a string (the exact JSON text that was signed)');
  if (sharedSecret !== undefined && typeof sharedSecret !== 'string') throw new UsageError('The --verify body\'s "shared_secret" must be a string');
  return { auth, ...(channelData !== undefined ? { channelData } : {}), ...(sharedSecret !== undefined ? { sharedSecret } : {}) };
}

/** Checks `--channel-data`: valid JSON, and for presence an object with a user_id. Returns the exact text. */
function checkChannelData(text: string, presence: boolean, what: string): string {
  const value = parseJson(text, what);
  if (presence) {
    const userId = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as { user_id?: unknown }).user_id : undefined;
    if (!((typeof userId === 'string' && userId !== '') || (typeof userId === 'number' && Number.isFinite(userId)))) {
      throw new UsageError(`${what} must be a JSON object with a "user_id" (a string or a number)`, { hint: `e.g. ${what} '{"user_id":42,"user_info":{"name":"Ada"}}'` });
    }
  }
  return text;
}

export default defineCommand<AuthSignResult>({
  async run(ctx, channel: string, options: AuthSignOptions) {
    // All input is checked before the config is loaded.
    validateChannelName(channel);
    const type = channelType(channel);
    if (type === 'public') {
      throw new UsageError(`"${channel}" is a public channel: it needs no authorization`, {
        hint: `Sign private-, presence- or private-encrypted- channels, e.g. broadcast auth:sign private-${channel}`,
      });
    }
    const presence = type === 'presence';
    if (options.socketId !== undefined) validateSocketId(options.socketId);
    else if (options.verify !== undefined) {
      throw new UsageError('--verify needs --socket-id: a signature is only valid for the socket it was made for');
    }
    if (options.user !== undefined && !presence) {
      throw new UsageError('--user applies to presence channels only', { hint: 'Private channels carry no user; use a presence- channel to join as a member' });
    }
    if (options.channelData !== undefined && !presence) {
      throw new UsageError('--channel-data applies to presence channels only', {
        hint: `A ${type} channel's signature covers only the socket id and the channel name; servers refuse one that includes channel_data`,
      });
    }
    if (options.userInfo !== undefined && options.user === undefined) {
      throw new UsageError('--user-info needs --user', { hint: '--channel-data is the complete channel_data string: put user_info inside it instead' });
    }
    if (options.user !== undefined && options.channelData !== undefined) {
      throw new UsageError('Give --user (with --user-info) or --channel-data, not both');
    }
    const verify = options.verify === undefined ? undefined : parseVerify(options.verify);

    let channelData: string | undefined;
    if (options.channelData !== undefined) {
      channelData = checkChannelData(options.channelData, presence, '--channel-data');
    } else if (options.user !== undefined) {
      const userId = parseUserId(options.user);
      let userInfo: unknown;
      if (options.userInfo !== undefined) {
        userInfo = await readJsonOption(ctx, options.userInfo, '--user-info');
        if (userInfo === null || typeof userInfo !== 'object' || Array.isArray(userInfo)) {
          throw new UsageError('--user-info must be a JSON object', { hint: `e.g. --user-info '{"name":"Ada"}'` });
        }
      }
      channelData = presenceChannelData(userId, userInfo);
    } else if (verify?.channelData !== undefined) {
      channelData = checkChannelData(verify.channelData, presence, 'the --verify body\'s channel_data');
    }
    if (presence && channelData === undefined) {
      throw new UsageError(`Presence channel "${channel}" needs a member: give --user <id> (and --user-info <json>) or --channel-data <json>`, {
        hint: `broadcast auth:sign ${channel} --user 42 --user-info '{"name":"Ada"}'`,
      });
    }

    const broadcast = await openBroadcast(ctx);
    try {
      const credentials = credentialsOf(broadcast);
      if (!verify) {
        const socketId = options.socketId ?? randomSocketId();
        const body = channelAuthBody(credentials, socketId, channel, channelData);
        return { result: { channel, socketId, socketIdGenerated: options.socketId === undefined, body } };
      }
      const socketId = options.socketId!;
      if (verify.sharedSecret !== undefined && !credentials.encryptionMasterKeyBase64) {
        throw new ConfigError(`Cannot check shared_secret: connection "${credentials.connectionName}" has no encryptionMasterKeyBase64`, {
          hint: 'Set PUSHER_ENCRYPTION_MASTER_KEY_BASE64 (the key the server used)',
        });
      }
      if (verify.channelData !== undefined && channelData !== undefined && verify.channelData !== channelData) {
        throw mismatch(`channel_data differs: the body carries ${verify.channelData}, the flags give ${channelData}`, { differs: 'channel_data', channel, socketId });
      }
      const verification = verifyChannelAuth(credentials, { socketId, channel, auth: verify.auth, channelData, sharedSecret: verify.sharedSecret });
      if (!verification.valid && verification.differs === 'format') {
        throw new ValidationError(`--verify: ${verification.message}`, { hint: 'Pass the "auth" value the route returned, or its whole JSON body' });
      }
      if (!verification.valid) throw mismatch(verification.message, { differs: verification.differs, channel, socketId });
      return { result: { channel, socketId, socketIdGenerated: false, valid: true, ...(channelData !== undefined ? { channelData } : {}) } };
    } finally {
      broadcast.close();
    }
  },

  render(io, result) {
    if ('valid' in result) {
      io.out(`${io.style.green('✓')} signature matches: ${result.channel}, socket id ${result.socketId}${result.channelData !== undefined ? ', channel_data as given' : ''}`);
      return;
    }
    // Exactly the route's body, so it can be piped to whatever expects one.
    io.out(JSON.stringify(result.body));
    if (result.socketIdGenerated) io.note(io.errStyle.dim(`socket_id ${result.socketId} (generated; pass --socket-id <id> to sign for a real connection)`));
  },
});

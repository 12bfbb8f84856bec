/**
 * `broadcast auth:sign-user --user <id>`: the body the user authentication route would return for a sign-in
 * (pusher-js `signin()`), offline; or with `--verify` a check of a signature a client or server produced.
 */
import { credentialsOf } from '../../auth/authorize.js';
import { userAuthBody, userData, verifyUserAuth, type UserAuth, type UserAuthInput } from '../../auth/users.js';
import { BroadcastError, UsageError, ValidationError } from '../../core/errors.js';
import { validateSocketId } from '../../core/validation.js';
import { defineCommand } from '../command.js';
import { openBroadcast } from '../context.js';
import { parseJson, readJsonOption, splitList } from '../input.js';
import { randomSocketId } from './auth-sign.js';

export interface AuthSignUserOptions {
  user?: string;
  userInfo?: string;
  watchlist?: string;
  socketId?: string;
  verify?: string;
}

/** The signed body, as the route returns it. */
export interface AuthSignUserBody {
  socketId: string;
  /** True when no --socket-id was given and a random valid one was signed for. */
  socketIdGenerated: boolean;
  userId: string;
  /** Pusher's wire format: `auth`, and `user_data`, the exact JSON text that was signed. */
  body: UserAuth;
}

/** `--verify` found the signature valid (a mismatch is an error, exit 1). */
export interface AuthSignUserVerified {
  socketId: string;
  socketIdGenerated: false;
  userId: string;
  valid: true;
  /** The user_data text the signature covers. */
  userData: string;
}

export type AuthSignUserResult = AuthSignUserBody | AuthSignUserVerified;

/** `--verify` takes the `auth` string, or the whole JSON body the route returned (`auth` and `user_data`). */
function parseVerify(value: string): { auth: string; userData?: string } {
  const text = value.trim();
  if (!text.startsWith('{')) return { auth: text };
  const { auth, user_data: data } = parseJson(text, '--verify') as Record<string, unknown>;
  if (typeof auth !== 'string') throw new UsageError('The --verify body has no "auth" string', { hint: 'Pass the auth value ("<key>:<signature>") or the whole JSON body the route returned' });
  if (data !== undefined && typeof data !== 'string') throw new UsageError('The --verify body\'s "user_data" must be a string (the exact JSON text that was signed)');
  return { auth, ...(data !== undefined ? { userData: data } : {}) };
}

/** The user id inside a user_data text, checked as the server checks it. */
function idOfUserData(text: string): string {
  const value = parseJson(text, 'the --verify body\'s user_data') as { id?: unknown } | null;
  if (value === null || typeof value !== 'object' || typeof value.id !== 'string' || value.id === '') {
    throw new UsageError('The --verify body\'s user_data must be a JSON object with an "id" string', { hint: 'e.g. {"id":"42","user_info":{"name":"Ada"}}' });
  }
  return value.id;
}

export default defineCommand<AuthSignUserResult>({
  async run(ctx, options: AuthSignUserOptions) {
    // All input is checked before the config is loaded.
    if (options.socketId !== undefined) validateSocketId(options.socketId);
    else if (options.verify !== undefined) throw new UsageError('--verify needs --socket-id: a signature is only valid for the socket it was made for');
    const verify = options.verify === undefined ? undefined : parseVerify(options.verify);
    if (options.user === undefined && (options.userInfo !== undefined || options.watchlist !== undefined)) {
      throw new UsageError(`${options.userInfo !== undefined ? '--user-info' : '--watchlist'} needs --user`);
    }
    if (options.user === undefined && verify?.userData === undefined) {
      throw new UsageError('Missing --user <id>: the user to sign in', { hint: 'broadcast auth:sign-user --user 42 --user-info \'{"name":"Ada"}\'' });
    }
    let input: UserAuthInput | undefined;
    let text: string | undefined;
    if (options.user !== undefined) {
      input = { id: options.user };
      if (options.userInfo !== undefined) {
        const info = await readJsonOption(ctx, options.userInfo, '--user-info');
        if (info === null || typeof info !== 'object' || Array.isArray(info)) {
          throw new UsageError('--user-info must be a JSON object', { hint: `e.g. --user-info '{"name":"Ada"}'` });
        }
        input.user_info = info as Record<string, unknown>;
      }
      if (options.watchlist !== undefined) input.watchlist = splitList(options.watchlist, 'watchlist');
      text = userData(input);
    }

    const broadcast = await openBroadcast(ctx);
    try {
      const credentials = credentialsOf(broadcast);
      if (!verify) {
        const socketId = options.socketId ?? randomSocketId();
        const body = userAuthBody(credentials, socketId, input!);
        return { result: { socketId, socketIdGenerated: options.socketId === undefined, userId: options.user!, body } };
      }
      const socketId = options.socketId!;
      if (verify.userData !== undefined && text !== undefined && verify.userData !== text) {
        throw new BroadcastError(`user_data differs: the body carries ${verify.userData}, the flags give ${text}`, {
          code: 'mismatch',
          details: { differs: 'user_data', socketId },
        });
      }
      const signed = verify.userData ?? text!;
      const userId = idOfUserData(signed);
      const verification = verifyUserAuth(credentials, { socketId, userData: signed, auth: verify.auth });
      if (!verification.valid && verification.differs === 'format') {
        throw new ValidationError(`--verify: ${verification.message}`, { hint: 'Pass the "auth" value the route returned, or its whole JSON body' });
      }
      if (!verification.valid) throw new BroadcastError(verification.message, { code: 'mismatch', details: { differs: verification.differs, socketId } });
      return { result: { socketId, socketIdGenerated: false, userId, valid: true, userData: signed } };
    } finally {
      broadcast.close();
    }
  },

  render(io, result) {
    if ('valid' in result) {
      io.out(`${io.style.green('✓')} signature matches: user ${result.userId}, socket id ${result.socketId}`);
      return;
    }
    // Exactly the route's body, so it can be piped to whatever expects one.
    io.out(JSON.stringify(result.body));
    if (result.socketIdGenerated) io.note(io.errStyle.dim(`socket_id ${result.socketId} (generated; pass --socket-id <id> to sign for a real connection)`));
  },
});

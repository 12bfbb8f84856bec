/**
 * Pusher user authentication (pusher-js `signin()`) and what it enables: the signed `user_data` the user-auth
 * route returns, messages to one user (the `#server-to-user-<id>` channel) and ending a user's connections.
 * Functions over a Broadcast; the Broadcast methods of the same names delegate here.
 */
import type { KeyObject } from 'node:crypto';
import type { Broadcast } from '../core/broadcast.js';
import { ConfigError, UsageError, ValidationError } from '../core/errors.js';
import { LIMITS, validateEventName, validatePayloadSize, validateSocketId } from '../core/validation.js';
import { credentialsOf, failure, isBroadcastUser, type AuthorizeFailure } from './authorize.js';
import { hmacHex, userStringToSign, verifyAuthSignature, type AuthCredentials, type AuthVerification, type RouteSigner } from './sign.js';

/** The channel a signed-in user's connections receive server messages on; the user id follows it. */
export const USER_CHANNEL_PREFIX = '#server-to-user-';

export const USER_LIMITS = {
  /** Pusher's limit on a watchlist. */
  watchlist: 100,
  /** So that `#server-to-user-<id>` stays within the channel name limit. */
  userIdLength: LIMITS.channelNameLength - USER_CHANNEL_PREFIX.length,
} as const;

// The characters Pusher allows in channel names: a user id becomes part of one.
const USER_ID = /^[A-Za-z0-9_\-=@,.;]+$/;

/** The key and secret to sign with (the secret as text, or prepared once as a KeyObject). */
export type SigningKey = { key: string; secret: string | KeyObject };

/** Who signs in: `id` (a string or a number, sent as a string), and what other users may see. */
export interface UserAuthInput {
  id: string | number;
  /** Anything about the user that other users may see (an object). */
  user_info?: Record<string, unknown>;
  /** Ids of users whose online status this user watches (at most 100). */
  watchlist?: readonly (string | number)[];
}

/** The body the user-auth route returns: `auth` signs `user_data`, the JSON text pusher-js sends on. */
export interface UserAuth {
  auth: string;
  user_data: string;
}

/** Why a user id is invalid, or undefined when it is fine. */
export function userIdProblem(id: unknown): string | undefined {
  if (typeof id === 'number') {
    return Number.isFinite(id) ? undefined : 'a numeric user id must be a finite number';
  }
  if (typeof id !== 'string' || id === '') return 'a user id must be a non-empty string or a number';
  if (id.length > USER_LIMITS.userIdLength) return `it is ${id.length} characters long; the limit is ${USER_LIMITS.userIdLength}`;
  if (!USER_ID.test(id)) {
    const bad = [...new Set([...id].filter((c) => !USER_ID.test(c)))].map((c) => JSON.stringify(c)).join(', ');
    return `it contains ${bad}; allowed are A-Z a-z 0-9 _ - = @ , . ;`;
  }
  return undefined;
}

/** The user id as Pusher carries it (a string); throws a ValidationError for an invalid one. */
export function validateUserId(id: unknown, what = 'user id'): string {
  const problem = userIdProblem(id);
  if (problem) throw new ValidationError(`Invalid ${what} ${JSON.stringify(id)}: ${problem}`);
  return String(id);
}

/**
 * The `user_data` JSON text for a user: `id` as a string, `user_info` and `watchlist` when given, nothing
 * else (an app's user object may hold much that must not reach the server). Throws a ValidationError.
 */
export function userData(user: UserAuthInput): string {
  if (user === null || typeof user !== 'object') throw new ValidationError('The user must be an object with an id');
  const id = validateUserId(user.id);
  const data: { id: string; user_info?: unknown; watchlist?: string[] } = { id };
  if (user.user_info !== undefined) {
    const info = user.user_info;
    if (info === null || typeof info !== 'object' || Array.isArray(info)) throw new ValidationError('user_info must be an object');
    data.user_info = info;
  }
  if (user.watchlist !== undefined) {
    if (!Array.isArray(user.watchlist)) throw new ValidationError('watchlist must be an array of user ids');
    if (user.watchlist.length > USER_LIMITS.watchlist) {
      throw new ValidationError(`The watchlist has ${user.watchlist.length} ids; the limit is ${USER_LIMITS.watchlist}`);
    }
    data.watchlist = user.watchlist.map((watched) => validateUserId(watched, 'watchlist id'));
  }
  const text = JSON.stringify(data);
  if (text === undefined) throw new ValidationError('user_info cannot be serialized to JSON');
  return text;
}

export { userStringToSign };

/** `<key>:<signature>` over `user_data` for a socket; `userDataText` is signed byte for byte. */
export function signUser(credentials: SigningKey, socketId: string, userDataText: string): string {
  return `${credentials.key}:${hmacHex(credentials.secret, userStringToSign(socketId, userDataText))}`;
}

/** The user-auth body for a socket id and a user, checked (ValidationError for a bad socket id or user). */
export function userAuthBody(credentials: AuthCredentials, socketId: string, user: UserAuthInput): UserAuth {
  validateSocketId(socketId);
  const text = userData(user);
  return { auth: signUser(credentials, socketId, text), user_data: text };
}

/** Checks a user sign-in's `auth` against its socket id and exact `user_data` text, in constant time. */
export function verifyUserAuth(credentials: AuthCredentials, input: { socketId: string; userData: string; auth: string }): AuthVerification {
  return verifyAuthSignature(
    credentials,
    input.auth,
    userStringToSign(input.socketId, input.userData),
    'signature does not match: the socket id, user_data or secret differ',
  );
}

/** `#server-to-user-<id>`, the channel `sendToUser` triggers on. */
export function userChannel(userId: string | number): string {
  return `${USER_CHANNEL_PREFIX}${validateUserId(userId)}`;
}

/** `broadcast.authenticateUser(socketId, user)`: signs a sign-in with the connection's key and secret. */
export function authenticateUser(broadcast: Broadcast, socketId: string, user: UserAuthInput): UserAuth {
  return userAuthBody(credentialsOf(broadcast), socketId, user);
}

/** A message to one user, checked and ready to send. */
export interface UserMessage {
  userId: string;
  channel: string;
  event: string;
  data: unknown;
  /** Size of the serialized data. */
  bytes: number;
  socketId?: string;
}

/** What `sendToUser` sent. */
export interface UserMessageResult extends UserMessage {
  connection: string;
  driver: 'pusher' | 'log' | 'null';
  /** False for the log and null drivers, which send nothing. */
  delivered: boolean;
}

/** Checks a message to a user without sending it (the user id, event name, payload size, socket id). */
export function prepareUserMessage(broadcast: Broadcast, userId: string | number, event: string, data: unknown = {}, options: { socketId?: string } = {}): UserMessage {
  const channel = userChannel(userId);
  validateEventName(event);
  const bytes = validatePayloadSize(data, broadcast.maxPayloadKb);
  const socketId = options.socketId === undefined ? undefined : validateSocketId(options.socketId);
  return { userId: String(userId), channel, event, data, bytes, ...(socketId ? { socketId } : {}) };
}

/**
 * Sends an event to every connection signed in as `userId`: an HTTP API trigger on `#server-to-user-<id>`
 * (which the ordinary channel checks refuse, for its `#`). Clients receive it with `pusher.user.bind(event, …)`.
 */
export async function sendToUser(
  broadcast: Broadcast,
  userId: string | number,
  event: string,
  data: unknown = {},
  options: { socketId?: string } = {},
): Promise<UserMessageResult> {
  return sendUserMessage(broadcast, prepareUserMessage(broadcast, userId, event, data, options));
}

/** Sends a prepared message to a user. */
export async function sendUserMessage(broadcast: Broadcast, message: UserMessage): Promise<UserMessageResult> {
  const driver = broadcast.driver;
  await driver.trigger({ channels: [message.channel], event: message.event, data: message.data, ...(message.socketId ? { socketId: message.socketId } : {}) });
  return { ...message, connection: broadcast.connectionName, driver: driver.driver, delivered: driver.delivers };
}

/** What `terminateUserConnections` did. */
export interface TerminateResult {
  connection: string;
  userId: string;
}

/**
 * Closes every connection signed in as `userId` (HTTP API `POST /users/<id>/terminate_connections`). The
 * server answers at once; the connections close shortly after. Throws a UsageError on a log or null connection.
 */
export async function terminateUserConnections(broadcast: Broadcast, userId: string | number): Promise<TerminateResult> {
  const id = validateUserId(userId);
  const driver = broadcast.driver;
  if (!driver.post) {
    throw new UsageError(`The "${broadcast.connectionName}" connection uses the ${driver.driver} driver: it has no server whose connections could be closed`, {
      hint: 'Configure a pusher connection (PUSHER_APP_ID, PUSHER_APP_KEY, PUSHER_APP_SECRET, PUSHER_HOST, PUSHER_PORT)',
    });
  }
  await driver.post(`/users/${id}/terminate_connections`, {});
  return { connection: broadcast.connectionName, userId: id };
}


/** What a signed-in user's `user_data` holds beside the id: from the auth handler's `userData` option. */
export type UserDataFields = Pick<UserAuthInput, 'user_info' | 'watchlist'>;

/**
 * The user-auth route's decision once the socket id is checked: 403 without a user, the signed body, or
 * 500 `invalid_user` when the app's user data breaks Pusher's rules (an id with a space, 101 watched ids).
 */
export function decideUserSignIn(
  signer: Pick<RouteSigner, 'user'>,
  socketId: string,
  user: unknown,
  fields: UserDataFields | undefined,
): UserSignInResult | Promise<UserSignInResult> {
  if (user === null || user === undefined || user === false) return failure(403, 'unauthenticated', 'No authenticated user');
  if (!isBroadcastUser(user)) {
    return failure(403, 'unauthenticated', 'No authenticated user', {
      cause: new ConfigError('The auth handler\'s user() returned a value without an id (a non-empty string or a number)'),
    });
  }
  const own = user as UserDataFields;
  const input: UserAuthInput = fields === undefined
    ? { id: user.id, ...(own.user_info !== undefined ? { user_info: own.user_info } : {}), ...(own.watchlist !== undefined ? { watchlist: own.watchlist } : {}) }
    : { ...fields, id: user.id };
  let text: string;
  try {
    text = userData(input);
  } catch (error) {
    return failure(500, 'invalid_user', 'The user cannot be signed in', { cause: error });
  }
  const auth = signer.user(socketId, text);
  if (typeof auth === 'string') return { ok: true, status: 200, body: { auth, user_data: text } };
  return auth.then((signed) => ({ ok: true, status: 200, body: { auth: signed, user_data: text } }));
}

/** The user-auth route's answer: the signed body, or a refusal. */
export type UserSignInResult = { ok: true; status: 200; body: UserAuth } | AuthorizeFailure;

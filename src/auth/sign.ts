/**
 * Pusher's signatures: channel authorization (the auth route) and HTTP API requests (the pusher driver).
 * Pure functions over node:crypto, checked against Pusher's published examples in test/unit/sign.test.ts.
 */
import { createHash, createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { channelType, type ChannelType } from '../core/channels.js';
import { ConfigError, ValidationError } from '../core/errors.js';
import { validateChannelName, validateSocketId } from '../core/validation.js';

export interface AuthCredentials {
  key: string;
  secret: string;
  encryptionMasterKeyBase64?: string;
}

/** The body the auth route returns. */
export interface ChannelAuth {
  auth: string;
  channel_data?: string;
  shared_secret?: string;
}

/** Hex HMAC-SHA256 of `text` with `secret`. */
export function hmacHex(secret: string | KeyObject, text: string | Buffer): string {
  return createHmac('sha256', secret).update(text).digest('hex');
}

/** Query parameters that the signature itself sets. */
const SIGNATURE_PARAMS = new Set(['auth_key', 'auth_timestamp', 'auth_version', 'auth_signature', 'body_md5']);

/**
 * The query string of a signed HTTP API request (Pusher's "Generating authentication signatures"): the
 * parameters, `auth_key`, `auth_timestamp`, `auth_version` and `body_md5` (when there is a body) sorted by name,
 * then `auth_signature`, the HMAC-SHA256 of `METHOD\npath\nquery`. Values are used as given, unescaped, as the
 * official client does; callers pass only names and values made of URL-safe characters.
 */
export function signApiRequest(
  credentials: { key: string; secret: string | KeyObject },
  request: { method: string; path: string; body?: string; params?: Record<string, string> },
  now = Date.now(),
): string {
  const query: Record<string, string> = { auth_key: credentials.key, auth_timestamp: String(Math.floor(now / 1000)), auth_version: '1.0' };
  if (request.body) query.body_md5 = createHash('md5').update(request.body).digest('hex');
  for (const [name, value] of Object.entries(request.params ?? {})) {
    if (SIGNATURE_PARAMS.has(name)) throw new Error(`"${name}" is set by the request signature and cannot be a parameter`);
    query[name] = value;
  }
  const signed = Object.keys(query)
    .sort()
    .map((name) => `${name}=${query[name]}`)
    .join('&');
  return `${signed}&auth_signature=${hmacHex(credentials.secret, `${request.method}\n${request.path}\n${signed}`)}`;
}

/** Constant-time comparison of two strings (false for different lengths). */
export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** The string that is signed: `socket_id:channel_name[:channel_data]`. */
export function stringToSign(socketId: string, channel: string, channelData?: string): string {
  return channelData === undefined ? `${socketId}:${channel}` : `${socketId}:${channel}:${channelData}`;
}

/** The text a user sign-in signs: `<socket_id>::user::<user_data>`. */
export function userStringToSign(socketId: string, userDataText: string): string {
  return `${socketId}::user::${userDataText}`;
}

/** `<key>:<signature>` for a private or presence channel. `channelData` is signed byte for byte. */
export function signChannel(credentials: AuthCredentials, socketId: string, channel: string, channelData?: string): string {
  return `${credentials.key}:${hmacHex(credentials.secret, stringToSign(socketId, channel, channelData))}`;
}

/** The `channel_data` JSON string for a presence member. */
export function presenceChannelData(userId: string | number, userInfo?: unknown): string {
  return JSON.stringify(userInfo === undefined ? { user_id: userId } : { user_id: userId, user_info: userInfo });
}

/** Per-channel key for `private-encrypted-` channels: SHA-256 of the channel name and the master key, base64. */
export function sharedSecret(channel: string, encryptionMasterKeyBase64: string): string {
  return sharedSecretFrom(channel, Buffer.from(encryptionMasterKeyBase64, 'base64'));
}

function sharedSecretFrom(channel: string, masterKey: Buffer): string {
  return createHash('sha256').update(channel).update(masterKey).digest('base64');
}

/**
 * Credentials prepared once for signing many subscriptions (the auth handler): the secret as a KeyObject
 * and the master key decoded, so a request pays for neither. Internal.
 */
export interface Signer {
  key: string;
  hmacKey: KeyObject;
  masterKey?: Buffer;
  connectionName?: string;
}

/**
 * What the auth routes sign with: the subscription body and the user sign-in signature, synchronously
 * (node:crypto, `routeSigner`) or as promises (Web Crypto, `createWebSigner` in web-sign.ts). Internal.
 */
export interface RouteSigner {
  key: string;
  /** As `signSubscription`; throws a ConfigError at once (never a rejected promise) for an encrypted channel without a master key. */
  subscription(socketId: string, channel: string, type: ChannelType, channelData?: string): ChannelAuth | Promise<ChannelAuth>;
  /** `<key>:<signature>` of `<socket_id>::user::<user_data>`. */
  user(socketId: string, userDataText: string): string | Promise<string>;
}

/** The node:crypto RouteSigner over prepared credentials: everything synchronous. */
export function routeSigner(signer: Signer): RouteSigner {
  return {
    key: signer.key,
    subscription: (socketId, channel, type, channelData) => signSubscription(signer, socketId, channel, type, channelData),
    user: (socketId, userDataText) => `${signer.key}:${hmacHex(signer.hmacKey, userStringToSign(socketId, userDataText))}`,
  };
}

export function createSigner(credentials: AuthCredentials & { connectionName?: string }): Signer {
  const master = credentials.encryptionMasterKeyBase64;
  return {
    key: credentials.key,
    hmacKey: createSecretKey(Buffer.from(credentials.secret)),
    ...(master ? { masterKey: Buffer.from(master, 'base64') } : {}),
    ...(credentials.connectionName === undefined ? {} : { connectionName: credentials.connectionName }),
  };
}

/**
 * The auth body for a socket id and a non-public channel name that the caller has already checked (the
 * auth handler checks both before anything else runs). Throws a ConfigError for an encrypted channel
 * without a master key.
 */
export function signSubscription(signer: Signer, socketId: string, channel: string, type: ChannelType, channelData?: string): ChannelAuth {
  const auth = `${signer.key}:${hmacHex(signer.hmacKey, stringToSign(socketId, channel, channelData))}`;
  if (type === 'encrypted') {
    if (!signer.masterKey) throw missingMasterKey(channel, signer.connectionName);
    const shared = sharedSecretFrom(channel, signer.masterKey);
    return channelData === undefined ? { auth, shared_secret: shared } : { auth, channel_data: channelData, shared_secret: shared };
  }
  return channelData === undefined ? { auth } : { auth, channel_data: channelData };
}

export function missingMasterKey(channel: string, connectionName: string | undefined): ConfigError {
  const connection = connectionName ? ` connection "${connectionName}"` : ' the connection';
  return new ConfigError(`Channel "${channel}" is encrypted, but${connection} has no encryptionMasterKeyBase64`, {
    hint: 'Set PUSHER_ENCRYPTION_MASTER_KEY_BASE64 (32 bytes, base64: openssl rand -base64 32)',
  });
}

/**
 * The body the auth route returns for one subscription: `auth`, plus `channel_data` (presence, or when given)
 * and `shared_secret` (encrypted channels). Validates its input; throws a ValidationError for a malformed
 * socket id, an invalid or public channel name, and a ConfigError for an encrypted channel without a master key.
 */
export function channelAuthBody(
  credentials: AuthCredentials & { connectionName?: string },
  socketId: string,
  channel: string,
  channelData?: string,
): ChannelAuth {
  validateSocketId(socketId);
  validateChannelName(channel);
  const type = channelType(channel);
  if (type === 'public') {
    throw new ValidationError(`"${channel}" is a public channel: it needs no authorization`, {
      hint: 'Only private-, presence- and private-encrypted- channels are signed',
    });
  }
  if (type === 'presence' && channelData === undefined) {
    throw new ValidationError(`Presence channel "${channel}" needs channel_data with a user_id`);
  }
  return signSubscription(createSigner(credentials), socketId, channel, type, channelData);
}

/** What `verifyChannelAuth` found: which input has to differ when the signature does not match. */
export type AuthVerification =
  | { valid: true }
  | { valid: false; differs: 'format' | 'key' | 'signature' | 'shared_secret'; message: string };

/**
 * Checks an `auth` value (`<key>:<hex signature>`) against the text it should sign, in constant time:
 * the format, the app key, then the HMAC. Shared by channel authorization and user authentication.
 */
export function verifyAuthSignature(credentials: AuthCredentials, auth: string, signed: string, mismatch: string): AuthVerification {
  const match = /^([^:]*):([0-9a-fA-F]{64})$/.exec(auth.trim());
  if (!match) {
    return { valid: false, differs: 'format', message: 'not a Pusher auth signature: expected "<app key>:<64 hex digits>"' };
  }
  const [, key, signature] = match as unknown as [string, string, string];
  if (!safeEqual(key, credentials.key)) {
    return {
      valid: false,
      differs: 'key',
      message: `the key differs: the signature is for app key "${key}", but this connection's key is "${credentials.key}" (signed with another app's credentials)`,
    };
  }
  if (!safeEqual(signature.toLowerCase(), hmacHex(credentials.secret, signed))) return { valid: false, differs: 'signature', message: mismatch };
  return { valid: true };
}

/**
 * Checks an `auth` value (`<key>:<hex signature>`) a client or server produced, in constant time.
 * `differs` says what is wrong: the format, the app key, the signature (socket id, channel name,
 * channel_data or secret), or the `shared_secret` of an encrypted channel.
 */
export function verifyChannelAuth(
  credentials: AuthCredentials,
  input: { socketId: string; channel: string; auth: string; channelData?: string; sharedSecret?: string },
): AuthVerification {
  const checked = verifyAuthSignature(
    credentials,
    input.auth,
    stringToSign(input.socketId, input.channel, input.channelData),
    'signature does not match: the socket id, channel name, channel_data or secret differ',
  );
  if (!checked.valid) return checked;
  if (input.sharedSecret !== undefined) {
    const master = credentials.encryptionMasterKeyBase64;
    if (!master || !safeEqual(input.sharedSecret, sharedSecret(input.channel, master))) {
      return {
        valid: false,
        differs: 'shared_secret',
        message: 'shared_secret does not match: the channel name or the encryption master key differ',
      };
    }
  }
  return { valid: true };
}

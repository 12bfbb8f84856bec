/**
 * The decision the auth route makes, without HTTP: given a user, a socket id and a channel name, the signed
 * body to return or a refusal with its status. Shared by `createAuthHandler`, `Broadcast.authorize()` and
 * any framework adapter (`Response.json(result.body, { status: result.status })`).
 */
import type { Broadcast } from '../core/broadcast.js';
import { channelType } from '../core/channels.js';
import type { BroadcastUser } from '../config/schema.js';
import { ConfigError } from '../core/errors.js';
import { channelNameProblem, isValidSocketId } from '../core/validation.js';
import { decideRules, isThenable, rulesOf, type CompiledRule, type RuleDecision } from './rules.js';
import { createSigner, presenceChannelData, routeSigner, type AuthCredentials, type ChannelAuth, type RouteSigner, type Signer } from './sign.js';

/** Stable error codes in auth responses (`{ "error": { "code", "message" } }`). */
export type AuthErrorCode =
  | 'invalid_request'
  | 'unauthenticated'
  | 'forbidden'
  | 'encryption_not_configured'
  | 'method_not_allowed'
  | 'not_found'
  | 'payload_too_large'
  | 'request_timeout'
  | 'unsupported_media_type'
  | 'invalid_user'
  | 'internal_error';

/** The JSON body of every refusal. */
export interface AuthErrorBody {
  error: { code: AuthErrorCode; message: string };
}

export interface AuthorizeSuccess {
  ok: true;
  status: 200;
  /** Exactly what the client needs: `auth`, plus `channel_data` / `shared_secret` where they apply. */
  body: ChannelAuth;
  channel: string;
  /** The pattern of the rule that allowed it, when rules are configured. */
  rule?: string;
}

export interface AuthorizeFailure {
  ok: false;
  status: number;
  body: AuthErrorBody;
  /** For the server's log only (a rule's exception, a ConfigError); never sent to the client. */
  cause?: unknown;
  rule?: string;
}

export type AuthorizeResult = AuthorizeSuccess | AuthorizeFailure;

/** Generic refusal text: the client learns it was refused, not why (rules may hold business logic). */
export const FORBIDDEN_MESSAGE = 'Not authorized to subscribe to this channel';

export function failure(status: number, code: AuthErrorCode, message: string, extra: { cause?: unknown; rule?: string } = {}): AuthorizeFailure {
  return { ok: false, status, body: { error: { code, message } }, ...extra };
}

/** The key and secret to sign with. Throws a ConfigError when the connection has none (log/null drivers). */
export function credentialsOf(broadcast: Broadcast): AuthCredentials & { connectionName: string } {
  const { name, connection } = broadcast.resolved;
  if (connection.driver !== 'pusher') {
    throw new ConfigError(`Connection "${name}" uses the ${connection.driver} driver, which has no app key and secret to sign channel subscriptions with`, {
      hint: 'Authorize channels with a pusher connection: set PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET, or pick one with --connection / BROADCAST_CONNECTION',
    });
  }
  return {
    connectionName: name,
    // Config files may give numbers; signatures are computed over the text.
    key: String(connection.key),
    secret: String(connection.secret),
    ...(connection.encryptionMasterKeyBase64 ? { encryptionMasterKeyBase64: String(connection.encryptionMasterKeyBase64) } : {}),
  };
}

/** A user the route can sign for: an object whose `id` is a non-empty string or a finite number. */
export function isBroadcastUser(user: unknown): user is BroadcastUser {
  if (user === null || typeof user !== 'object') return false;
  const id = (user as { id?: unknown }).id;
  return (typeof id === 'string' && id !== '') || (typeof id === 'number' && Number.isFinite(id));
}

/** A 400 failure for a missing or malformed `socket_id`, or undefined when it is well-formed. */
export function checkSocketId(socketId: unknown): AuthorizeFailure | undefined {
  if (socketId === undefined || socketId === null || socketId === '') return failure(400, 'invalid_request', 'Missing socket_id');
  if (typeof socketId !== 'string') return failure(400, 'invalid_request', 'socket_id must be a string');
  if (!isValidSocketId(socketId)) return failure(400, 'invalid_request', 'Invalid socket_id: it must look like "1234.5678" (digits.digits)');
  return undefined;
}

/**
 * Checks the request's fields before anything else runs (no user lookup for garbage): a 400 failure,
 * or undefined when `socket_id` and `channel_name` are well-formed and the channel needs authorization.
 */
export function checkSubscription(socketId: unknown, channelName: unknown): AuthorizeFailure | undefined {
  const badSocket = checkSocketId(socketId);
  if (badSocket) return badSocket;
  if (channelName === undefined || channelName === null || channelName === '') return failure(400, 'invalid_request', 'Missing channel_name');
  if (typeof channelName !== 'string') return failure(400, 'invalid_request', 'channel_name must be a string');
  const problem = channelNameProblem(channelName);
  if (problem) return failure(400, 'invalid_request', `Invalid channel_name: ${problem}`);
  if (channelType(channelName) === 'public') return failure(400, 'invalid_request', 'Public channels need no authorization');
  return undefined;
}

/**
 * Authorizes one subscription. Never throws for anything the request contains: malformed fields give 400,
 * no user 403, a refusing (or throwing) rule 403, an encrypted channel without a master key 500. Throws a
 * ConfigError only for configuration that fails every request (no pusher connection, an invalid rule).
 */
export async function authorize(broadcast: Broadcast, socketId: unknown, channelName: unknown, user: unknown): Promise<AuthorizeResult> {
  const signer = signerOf(broadcast);
  const rules = rulesOf(broadcast.config);
  const invalid = checkSubscription(socketId, channelName);
  if (invalid) return invalid;
  return decideSubscription(routeSigner(signer), rules, socketId as string, channelName as string, user);
}

const signers = new WeakMap<Broadcast, Signer>();

/** The connection's credentials prepared for signing, once per Broadcast (its connection never changes). */
export function signerOf(broadcast: Broadcast): Signer {
  let signer = signers.get(broadcast);
  if (!signer) {
    signer = createSigner(credentialsOf(broadcast));
    signers.set(broadcast, signer);
  }
  return signer;
}

/**
 * The decision for a subscription whose socket id and channel name `checkSubscription` accepted: the user
 * check, the rules, the signature. Synchronous unless a rule returns a promise or the signer is asynchronous
 * (Web Crypto): the Node handler's hot path costs no promise.
 */
export function decideSubscription(signer: RouteSigner, rules: readonly CompiledRule[], socketId: string, channel: string, user: unknown): AuthorizeResult | Promise<AuthorizeResult> {
  if (user === null || user === undefined || user === false) return failure(403, 'unauthenticated', 'No authenticated user');
  if (!isBroadcastUser(user)) {
    return failure(403, 'unauthenticated', 'No authenticated user', {
      cause: new ConfigError('The auth handler\'s user() returned a value without an id (a non-empty string or a number)'),
    });
  }
  const decision = decideRules(rules, user, channel);
  if (isThenable(decision)) return decision.then((d) => signDecision(signer, socketId, channel, user, d));
  return signDecision(signer, socketId, channel, user, decision);
}

function signDecision(signer: RouteSigner, socketId: string, channel: string, user: BroadcastUser, decision: RuleDecision): AuthorizeResult | Promise<AuthorizeResult> {
  if (!decision.allowed) {
    return failure(403, 'forbidden', FORBIDDEN_MESSAGE, decision.reason === 'error' ? { rule: decision.rule, cause: decision.error } : { rule: decision.rule });
  }
  const type = channelType(channel);
  let channelData: string | undefined;
  if (type === 'presence') {
    try {
      channelData = presenceChannelData(user.id, decision.userInfo);
    } catch (error) {
      // user_info that cannot be serialized (a cycle, a BigInt) is the rule's bug.
      return failure(403, 'forbidden', FORBIDDEN_MESSAGE, { rule: decision.rule, cause: error });
    }
  }
  const signed = (body: ChannelAuth): AuthorizeSuccess => {
    const result: AuthorizeSuccess = { ok: true, status: 200, body, channel };
    if (decision.rule) result.rule = decision.rule;
    return result;
  };
  try {
    const body = signer.subscription(socketId, channel, type, channelData);
    return isThenable(body) ? (body as Promise<ChannelAuth>).then(signed) : signed(body as ChannelAuth);
  } catch (error) {
    if (error instanceof ConfigError) {
      return failure(500, 'encryption_not_configured', 'Encrypted channels are not configured on this server', { cause: error });
    }
    throw error;
  }
}

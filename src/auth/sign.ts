/**
 * Pusher channel-authorization signatures. Pure functions over node:crypto, checked against Pusher's
 * published examples in test/unit/sign.test.ts.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

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
export function hmacHex(secret: string, text: string | Buffer): string {
  return createHmac('sha256', secret).update(text).digest('hex');
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
  return createHash('sha256')
    .update(Buffer.concat([Buffer.from(channel), Buffer.from(encryptionMasterKeyBase64, 'base64')]))
    .digest('base64');
}

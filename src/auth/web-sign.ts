/**
 * The auth route's signatures with Web Crypto (`crypto.subtle`), for `createFetchAuthHandler`: the same
 * HMAC-SHA256 signatures and SHA-256 shared secrets as sign.ts, from APIs every JavaScript server runtime has
 * (Node, Deno, Bun, Cloudflare Workers), so no request on that path calls node:crypto or Buffer. Web Crypto is
 * asynchronous only, hence promises.
 */
import type { webcrypto } from 'node:crypto';
import type { ChannelType } from '../core/channels.js';
import { missingMasterKey, stringToSign, userStringToSign, type AuthCredentials, type ChannelAuth, type RouteSigner } from './sign.js';

// Types only: the runtime's global `crypto` is used, never node:crypto.
type SubtleCrypto = webcrypto.SubtleCrypto;
type CryptoKey = webcrypto.CryptoKey;

const encoder = new TextEncoder();

function hex(bytes: ArrayBuffer): string {
  let text = '';
  for (const byte of new Uint8Array(bytes)) text += byte.toString(16).padStart(2, '0');
  return text;
}

function base64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  // atob refuses what Buffer.from(…, 'base64') accepts (URL-safe letters, missing padding): normalize first.
  const standard = text.replace(/-/g, '+').replace(/_/g, '/').replace(/[^A-Za-z0-9+/]/g, '');
  const binary = atob(standard + '='.repeat((4 - (standard.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** The Web Crypto API of the runtime; a clear error where there is none. */
function subtle(): SubtleCrypto {
  const api = (globalThis as { crypto?: { subtle?: SubtleCrypto } }).crypto?.subtle;
  if (!api) throw new Error('This runtime has no Web Crypto (globalThis.crypto.subtle), which createFetchAuthHandler signs with');
  return api;
}

/** A RouteSigner over Web Crypto: the HMAC key is imported once, on first use. */
export function createWebSigner(credentials: AuthCredentials & { connectionName?: string }): RouteSigner {
  const { key } = credentials;
  let hmacKey: Promise<CryptoKey> | undefined;
  const hmacHex = async (text: string): Promise<string> => {
    hmacKey ??= subtle().importKey('raw', encoder.encode(credentials.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    return hex(await subtle().sign('HMAC', await hmacKey, encoder.encode(text)));
  };
  const master = credentials.encryptionMasterKeyBase64 ? fromBase64(credentials.encryptionMasterKeyBase64) : undefined;
  /** SHA-256 of the channel name then the master key, base64: as `sharedSecret` in sign.ts. */
  const sharedSecret = async (channel: string, masterKey: Uint8Array): Promise<string> => {
    const name = encoder.encode(channel);
    const input = new Uint8Array(name.length + masterKey.length);
    input.set(name);
    input.set(masterKey, name.length);
    return base64(new Uint8Array(await subtle().digest('SHA-256', input)));
  };

  return {
    key,
    subscription(socketId: string, channel: string, type: ChannelType, channelData?: string): Promise<ChannelAuth> {
      // Thrown, not rejected: the decision code turns it into a 500 encryption_not_configured.
      if (type === 'encrypted' && !master) throw missingMasterKey(channel, credentials.connectionName);
      const auth = hmacHex(stringToSign(socketId, channel, channelData)).then((signature) => `${key}:${signature}`);
      if (type !== 'encrypted') return auth.then((a) => (channelData === undefined ? { auth: a } : { auth: a, channel_data: channelData }));
      return Promise.all([auth, sharedSecret(channel, master!)]).then(([a, shared]) =>
        channelData === undefined ? { auth: a, shared_secret: shared } : { auth: a, channel_data: channelData, shared_secret: shared },
      );
    },
    user: async (socketId: string, userDataText: string) => `${key}:${await hmacHex(userStringToSign(socketId, userDataText))}`,
  };
}

/**
 * End-to-end encrypted payloads of `private-encrypted-` channels: NaCl secretbox with the channel's shared
 * secret (SHA-256 of the channel name and the master key), as the `pusher` package encrypts the events this
 * project sends. tweetnacl is taken from that package's own dependencies, and loaded only when a payload is
 * encrypted or decrypted, so importing the library stays light.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { sharedSecret } from '../auth/sign.js';

interface SecretBox {
  (message: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array;
  open(box: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array | null;
}

let secretbox: SecretBox | undefined;

/** tweetnacl's secretbox, resolved from the `pusher` package (whose encryption this must match). */
function box(): SecretBox {
  if (!secretbox) {
    const require = createRequire(import.meta.url);
    secretbox = (createRequire(require.resolve('pusher'))('tweetnacl') as { secretbox: SecretBox }).secretbox;
  }
  return secretbox;
}

function channelKey(channel: string, encryptionMasterKeyBase64: string): Uint8Array {
  return Buffer.from(sharedSecret(channel, encryptionMasterKeyBase64), 'base64');
}

/** Encrypts `text` for `channel`: the JSON text `{"nonce","ciphertext"}` (base64), as Pusher carries it. */
export function encryptPayload(channel: string, encryptionMasterKeyBase64: string, text: string): string {
  const nonce = randomBytes(24);
  const ciphertext = box()(Buffer.from(text, 'utf8'), nonce, channelKey(channel, encryptionMasterKeyBase64));
  return JSON.stringify({ nonce: nonce.toString('base64'), ciphertext: Buffer.from(ciphertext).toString('base64') });
}

/**
 * Decrypts an encrypted payload (`{"nonce","ciphertext"}`, as JSON text or an object) for `channel`: the
 * plaintext, or undefined when it is not such a payload or does not open with this master key.
 */
export function decryptPayload(channel: string, encryptionMasterKeyBase64: string, payload: unknown): string | undefined {
  let value = payload;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  const { nonce, ciphertext } = (value ?? {}) as { nonce?: unknown; ciphertext?: unknown };
  if (typeof nonce !== 'string' || typeof ciphertext !== 'string') return undefined;
  const nonceBytes = Buffer.from(nonce, 'base64');
  if (nonceBytes.length !== 24) return undefined;
  const opened = box().open(Buffer.from(ciphertext, 'base64'), nonceBytes, channelKey(channel, encryptionMasterKeyBase64));
  return opened ? Buffer.from(opened).toString('utf8') : undefined;
}

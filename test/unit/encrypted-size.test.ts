/** The payload limit applies to what the server receives: for a private-encrypted- channel, the encrypted data. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Broadcast } from '../../src/core/broadcast.js';
import { encryptedPayloadBytes, serializePayload } from '../../src/core/validation.js';
import { encryptPayload } from '../../src/webhook/crypto.js';

const masterKey = randomBytes(32).toString('base64');
const config = { default: 'main', connections: { main: { driver: 'pusher' as const, appId: '1', key: 'key', secret: 'encrypted-size-secret', host: '127.0.0.1', port: 9, scheme: 'http' as const, encryptionMasterKeyBase64: masterKey } } };

describe('encrypted payload size', () => {
  it.each([0, 1, 2, 3, 100, 1000, 7000])('%i bytes of data: the estimate is the size of the real encrypted form', (n) => {
    const text = serializePayload('x'.repeat(Math.max(0, n - 2)));
    expect(encryptedPayloadBytes(Buffer.byteLength(text))).toBe(Buffer.byteLength(encryptPayload('private-encrypted-x', masterKey, text)));
  });

  it('data that fits in plain text but not once encrypted is refused for an encrypted channel, sent to a plain one', async () => {
    const broadcast = new Broadcast(config, { env: {} });
    const data = { text: 'y'.repeat(8_000) };
    await expect(broadcast.prepare('orders', 'e', data)).resolves.toMatchObject({ channels: ['orders'] });
    await expect(broadcast.prepare('private-encrypted-orders', 'e', data)).rejects.toThrow(/once encrypted for a private-encrypted- channel; the limit for this connection is 10240 bytes/);
  });
});

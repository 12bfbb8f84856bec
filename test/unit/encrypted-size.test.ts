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

describe('emit --file checks each line the same way', () => {
  it('a line whose data fits only unencrypted is refused for an encrypted channel; a 180-character name passes for soketi only', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const { runMain } = await import('../helpers/main.js');
    const dir = await mkdtemp(path.join(tmpdir(), 'broadcast-enc-'));
    try {
      const env = { PUSHER_APP_ID: '1', PUSHER_APP_KEY: 'key', PUSHER_APP_SECRET: 'k7Qz2Xw9Lp4Rt6Yb', PUSHER_HOST: '127.0.0.1', PUSHER_PORT: '9', PUSHER_SCHEME: 'http', PUSHER_ENCRYPTION_MASTER_KEY_BASE64: masterKey };
      const data = { text: 'y'.repeat(8_000) };
      await writeFile(path.join(dir, 'enc.ndjson'), `${JSON.stringify({ channel: 'orders', event: 'e', data })}\n${JSON.stringify({ channel: 'private-encrypted-orders', event: 'e', data })}\n`);
      const enc = await runMain(['emit', '--file', 'enc.ndjson', '--dry-run'], { cwd: dir, env });
      expect(enc.code).toBe(2);
      expect(enc.stderr).toMatch(/line 2: the data is \d+ bytes, \d+ once encrypted for a private-encrypted- channel/);
      expect(enc.stderr).not.toMatch(/line 1:/);

      const long = `orders-${'x'.repeat(173)}`;
      await writeFile(path.join(dir, 'long.ndjson'), `${JSON.stringify({ channel: long, event: 'e' })}\n`);
      expect((await runMain(['emit', '--file', 'long.ndjson', '--dry-run'], { cwd: dir, env })).code).toBe(2);
      const soketi = await runMain(['emit', '--file', 'long.ndjson', '--dry-run'], { cwd: dir, env: { ...env, BROADCAST_SERVER: 'soketi' } });
      expect(soketi.stderr).toBe('');
      expect(soketi.code).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

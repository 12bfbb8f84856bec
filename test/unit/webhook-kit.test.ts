/**
 * The webhook kit without a Pusher server: typed events of every kind, several in one POST, the age check,
 * secret rotation, decryption of encrypted client events, and the two handlers (node:http and fetch) over
 * real in-process HTTP servers.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { sharedSecret } from '../../src/auth/sign.js';
import { ConfigError } from '../../src/core/errors.js';
import { verifyWebhook, type PusherWebhookEvent } from '../../src/webhook/verify.js';
import { createFetchWebhookHandler, createWebhookHandler, type WebhookRejection } from '../../src/webhook/handler.js';
import { afterAll, beforeAll, describe, expect, test } from '../helpers/fixtures.js';

const app = { key: 'app-key', secret: 'kit-secret-1' };
const masterKey = randomBytes(32).toString('base64');
// Independent of the code under test: what Pusher computes and sends.
const sign = (text: string, secret = app.secret) => createHmac('sha256', secret).update(text).digest('hex');
const nacl = createRequire(createRequire(import.meta.url).resolve('pusher'))('tweetnacl') as {
  secretbox(m: Uint8Array, n: Uint8Array, k: Uint8Array): Uint8Array;
};
/** Encrypted as pusher-js would for a private-encrypted- channel. */
function encrypt(channel: string, text: string): string {
  const nonce = randomBytes(24);
  const box = nacl.secretbox(Buffer.from(text), nonce, Buffer.from(sharedSecret(channel, masterKey), 'base64'));
  return JSON.stringify({ nonce: nonce.toString('base64'), ciphertext: Buffer.from(box).toString('base64') });
}

const EVERY_KIND = [
  { name: 'channel_occupied', channel: 'orders' },
  { name: 'channel_vacated', channel: 'orders' },
  { name: 'member_added', channel: 'presence-room', user_id: '42' },
  { name: 'member_removed', channel: 'presence-room', user_id: 42 },
  { name: 'client_event', channel: 'presence-chat', event: 'client-typing', data: '{"on":true}', socket_id: '1.2', user_id: '42' },
  { name: 'cache_miss', channel: 'cache-prices' },
  { name: 'subscription_count', channel: 'orders', subscription_count: 3 },
];
const body = (events: unknown[], time = Date.now()) => JSON.stringify({ time_ms: time, events });

describe('verifyWebhook: typed events', () => {
  test('every kind Pusher documents, several in one POST, in order', () => {
    const text = body(EVERY_KIND);
    const result = verifyWebhook({ body: text, signature: sign(text), key: app.key }, { apps: app });
    expect(result.valid).toBe(true);
    if (!result.valid) return;
    expect(result.events).toEqual<PusherWebhookEvent[]>([
      { name: 'channel_occupied', channel: 'orders' },
      { name: 'channel_vacated', channel: 'orders' },
      { name: 'member_added', channel: 'presence-room', userId: '42' },
      { name: 'member_removed', channel: 'presence-room', userId: '42' },
      { name: 'client_event', channel: 'presence-chat', event: 'client-typing', data: '{"on":true}', socketId: '1.2', userId: '42', encrypted: false, decrypted: false },
      { name: 'cache_miss', channel: 'cache-prices' },
      { name: 'subscription_count', channel: 'orders', subscriptionCount: 3 },
    ]);
    expect(result.otherEvents).toEqual([]);
    // The raw body stays available, as 0.1 returned it.
    expect(result.webhook.events).toEqual(EVERY_KIND);
  });

  test('unknown kinds and events without their documented fields are set aside, not dropped', () => {
    const other = [{ name: 'future_kind', channel: 'x' }, { name: 'member_added', channel: 'presence-a' }];
    const text = body([...other, { name: 'channel_occupied', channel: 'a' }]);
    const result = verifyWebhook({ body: text, signature: sign(text) }, { apps: app });
    expect(result).toMatchObject({ valid: true, events: [{ name: 'channel_occupied', channel: 'a' }], otherEvents: other });
  });

  test('client event data a server sends as a JSON value (soketi) becomes text, as Pusher sends it', () => {
    const text = body([{ name: 'client_event', channel: 'private-chat', event: 'client-x', data: { on: true }, socket_id: '1.2' }]);
    const result = verifyWebhook({ body: text, signature: sign(text) }, { apps: app });
    expect(result.valid && result.events[0]).toMatchObject({ data: '{"on":true}' });
  });
});

describe('verifyWebhook: age, rotation, decryption', () => {
  test('a webhook older (or further ahead) than maxAgeMs is stale; 5 minutes by default', () => {
    const now = 1_800_000_000_000;
    const at = (offsetMs: number, maxAgeMs?: number) => {
      const text = body([{ name: 'channel_occupied', channel: 'a' }], now + offsetMs);
      return verifyWebhook({ body: text, signature: sign(text) }, { apps: app, now: () => now, ...(maxAgeMs !== undefined ? { maxAgeMs } : {}) });
    };
    expect(at(-299_000).valid).toBe(true);
    expect(at(-301_000)).toMatchObject({ valid: false, reason: 'stale', message: expect.stringContaining('301 s ago, beyond the 300 s allowed') });
    expect(at(301_000)).toMatchObject({ valid: false, reason: 'stale', message: expect.stringContaining('in the future') });
    expect(at(-20_000, 10_000)).toMatchObject({ valid: false, reason: 'stale' });
    expect(at(-86_400_000, false as never).valid).toBe(true);
    // A forged body is refused for its signature, whatever its age.
    const text = body([], now - 1e9);
    expect(verifyWebhook({ body: text, signature: sign(text, 'wrong') }, { apps: app, now: () => now })).toMatchObject({ reason: 'signature-mismatch' });
  });

  test('the 0.1 form (apps as second argument) checks the age only when asked', () => {
    const text = body([{ name: 'channel_occupied', channel: 'a' }], 1_000);
    expect(verifyWebhook({ body: text, signature: sign(text) }, app).valid).toBe(true);
    expect(verifyWebhook({ body: text, signature: sign(text) }, app, { maxAgeMs: 60_000 })).toMatchObject({ valid: false, reason: 'stale' });
  });

  test('secret rotation: two secrets for one key, either signature is valid', () => {
    const rotated = [app, { key: app.key, secret: 'kit-secret-2' }];
    const text = body([{ name: 'channel_vacated', channel: 'a' }]);
    expect(verifyWebhook({ body: text, signature: sign(text), key: app.key }, { apps: rotated }).valid).toBe(true);
    expect(verifyWebhook({ body: text, signature: sign(text, 'kit-secret-2'), key: app.key }, { apps: rotated }).valid).toBe(true);
    expect(verifyWebhook({ body: text, signature: sign(text, 'kit-secret-3'), key: app.key }, { apps: rotated })).toMatchObject({ valid: false, reason: 'signature-mismatch' });
  });

  test('client events on private-encrypted- channels are decrypted with the master key', () => {
    const channel = 'private-encrypted-chat';
    const text = body([{ name: 'client_event', channel, event: 'client-secret', data: encrypt(channel, '{"pin":1234}'), socket_id: '9.9' }]);
    const withKey = verifyWebhook({ body: text, signature: sign(text) }, { apps: { ...app, encryptionMasterKeyBase64: masterKey } });
    expect(withKey.valid && withKey.events[0]).toMatchObject({ name: 'client_event', data: '{"pin":1234}', encrypted: true, decrypted: true });
    // Without a key the data stays as sent, and says so.
    const withoutKey = verifyWebhook({ body: text, signature: sign(text) }, { apps: app });
    expect(withoutKey.valid && withoutKey.events[0]).toMatchObject({ encrypted: true, decrypted: false });
    expect(withoutKey.valid && (withoutKey.events[0] as { data: string }).data).toContain('ciphertext');
    // Another master key cannot open it: a configuration problem, not a valid webhook with garbage in it.
    const wrongKey = verifyWebhook({ body: text, signature: sign(text) }, { apps: { ...app, encryptionMasterKeyBase64: randomBytes(32).toString('base64') } });
    expect(wrongKey).toMatchObject({ valid: false, reason: 'decryption-failed' });
  });

  test('a master key that is not 32 bytes is a configuration error at once; an empty one is none', () => {
    const text = body([]);
    expect(() => verifyWebhook({ body: text, signature: sign(text) }, { apps: { ...app, encryptionMasterKeyBase64: 'c2hvcnQ=' } })).toThrow(ConfigError);
    // An empty one (a variable set to nothing) is no key.
    expect(verifyWebhook({ body: text, signature: sign(text) }, { apps: { ...app, encryptionMasterKeyBase64: '' } }).valid).toBe(true);
  });
});

type Served = { url: string; close: () => Promise<void> };
async function serve(listener: Parameters<typeof createServer>[1]): Promise<Served> {
  const server: Server = createServer(listener!);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** What every handler is run through: the same requests, the same answers. */
describe.each([
  ['createWebhookHandler (node:http)', 'node'],
  ['createFetchWebhookHandler (Request/Response)', 'fetch'],
] as const)('%s', (_name, kind) => {
  const received: { event: PusherWebhookEvent; key: string }[] = [];
  const rejected: WebhookRejection[] = [];
  const errors: unknown[] = [];
  let served: Served;
  beforeAll(async () => {
    const options = {
      apps: [{ ...app, encryptionMasterKeyBase64: masterKey }, { key: 'other-key', secret: 'other-secret' }],
      onEvent: (event: PusherWebhookEvent, context: { key: string }) => {
        if (event.name === 'channel_occupied' && event.channel === 'explode') throw new Error('database down');
        received.push({ event, key: context.key });
      },
      onRejected: (r: WebhookRejection) => rejected.push(r),
      onError: (error: unknown) => errors.push(error),
    };
    if (kind === 'node') {
      const handler = createWebhookHandler({ ...options, path: '/webhooks/pusher' });
      served = await serve((req, res) => void handler(req, res));
    } else {
      // The fetch handler behind a minimal Request/Response bridge, as a runtime would call it.
      const handler = createFetchWebhookHandler(options);
      served = await serve(async (req, res) => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        const request = new Request(`http://local${req.url}`, {
          method: req.method,
          headers: req.headers as Record<string, string>,
          ...(req.method === 'POST' ? { body: Buffer.concat(chunks) } : {}),
        });
        const response = await handler(request);
        res.writeHead(response.status, Object.fromEntries(response.headers));
        res.end(Buffer.from(await response.arrayBuffer()));
      });
    }
  });
  afterAll(() => served.close());

  const post = (text: string, headers: Record<string, string>) =>
    fetch(`${served.url}/webhooks/pusher`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: text });

  test('a signed POST of several events: 200, and onEvent gets each, typed, in order', async () => {
    received.length = 0;
    const text = body(EVERY_KIND);
    const res = await post(text, { 'content-type': 'application/json; charset=utf-8', 'x-pusher-key': app.key, 'x-pusher-signature': sign(text) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, events: 7 });
    expect(received.map((r) => r.event.name)).toEqual(EVERY_KIND.map((e) => e.name));
    expect(received.every((r) => r.key === app.key)).toBe(true);
  });

  test('a bad signature is 401 and reaches no callback', async () => {
    received.length = 0;
    rejected.length = 0;
    const text = body([{ name: 'channel_occupied', channel: 'a' }]);
    const res = await post(text, { 'x-pusher-key': app.key, 'x-pusher-signature': sign(text, 'guessed') });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: { code: 'invalid_signature', message: 'The signature does not match the body (wrong secret, or the body was changed)' } });
    expect((await post(text, { 'x-pusher-key': app.key })).status).toBe(401);
    expect(received).toEqual([]);
    expect(rejected.map((r) => r.reason)).toEqual(['signature-mismatch', 'missing-signature']);
  });

  test('stale is 401; not JSON is 415; a body that is not a webhook is 400; GET is 405', async () => {
    const old = body([{ name: 'channel_occupied', channel: 'a' }], Date.now() - 3_600_000);
    const stale = await post(old, { 'x-pusher-signature': sign(old) });
    expect(stale.status).toBe(401);
    expect(((await stale.json()) as { error: { code: string } }).error.code).toBe('stale');
    const text = body([]);
    expect((await post(text, { 'content-type': 'text/plain', 'x-pusher-signature': sign(text) })).status).toBe(415);
    expect((await post('{"hello":1}', { 'x-pusher-signature': sign('{"hello":1}') })).status).toBe(400);
    const get = await fetch(`${served.url}/webhooks/pusher`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });

  test('the second app (its own key and secret) is accepted; an encrypted client event arrives decrypted', async () => {
    received.length = 0;
    const channel = 'private-encrypted-x';
    const text = body([{ name: 'client_event', channel, event: 'client-a', data: encrypt(channel, '"hello"'), socket_id: '1.1' }]);
    expect((await post(text, { 'x-pusher-key': app.key, 'x-pusher-signature': sign(text) })).status).toBe(200);
    const second = body([{ name: 'cache_miss', channel: 'cache-a' }]);
    expect((await post(second, { 'x-pusher-key': 'other-key', 'x-pusher-signature': sign(second, 'other-secret') })).status).toBe(200);
    expect(received).toEqual([
      { event: expect.objectContaining({ name: 'client_event', data: '"hello"', decrypted: true }), key: app.key },
      { event: { name: 'cache_miss', channel: 'cache-a' }, key: 'other-key' },
    ]);
  });

  test('onEvent throwing is 500 (Pusher retries), reported to onError', async () => {
    errors.length = 0;
    const text = body([{ name: 'channel_occupied', channel: 'explode' }]);
    const res = await post(text, { 'x-pusher-signature': sign(text) });
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: { code: 'handler_error', message: 'The webhook could not be handled' } });
    expect(errors).toEqual([new Error('database down')]);
  });
});

describe('handler configuration', () => {
  test('an app without secret, or no onEvent, fails at creation', () => {
    expect(() => createWebhookHandler({ apps: { key: 'k', secret: undefined as never }, onEvent: () => {} })).toThrow(/has no secret/);
    expect(() => createFetchWebhookHandler({ apps: app } as never)).toThrow(/needs an onEvent/);
    expect(() => createWebhookHandler({ apps: app, onEvent: () => {}, maxAgeMs: -1 })).toThrow(ConfigError);
  });

  test('node handler: other paths go to next(), or 404 without it', async () => {
    const handler = createWebhookHandler({ apps: app, path: '/hooks', onEvent: () => {} });
    let nexted = 0;
    const served = await serve((req, res) => void handler(req, res, req.url === '/next' ? () => { nexted++; res.end('next'); } : undefined));
    try {
      expect((await fetch(`${served.url}/next`, { method: 'POST' })).status).toBe(200);
      expect(nexted).toBe(1);
      expect((await fetch(`${served.url}/elsewhere`, { method: 'POST' })).status).toBe(404);
    } finally {
      await served.close();
    }
  });
});

/**
 * Against the real soketi 1.6 with real pusher-js clients: cache channels recognised in `channels` and
 * `channel` (and their cached event delivered to a late subscriber), `emit --info` (which soketi ignores: the
 * event is delivered and no counts come back), its refusals, and what soketi answers a wrong secret and a stale
 * timestamp. Pusher's own answers to the same: test/cli/server-answers.test.ts.
 */
import { createHash, createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, test, uid } from '../helpers/fixtures.js';
import { listen, type Listener } from '../helpers/listener.js';
import { runMain } from '../helpers/main.js';
import { jsonOf } from '../helpers/schema.js';
import type { SoketiServer } from '../helpers/soketi.js';

const server = inject('soketi') as SoketiServer;
const id = uid();

describe('cache channels on soketi', () => {
  const cache = `cache-prices-${id}`;
  const privateCache = `private-cache-orders-${id}`;
  const plain = `prices-${id}`;
  let early: Listener;
  beforeAll(async () => {
    early = await listen(server);
    await Promise.all([early.subscribe(cache), early.subscribe(privateCache), early.subscribe(plain)]);
  });
  afterAll(() => early.disconnect());

  test('an event emitted to a cache channel reaches a client that subscribes later (soketi keeps it)', async () => {
    const r = await runMain(['emit', cache, 'price.updated', '--data', '{"eur":1.1}'], { env: server.env });
    expect(r.code).toBe(0);
    const late = await listen(server);
    try {
      await late.subscribe(cache);
      const [event] = await late.waitFor(1, (e) => e.event === 'price.updated');
      expect(event).toMatchObject({ channel: cache, data: { eur: 1.1 } });
    } finally {
      late.disconnect();
    }
  });

  test('channels marks cache channels: cacheChannel in JSON, a kind column in the table', async () => {
    const json = await runMain(['channels', '--json'], { env: server.env });
    const mine = (jsonOf('channels', json.stdout).channels as { name: string; cacheChannel: boolean }[]).filter((c) => c.name.includes(id));
    expect(mine).toEqual([
      expect.objectContaining({ name: cache, cacheChannel: true }),
      expect.objectContaining({ name: plain, cacheChannel: false }),
      expect.objectContaining({ name: privateCache, cacheChannel: true }),
    ]);
    const table = await runMain(['channels', '--prefix', 'cache-prices-'], { env: server.env });
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^channel\s+kind\s+subscriptions$/);
    expect(lines.find((l) => l.startsWith(cache))).toMatch(new RegExp(`^${cache}\\s+cache\\s+1$`));
    // Without a cache channel listed, there is no kind column.
    const other = await runMain(['channels', '--prefix', plain], { env: server.env });
    expect(other.stdout.split('\n')[0]).toMatch(/^channel\s+subscriptions$/);
  });

  test('channel says "cache channel"; --info cache: soketi does not report the cached event, and a note says so', async () => {
    const human = await runMain(['channel', privateCache], { env: server.env });
    expect(human.stdout).toBe(`${privateCache}  occupied  cache channel\n  subscriptions        1\n`);
    const r = await runMain(['channel', cache, '--info', 'cache', '--json'], { env: server.env });
    expect(r.code).toBe(0);
    expect(jsonOf('channel', r.stdout)).toEqual({ ok: true, connection: 'pusher', name: cache, occupied: true, cacheChannel: true, subscriptionCount: 1 });
    const shown = await runMain(['channel', cache, '--info', 'cache'], { env: server.env });
    expect(shown.stderr).toContain('note: the server reported no cached event: nothing is cached, or it does not answer --info cache (soketi 1.6 does not)');
  });

  test('--info cache on a channel that is not a cache channel: exit 2 before any request', async () => {
    const r = await runMain(['channel', plain, '--info', 'cache', '--json'], { env: { ...server.env, PUSHER_PORT: '1' } });
    expect(r.code).toBe(2);
    expect(jsonOf('channel', r.stdout)).toMatchObject({ ok: false, error: { code: 'usage' } });
    expect(r.stderr).toContain(`--info cache applies to cache channels only; "${plain}" is not one`);
  });
});

describe('emit --info on soketi', () => {
  test('the event is delivered; soketi returns no counts: an empty info, and a note (not an error)', async () => {
    const room = `presence-info-${id}`;
    const listener = await listen(server, { user: { id: 7 } });
    try {
      await listener.subscribe(room);
      const r = await runMain(['emit', room, 'tick', '--info', 'user_count,subscription_count', '--json'], { env: server.env });
      expect(r.code).toBe(0);
      expect(jsonOf('emit', r.stdout)).toMatchObject({ ok: true, delivered: true, channels: [room], info: {} });
      await listener.waitFor(1, (e) => e.event === 'tick');
      const human = await runMain(['emit', room, 'tick', '--info', 'user_count'], { env: server.env });
      expect(human.code).toBe(0);
      expect(human.stdout).toBe(`✓ sent tick to ${room} (1 request, connection "pusher")\n`);
      expect(human.stderr).toBe('note: the server returned no counts: soketi 1.6 ignores --info (Pusher Channels and Reverb answer it)\n');
    } finally {
      listener.disconnect();
    }
  });

  test.each([
    [['emit', 'orders,presence-room', 'e', '--info', 'user_count'], 'invalid', 'The info attribute user_count applies to presence channels only, and "orders" is not one'],
    [['emit', 'orders', 'e', '--info', 'cache'], 'invalid', 'Unknown info attribute "cache"'],
    [['emit', '--file', '-', '--info', 'subscription_count'], 'usage', '--info does not apply with --file: bulk sending does not collect counts'],
    [['emit', '--user', '42', 'e', '--info', 'subscription_count'], 'usage', '--info does not apply with --user'],
  ])('%j exits 2 before anything is sent', async (args, code, message) => {
    // A port nothing listens on: reaching the server would fail with exit 1, not 2.
    const r = await runMain([...args, '--json'], { env: { ...server.env, PUSHER_PORT: '1' }, input: '' });
    expect(r.code).toBe(2);
    expect(jsonOf('emit', r.stdout)).toMatchObject({ ok: false, error: { code, exitCode: 2 } });
    expect(r.stderr).toContain(message);
  });
});

describe('what soketi 1.6 answers a refused request', () => {
  test('a wrong secret: "The secret authentication failed" (with HTTP 200), shown with what to check', async () => {
    const secret = 'not-the-secret-4711';
    const r = await runMain(['emit', `orders-${id}`, 'e'], { env: { ...server.env, PUSHER_APP_SECRET: secret } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error: The server rejected the credentials (HTTP 401): The secret authentication failed');
    expect(r.stderr).toMatch(/hint: Check the app id, key and secret .*soketi and Reverb answer a wrong secret this way without saying more/);
    expect(r.stderr).not.toContain(secret);
  });

  test('a stale timestamp is accepted: soketi does not check it (so only Pusher Channels refuses a wrong clock)', async () => {
    const body = JSON.stringify({ name: 'e', channels: [`orders-${id}`], data: '{}' });
    const path = `/apps/${server.appId}/events`;
    const query = `auth_key=${server.key}&auth_timestamp=${Math.floor(Date.now() / 1000) - 86_400}&auth_version=1.0&body_md5=${createHash('md5').update(body).digest('hex')}`;
    const signature = createHmac('sha256', server.secret).update(`POST\n${path}\n${query}`).digest('hex');
    const res = await fetch(`http://${server.host}:${server.port}${path}?${query}&auth_signature=${signature}`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
    });
    expect(await res.json()).toEqual({ ok: true });
  });
});

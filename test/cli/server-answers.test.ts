/**
 * What the CLI makes of answers only Pusher Channels (and Reverb) give, from a stand-in that checks requests as
 * Pusher does and answers in its words (test/helpers/pusher-fake.ts): a clock too far off, a wrong secret, a
 * proxy that rewrote the path, a 422, counts returned with `--info`, a cached event, and doctor's clock check.
 * The same commands against the real soketi: test/integration/cache-and-info.test.ts.
 */
import { afterAll, describe, expect, test } from '../helpers/fixtures.js';
import { faultServers } from '../helpers/fault-server.js';
import { runMain } from '../helpers/main.js';
import { pusherFakes } from '../helpers/pusher-fake.js';
import { jsonOf } from '../helpers/schema.js';

const fakes = pusherFakes(afterAll);
const serve = faultServers(afterAll);

describe('a 401 explained', () => {
  test('a clock 20 minutes behind: the skew in seconds and how to sync the clock; exit 1', async () => {
    const fake = await fakes.server({ clockAheadS: 1200 });
    const r = await runMain(['emit', 'orders', 'e', '--json'], { env: fake.env });
    expect(r.code).toBe(1);
    const doc = jsonOf('emit', r.stdout);
    expect(doc.error).toMatchObject({ code: 'delivery', details: { clockSkewSeconds: expect.any(Number) } });
    expect(Math.abs(doc.error.details.clockSkewSeconds + 1200)).toBeLessThanOrEqual(1);
    expect(r.stderr).toMatch(/error: The server rejected the request's timestamp \(HTTP 401\): this machine's clock is 1\d{3} s \(\d+ min \d+ s\) behind the server's/);
    expect(r.stderr).toContain('hint: Sync this machine\'s clock: `sudo chronyc makestep`');
  });

  test('a wrong secret: the server signed what we signed, so the secret differs (and is not printed)', async () => {
    const fake = await fakes.server();
    const secret = 'not-the-app-secret-1234';
    const r = await runMain(['emit', 'orders', 'e', '--json'], { env: { ...fake.env, PUSHER_APP_SECRET: secret } });
    expect(r.code).toBe(1);
    expect(jsonOf('emit', r.stdout).error).toMatchObject({ code: 'delivery', details: { diagnosis: 'wrong-secret' } });
    expect(r.stderr).toMatch(/The server rejected the signature \(HTTP 401\): it expected the same request this client signed .* so the secret differs/);
    expect(r.stderr).toContain('PUSHER_APP_SECRET');
    expect(r.stdout + r.stderr).not.toContain(secret);
    expect(r.stdout + r.stderr).not.toContain(fake.env.PUSHER_APP_SECRET);
  });

  test('a proxy that adds a path prefix: "changed on the way", showing the path each side signed', async () => {
    const fake = await fakes.server();
    const proxy = await fakes.proxy(fake.port, '/pusher');
    const r = await runMain(['emit', 'orders', 'e'], { env: { ...fake.env, PUSHER_PORT: String(proxy.port) } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the request was changed on the way (proxy, path prefix)');
    expect(r.stderr).toContain('path: sent "/apps/fault-app/events", the server signed "/pusher/apps/fault-app/events"');
    expect(r.stderr).toMatch(/hint: .*reverse proxy/);
    // Queries are signed the same way.
    const q = await runMain(['channels', '--json'], { env: { ...fake.env, PUSHER_PORT: String(proxy.port) } });
    expect(jsonOf('channels', q.stdout).error).toMatchObject({ code: 'delivery', details: { diagnosis: 'request-changed', differences: [{ part: 'path' }] } });
  });

  test('a 422 (Laravel Reverb\'s validation answer): exit 2, code invalid, naming the field', async () => {
    const server = await serve((_n, _req, res) => res.writeHead(422, { 'content-type': 'application/json' }).end('{"data":["The data field must be a string."]}'));
    const r = await runMain(['emit', 'orders', 'e', '--json'], { env: server.env });
    expect(r.code).toBe(2);
    expect(jsonOf('emit', r.stdout)).toMatchObject({ ok: false, error: { code: 'invalid', exitCode: 2 } });
    expect(r.stderr).toContain('error: The server refused the request as invalid (HTTP 422): data: The data field must be a string.');
    expect(server.requests).toHaveLength(1);
  });
});

describe('emit --info with a server that answers it', () => {
  const counts = (channels: string[], info: string) =>
    Object.fromEntries(channels.map((c) => [c, c.startsWith('presence-') ? (info.includes('user_count') ? { user_count: 3 } : {}) : { subscription_count: 7 }]));

  test('--json: the counts per channel, camelCase', async () => {
    const fake = await fakes.server({ triggerInfo: counts });
    const r = await runMain(['emit', 'presence-room,presence-lobby', 'e', '--info', 'user_count', '--json'], { env: fake.env });
    expect(r.code).toBe(0);
    expect(jsonOf('emit', r.stdout)).toMatchObject({ ok: true, delivered: true, info: { 'presence-room': { userCount: 3 }, 'presence-lobby': { userCount: 3 } } });
    expect(JSON.parse(fake.accepted[0]!.body).info).toBe('user_count');
  });

  test('for a person: a line per channel under the sent line', async () => {
    const fake = await fakes.server({ triggerInfo: counts });
    const r = await runMain(['emit', 'orders,presence-room', 'e', '--info', 'subscription_count'], { env: fake.env });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('✓ sent e to orders, presence-room (1 request, connection "pusher")\n  orders         7 subscriptions\n  presence-room  no counts\n');
    expect(r.stderr).toBe('');
  });
});

describe('channel --info cache with a server that reports the cached event', () => {
  test('the event, its data and its time to live; null is "nothing cached"', async () => {
    const fake = await fakes.server({
      channel: (name, info) =>
        info === 'cache' ? { occupied: true, cache: name.endsWith('empty') ? null : { event: 'price.updated', data: '{"eur":1.1}', ttl: 1800 } } : { occupied: true },
    });
    const human = await runMain(['channel', 'cache-prices', '--info', 'cache'], { env: fake.env });
    expect(human.code).toBe(0);
    expect(human.stdout).toBe('cache-prices  occupied  cache channel\n  cached event         price.updated {"eur":1.1} (expires in 1800 s)\n');
    const json = await runMain(['channel', 'private-cache-empty', '--info', 'cache', '--json'], { env: fake.env });
    expect(jsonOf('channel', json.stdout)).toEqual({ ok: true, connection: 'pusher', name: 'private-cache-empty', occupied: true, cacheChannel: true, cache: null });
    expect((await runMain(['channel', 'private-cache-empty', '--info', 'cache'], { env: fake.env })).stdout).toContain('cached event         nothing cached');
  });
});

describe('doctor compares the clocks', () => {
  const check = async (env: Record<string, string>) => {
    const r = await runMain(['doctor', '--json', '--timeout', '1s'], { env });
    return (jsonOf('doctor', r.stdout).checks as { name: string; status: string; detail: string; hint?: string; clockSkewSeconds?: number }[]).find((c) => c.name === 'clock')!;
  };

  test('within 30 s: pass', async () => {
    const fake = await fakes.server({ dateHeader: () => new Date(Date.now() + 3_000) });
    const clock = await check(fake.env);
    expect(clock.status).toBe('pass');
    expect(Math.abs(clock.clockSkewSeconds! + 3)).toBeLessThanOrEqual(1);
  });

  test('a minute off: a warning with the fix', async () => {
    const fake = await fakes.server({ dateHeader: () => new Date(Date.now() - 60_000) });
    const clock = await check(fake.env);
    expect(clock).toMatchObject({ status: 'warn', hint: expect.stringContaining('sudo chronyc makestep') });
    expect(clock.detail).toMatch(/^this machine's clock is (59|60|61) s \(1 min \d+ s\) ahead of the server's$/);
  });

  test('past 600 s: fails, naming Pusher\'s limit (the credentials check then fails with the skew too)', async () => {
    const fake = await fakes.server({ clockAheadS: 1000 });
    const r = await runMain(['doctor', '--timeout', '1s'], { env: fake.env });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✗ clock\s+this machine's clock is \d+ s \(16 min \d+ s\) behind the server's: Pusher Channels refuses requests signed more than 600 s off its clock/);
    expect(r.stdout).toMatch(/✗ credentials\s+The server rejected the request's timestamp \(HTTP 401\)/);
  });

  test('no Date header: the check is skipped', async () => {
    const server = await serve((_n, _req, res) => {
      res.sendDate = false;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    expect(await check(server.env)).toMatchObject({ status: 'skip', detail: 'skipped: the server sent no Date header to compare with' });
  });
});

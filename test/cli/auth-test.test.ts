/**
 * `broadcast auth:test <url>` against real Node HTTP servers running createAuthHandler: a route that is right
 * passes every check; routes that are wrong in the ways apps get wrong fail the check that names it.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuthHandler } from '../../src/auth/handler.js';
import { Broadcast } from '../../src/core/broadcast.js';
import type { BroadcastConfig } from '../../src/config/schema.js';
import { runCli } from '../helpers/cli.js';
import { afterAll, beforeAll, describe, expect, test } from '../helpers/fixtures.js';
import { runMain } from '../helpers/main.js';
import { jsonOf } from '../helpers/schema.js';
import { freePort } from '../helpers/soketi.js';

const env = { PUSHER_APP_ID: '1', PUSHER_APP_KEY: 'app-key', PUSHER_APP_SECRET: 'auth-test-secret' };
const SESSION = 'session=s3cr3t-session-value';

/** The app's session: a cookie or a bearer token names the logged-in user. */
const loggedIn = (req: IncomingMessage) =>
  req.headers.cookie === SESSION || req.headers.authorization === 'Bearer token-123' ? { id: 7, name: 'Ada' } : null;

const config: BroadcastConfig = {
  channels: {
    // Private channels are allowed; presence members show their name.
    'broadcast-test': (user) => ({ name: user.name }),
    'big-room': { type: 'presence', authorize: () => ({ bio: 'x'.repeat(2000) }) },
    'secret': { type: 'private', authorize: () => true },
  },
};

const servers: Server[] = [];
/** Serves createAuthHandler with these settings; the URL of its auth route. */
async function app(options: { secret?: string; user?: (req: IncomingMessage) => unknown } = {}): Promise<string> {
  const broadcast = new Broadcast(config, { env: { ...env, PUSHER_APP_SECRET: options.secret ?? env.PUSHER_APP_SECRET } });
  const handler = createAuthHandler(broadcast, { user: options.user ?? loggedIn, onError: () => {} });
  const server = createServer((req, res) => void handler(req, res));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/broadcasting/authorize`;
}

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

describe('broadcast auth:test', () => {
  let good: string;
  beforeAll(async () => {
    good = await app();
  });

  test('a correct route passes every check (private, presence, anonymous refused)', async () => {
    const r = await runMain(['auth:test', good, '--header', `Cookie: ${SESSION}`, '--anonymous', '--json'], { env });
    expect(r.code).toBe(0);
    const out = jsonOf('auth:test', r.stdout);
    expect(out).toMatchObject({ ok: true, url: good, connection: 'pusher', channels: ['private-broadcast-test', 'presence-broadcast-test'] });
    expect(out.checks.map((c: { name: string; status: string }) => `${c.status} ${c.name}`)).toEqual([
      'pass private-broadcast-test: status',
      'pass private-broadcast-test: auth',
      'pass private-broadcast-test: signature',
      'pass presence-broadcast-test: status',
      'pass presence-broadcast-test: auth',
      'pass presence-broadcast-test: channel_data',
      'pass presence-broadcast-test: signature',
      'pass anonymous refused',
    ]);
    expect(out.checks[5].detail).toBe('user_id 7, user_info 14 bytes');
    // The session cookie is a credential: never printed.
    expect(r.stdout + r.stderr).not.toContain('s3cr3t-session-value');
  });

  test('--bearer, and --channel repeated or comma-separated; each check printed for a person (built binary)', async () => {
    const r = await runCli(['auth:test', good, '--bearer', 'token-123', '--channel', 'private-secret', '--channel', 'private-broadcast-test,presence-broadcast-test'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('✓ private-secret: signature  valid for the configured secret');
    expect(r.stdout).toContain('✓ presence-broadcast-test: channel_data');
    expect(r.stdout).not.toContain('token-123');
    expect(r.stderr).toContain('checks passed');
  });

  test('without credentials the route refuses: status fails (exit 1, checks_failed) with a hint', async () => {
    const r = await runMain(['auth:test', good, '--json'], { env });
    expect(r.code).toBe(1);
    const out = jsonOf('auth:test', r.stdout);
    expect(out).toMatchObject({ ok: false, error: { code: 'checks_failed', exitCode: 1 } });
    expect(out.checks[0]).toEqual({
      name: 'private-broadcast-test: status',
      status: 'fail',
      detail: 'HTTP 403: {"error":{"code":"unauthenticated","message":"No authenticated user"}}',
    });
    expect(out.error.hint).toContain('--header');
  });

  test('a route signing with another secret fails the signature check', async () => {
    const wrong = await app({ secret: 'some-other-secret' });
    const r = await runMain(['auth:test', wrong, '--header', `Cookie: ${SESSION}`, '--channel', 'private-secret', '--json'], { env });
    expect(r.code).toBe(1);
    const out = jsonOf('auth:test', r.stdout);
    expect(out.checks.at(-1)).toMatchObject({ name: 'private-secret: signature', status: 'fail' });
    expect(out.error.hint).toContain('PUSHER_APP_SECRET');
  });

  test('a route with another app key fails the auth check', async () => {
    const r = await runMain(['auth:test', good, '--header', `Cookie: ${SESSION}`, '--json'], { env: { ...env, PUSHER_APP_KEY: 'expected-key' } });
    expect(r.code).toBe(1);
    expect(jsonOf('auth:test', r.stdout).checks[1]).toEqual({
      name: 'private-broadcast-test: auth',
      status: 'fail',
      detail: 'signed for app key "app-key", but the configured key is "expected-key"',
    });
  });

  test('a presence member with more than 1 KB of user_info fails channel_data', async () => {
    const r = await runMain(['auth:test', good, '--header', `Cookie: ${SESSION}`, '--channel', 'presence-big-room', '--json'], { env });
    expect(r.code).toBe(1);
    expect(jsonOf('auth:test', r.stdout).checks.at(-1)).toMatchObject({ name: 'presence-big-room: channel_data', status: 'fail', detail: "user_info is 2010 bytes; Pusher's limit is 1024" });
  });

  test('--anonymous fails when the route signs for anyone', async () => {
    const open = await app({ user: () => ({ id: 'guest' }) });
    const r = await runMain(['auth:test', open, '--channel', 'private-secret', '--anonymous', '--json'], { env });
    expect(r.code).toBe(1);
    expect(jsonOf('auth:test', r.stdout).checks.at(-1)).toEqual({
      name: 'anonymous refused',
      status: 'fail',
      detail: 'HTTP 200 (expected 403): the route signed a subscription for a request without credentials',
    });
  });

  test('nothing listening: the status check fails with why', async () => {
    const r = await runMain(['auth:test', `http://127.0.0.1:${await freePort()}/auth`, '--json'], { env });
    expect(r.code).toBe(1);
    expect(jsonOf('auth:test', r.stdout).checks[0]).toMatchObject({ status: 'fail', detail: expect.stringContaining('connection refused') });
  });

  test.for([
    [['not a url'], /The auth route URL must be an absolute URL/],
    [['ftp://host/auth'], /must be an http:\/\/ or https:\/\/ URL/],
    [['http://x/auth', '--channel', 'orders'], /"orders" is a public channel/],
    [['http://x/auth', '--channel', 'bad name'], /Invalid channel name "bad name"/],
    [['http://x/auth', '--header', 'no colon'], /--header must be "Name: value"/],
    [['http://x/auth', '--bearer', 't', '--header', 'Authorization: Basic x'], /not both/],
    [['http://x/auth', '--socket-id', '1'], /Invalid socket id "1"/],
  ] as const)('bad input %j exits 2 before any request', async ([args, message]) => {
    const r = await runMain(['auth:test', ...args, '--json'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(jsonOf('auth:test', r.stdout)).toMatchObject({ ok: false, error: { exitCode: 2 } });
  });
});

/**
 * `broadcast auth:sign-user`: the user-auth body, offline, and `--verify`; `emit --user` and `users:terminate`
 * refusing bad input before any network call.
 */
import { createHmac } from 'node:crypto';
import { runCli } from '../helpers/cli.js';
import { describe, expect, test } from '../helpers/fixtures.js';
import { runMain } from '../helpers/main.js';
import { jsonOf } from '../helpers/schema.js';
import { freePort } from '../helpers/soketi.js';

const env = { PUSHER_APP_ID: '1', PUSHER_APP_KEY: 'app-key', PUSHER_APP_SECRET: 'sign-user-secret' };
const sign = (socketId: string, userData: string) =>
  `app-key:${createHmac('sha256', env.PUSHER_APP_SECRET).update(`${socketId}::user::${userData}`).digest('hex')}`;

describe('broadcast auth:sign-user', () => {
  test('prints the body the route would return (--json matches the schema)', async () => {
    const r = await runMain(['auth:sign-user', '--user', '42', '--user-info', '{"name":"Ada"}', '--watchlist', '7,8', '--socket-id', '123.456', '--json'], { env });
    expect(r.code).toBe(0);
    const userData = '{"id":"42","user_info":{"name":"Ada"},"watchlist":["7","8"]}';
    expect(jsonOf('auth:sign-user', r.stdout)).toEqual({
      ok: true,
      socketId: '123.456',
      socketIdGenerated: false,
      userId: '42',
      body: { auth: sign('123.456', userData), user_data: userData },
    });
  });

  test('without --socket-id a valid one is generated and said so; the output is the bare body (built binary)', async () => {
    const r = await runCli(['auth:sign-user', '--user', 'ada'], { env });
    expect(r.code).toBe(0);
    const body = JSON.parse(r.stdout);
    const socketId = /socket_id (\d+\.\d+) \(generated/.exec(r.stderr)![1]!;
    expect(body).toEqual({ auth: sign(socketId, '{"id":"ada"}'), user_data: '{"id":"ada"}' });
    expect(r.stdout + r.stderr).not.toContain(env.PUSHER_APP_SECRET);
  });

  test('--verify: the auth value or the whole body; a mismatch is exit 1, code mismatch', async () => {
    const userData = '{"id":"42"}';
    const auth = sign('1.2', userData);
    const ok = await runMain(['auth:sign-user', '--user', '42', '--socket-id', '1.2', '--verify', auth, '--json'], { env });
    expect(ok.code).toBe(0);
    expect(jsonOf('auth:sign-user', ok.stdout)).toEqual({ ok: true, socketId: '1.2', socketIdGenerated: false, userId: '42', valid: true, userData });

    const whole = await runMain(['auth:sign-user', '--socket-id', '1.2', '--verify', JSON.stringify({ auth, user_data: userData })], { env });
    expect(whole.code).toBe(0);
    expect(whole.stdout).toContain('✓ signature matches: user 42, socket id 1.2');

    const other = await runMain(['auth:sign-user', '--user', '43', '--socket-id', '1.2', '--verify', auth, '--json'], { env });
    expect(other.code).toBe(1);
    expect(jsonOf('auth:sign-user', other.stdout)).toMatchObject({ ok: false, error: { code: 'mismatch', details: { differs: 'signature' }, exitCode: 1 } });

    const differs = await runMain(['auth:sign-user', '--user', '43', '--socket-id', '1.2', '--verify', JSON.stringify({ auth, user_data: userData }), '--json'], { env });
    expect(differs.code).toBe(1);
    expect(jsonOf('auth:sign-user', differs.stdout).error).toMatchObject({ code: 'mismatch', details: { differs: 'user_data' } });

    const otherSecret = await runMain(['auth:sign-user', '--user', '42', '--socket-id', '1.2', '--verify', auth], { env: { ...env, PUSHER_APP_SECRET: 'another-secret' } });
    expect(otherSecret.code).toBe(1);
    expect(otherSecret.stderr).toContain('signature does not match: the socket id, user_data or secret differ');
  });

  test.for([
    [['--user', 'ada lovelace'], 'invalid', /Invalid user id "ada lovelace"/],
    [['--user', '1', '--watchlist', Array.from({ length: 101 }, (_, i) => i).join(',')], 'invalid', /the limit is 100/],
    [['--user', '1', '--user-info', '[1]'], 'usage', /--user-info must be a JSON object/],
    [['--watchlist', '1,2'], 'usage', /--watchlist needs --user/],
    [[], 'usage', /Missing --user <id>/],
    [['--user', '1', '--verify', 'app-key:abc'], 'usage', /--verify needs --socket-id/],
    [['--user', '1', '--socket-id', '12'], 'invalid', /Invalid socket id "12"/],
    [['--user', '1', '--socket-id', '1.2', '--verify', 'nonsense'], 'invalid', /not a Pusher auth signature/],
  ] as const)('bad input %j exits 2', async ([args, code, message]) => {
    const r = await runMain(['auth:sign-user', ...args, '--json'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(jsonOf('auth:sign-user', r.stdout)).toMatchObject({ ok: false, error: { code, exitCode: 2 } });
  });

  test('a log connection has no secret to sign with (exit 2)', async () => {
    const r = await runMain(['auth:sign-user', '--user', '1', '--json'], { env: {} });
    expect(r.code).toBe(2);
    expect(jsonOf('auth:sign-user', r.stdout).error).toMatchObject({ code: 'config' });
  });
});

describe('emit --user and users:terminate refuse bad input before any network call', () => {
  // Nothing listens on this port: reaching it would fail with exit 1, not 2.
  const offline = async () => ({ ...env, PUSHER_HOST: '127.0.0.1', PUSHER_PORT: String(await freePort()), PUSHER_SCHEME: 'http' });

  test.for([
    [['emit', '--user', 'a b', 'e'], 'emit', /Invalid user id "a b"/],
    [['emit', '--user', '1'], 'emit', /Missing <event>: with --user, give only the event name/],
    [['emit', '--user', '1', 'orders', 'e'], 'emit', /With --user, give only the event name, not channels/],
    [['emit', '--user', '1', '--file', 'x.ndjson'], 'emit', /--user and --file cannot go together/],
    [['emit', '--user', '1', 'pusher:e'], 'emit', /reserved/],
    [['users:terminate', 'a b', '--force'], 'users:terminate', /Invalid user id "a b"/],
    [['users:terminate', '42'], 'users:terminate', /add --force/],
  ] as const)('%j', async ([args, command, message]) => {
    const r = await runMain([...args, '--json'], { env: await offline() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(jsonOf(command, r.stdout)).toMatchObject({ ok: false, error: { exitCode: 2 } });
  });

  test('emit --user --dry-run shows the user channel and sends nothing; an unreachable server is exit 1', async () => {
    const environment = await offline();
    const dry = await runMain(['emit', '--user', '42', 'greeting', '--data', '{"a":1}', '--dry-run', '--json'], { env: environment });
    expect(dry.code).toBe(0);
    expect(jsonOf('emit', dry.stdout)).toMatchObject({ ok: true, dryRun: true, delivered: false, channels: ['#server-to-user-42'], bytes: 7 });
    // In CI with nothing configured, as for any emit: refused rather than printed by the log connection.
    const ci = await runMain(['emit', '--user', '42', 'greeting', '--json'], { env: { CI: 'true' } });
    expect(ci.code).toBe(2);
    expect(jsonOf('emit', ci.stdout).error).toMatchObject({ code: 'config' });
    const down = await runMain(['users:terminate', '42', '--force', '--retries', '0', '--json'], { env: environment });
    expect(down.code).toBe(1);
    expect(jsonOf('users:terminate', down.stdout).error).toMatchObject({ code: 'delivery' });
    expect(down.stderr).toContain('connection refused');
  });
});

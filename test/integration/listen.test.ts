/**
 * `broadcast listen` against a real soketi: what it receives, how it ends, and how it fails. Most runs are in
 * process (`startMain`, stopped through its signal); the last group spawns the binary for real signals and
 * a real closed pipe. Every --json line is checked against schemas/listen.json.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Broadcast } from '../../src/core/broadcast.js';
import { afterAll, beforeAll, describe, expect, inject, test } from '../helpers/fixtures.js';
import { listen as pusherClient } from '../helpers/listener.js';
import { runMain, startMain } from '../helpers/main.js';
import { startCli, type Output } from '../helpers/running.js';
import { expectSchema, jsonOf } from '../helpers/schema.js';
import { freePort, startSoketi, type SoketiServer } from '../helpers/soketi.js';

const server = inject('soketi') as SoketiServer;
const masterKey = randomBytes(32).toString('base64');
const env = { ...server.env, PUSHER_ENCRYPTION_MASTER_KEY_BASE64: masterKey };
const broadcast = new Broadcast({}, { env });
afterAll(() => broadcast.close());

const subscribed = (r: Record<string, unknown>) => r.type === 'subscribed';

/** The run's --json records, each checked against the schema. */
function recordsOf(run: Pick<Output, 'records'>): Record<string, unknown>[] {
  const records = run.records();
  for (const record of records) expectSchema('listen', record);
  return records;
}

describe('listen --json streams what arrives', () => {
  test('public, private and presence events, and presence members joining and leaving, with string ids', async ({ uid }) => {
    const channels = [`news-${uid}`, `private-desk-${uid}`, `presence-room-${uid}`];
    const run = startMain(['listen', channels.join(','), '--json', '--user', '7', '--user-info', '{"name":"Ada"}', '--count', '3', '--duration', '20s'], { env });
    const status = await run.waitForRecord(subscribed);
    expect(status).toMatchObject({ connection: 'pusher', channels, user: { id: '7', info: { name: 'Ada' } } });
    expect(status.socketId).toMatch(/^\d+\.\d+$/);
    expect(status.members).toEqual({ [channels[2]!]: [{ id: '7', info: { name: 'Ada' } }] });

    // A second client joins the presence channel with a numeric id, then leaves.
    const other = await pusherClient(server, { user: { id: 9, info: { role: 'admin' } } });
    await other.subscribe(channels[2]!);
    const joined = await run.waitForRecord((r) => r.type === 'member' && r.action === 'added');
    expect(joined).toMatchObject({ channel: channels[2], user: { id: '9', info: { role: 'admin' } } });
    other.disconnect();
    const left = await run.waitForRecord((r) => r.type === 'member' && r.action === 'removed');
    expect(left).toMatchObject({ channel: channels[2], user: { id: '9' } });

    const emitted = await runMain(['emit', channels.join(','), 'order.shipped', '--data', '{"id":42,"tags":["a"]}'], { env });
    expect(emitted.code).toBe(0);
    const exit = await run.exited();
    expect(exit.code).toBe(0);
    const records = recordsOf(run);
    const events = records.filter((r) => r.type === 'event');
    expect(events.map((e) => e.channel).sort()).toEqual([...channels].sort());
    for (const e of events) {
      expect(e).toMatchObject({ event: 'order.shipped', data: { id: 42, tags: ['a'] } });
      expect(Date.parse(e.receivedAt as string)).toBeGreaterThan(Date.now() - 60_000);
    }
    expect(records.at(-1)).toEqual({ type: 'result', ok: true, status: 'done', events: 3 });
  });

  test('lists the members already in a presence channel, also when joining without --user-info', async ({ uid }) => {
    const channel = `presence-lobby-${uid}`;
    const first = startMain(['listen', channel, '--json', '--user', '8', '--duration', '20s'], { env });
    await first.waitForRecord(subscribed);
    const second = startMain(['listen', channel, '--json', '--user', '7', '--duration', '1'], { env });
    const status = await second.waitForRecord(subscribed);
    const ids = (status.members as Record<string, { id: string }[]>)[channel]!.map((m) => m.id).sort();
    expect(ids).toEqual(['7', '8']);
    expect((await second.exited()).code).toBe(0);
    expect(recordsOf(second).at(-1)).toEqual({ type: 'result', ok: true, status: 'duration', events: 0 });
    first.signal('SIGINT');
    expect((await first.exited()).code).toBe(130);
  });

  test('decrypts events on an encrypted channel with the master key', async ({ uid }) => {
    const channel = `private-encrypted-vault-${uid}`;
    const run = startMain(['listen', channel, '--json', '--count', '1', '--duration', '15s'], { env });
    await run.waitForRecord(subscribed);
    await broadcast.channel(channel, 'secret.updated', { code: 'xyzzy' });
    expect((await run.exited()).code).toBe(0);
    expect(recordsOf(run).find((r) => r.type === 'event')).toMatchObject({ channel, event: 'secret.updated', data: { code: 'xyzzy' } });
  });

  test('cache channels of every kind: an empty cache is a cacheMiss record (not counted), then events arrive as usual', async ({ uid }) => {
    const channels = [`cache-quotes-${uid}`, `private-cache-desk-${uid}`, `presence-cache-room-${uid}`, `private-encrypted-cache-vault-${uid}`];
    const run = startMain(['listen', channels.join(','), '--json', '--user', '3', '--count', '1', '--duration', '15s'], { env });
    await run.waitForRecord(subscribed);
    for (const channel of channels) await run.waitForRecord((r) => r.type === 'cacheMiss' && r.channel === channel);
    await broadcast.channel(channels[3]!, 'quote.updated', { price: 7 });
    expect((await run.exited()).code).toBe(0);
    const records = recordsOf(run);
    const misses = records.filter((r) => r.type === 'cacheMiss');
    expect(misses.map((r) => r.channel).sort()).toEqual([...channels].sort());
    for (const miss of misses) expect(Date.parse(miss.receivedAt as string)).toBeGreaterThan(Date.now() - 60_000);
    // Every miss comes after `subscribed`, and the event is the one counted.
    expect(records.findIndex(subscribed)).toBeLessThan(records.findIndex((r) => r.type === 'cacheMiss'));
    expect(records.filter((r) => r.type === 'event')).toMatchObject([{ channel: channels[3], event: 'quote.updated', data: { price: 7 } }]);
    expect(records.at(-1)).toEqual({ type: 'result', ok: true, status: 'done', events: 1 });
  });

  test('a cache channel\'s last event, sent before anyone listened, arrives on subscribing as an ordinary event', async ({ uid }) => {
    const channels = [`cache-prices-${uid}`, `private-cache-orders-${uid}`];
    await broadcast.channel(channels[0]!, 'price.updated', { price: 1 });
    await broadcast.channel(channels[0]!, 'price.updated', { price: 2 });
    await broadcast.channel(channels[1]!, 'order.shipped', { id: 9 });
    const run = startMain(['listen', channels.join(','), '--json', '--count', '2', '--duration', '15s'], { env });
    expect((await run.exited()).code).toBe(0);
    const records = recordsOf(run);
    expect(records.some((r) => r.type === 'cacheMiss')).toBe(false);
    const events = records.filter((r) => r.type === 'event').map(({ channel, event, data }) => ({ channel, event, data }));
    expect(events).toEqual(
      expect.arrayContaining([
        { channel: channels[0], event: 'price.updated', data: { price: 2 } },
        { channel: channels[1], event: 'order.shipped', data: { id: 9 } },
      ]),
    );
    expect(events).toHaveLength(2);
  });

  test('--events filters by name and --count stops after that many matches', async ({ uid }) => {
    const channel = `filtered-${uid}`;
    const run = startMain(['listen', channel, '--json', '--events', 'wanted,also', '--count', '2', '--duration', '15s'], { env });
    await run.waitForRecord(subscribed);
    await broadcast.channel(channel, 'ignored', { n: 1 });
    await broadcast.channel(channel, 'wanted', { n: 2 });
    await broadcast.channel(channel, 'ignored', { n: 3 });
    await broadcast.channel(channel, 'also', { n: 4 });
    expect((await run.exited()).code).toBe(0);
    const records = recordsOf(run);
    expect(records.filter((r) => r.type === 'event').map((e) => [e.event, (e.data as { n: number }).n])).toEqual([['wanted', 2], ['also', 4]]);
    expect(records.at(-1)).toEqual({ type: 'result', ok: true, status: 'done', events: 2 });
  });

  test('a dropped connection that comes back: state records, then events arrive again', async ({ uid }) => {
    const channel = `private-flaky-${uid}`;
    const relay = await tcpRelay(server.port);
    try {
      const run = startMain(['listen', channel, '--json', '--count', '1', '--duration', '20s'], { env: { ...env, PUSHER_PORT: String(relay.port) } });
      await run.waitForRecord(subscribed);
      relay.cut();
      await run.waitForRecord((r) => r.type === 'state' && r.current === 'connecting');
      await run.waitForRecord((r) => r.type === 'state' && r.current === 'connected');
      // pusher-js resubscribes (signing again for the new socket id) after reconnecting; emit until it is back.
      const deadline = Date.now() + 10_000;
      while (!run.lines.some((l) => l.includes('"type":"event"')) && Date.now() < deadline) {
        await broadcast.channel(channel, 'after.drop', { ok: true });
        await new Promise((r) => setTimeout(r, 200));
      }
      expect((await run.exited()).code).toBe(0);
      const records = recordsOf(run);
      expect(records.filter((r) => r.type === 'state').map((r) => [r.previous, r.current])).toEqual([
        ['connected', 'connecting'],
        ['connecting', 'connected'],
      ]);
      expect(records.at(-1)).toEqual({ type: 'result', ok: true, status: 'done', events: 1 });
    } finally {
      relay.close();
    }
  });
});

describe('listen for a person', () => {
  test('one line per event on stdout, the state on stderr', async ({ uid }) => {
    const channel = `plain-${uid}`;
    const run = startMain(['listen', channel, '--count', '2', '--duration', '15s'], { env });
    await run.waitForStderr(/Listening on/);
    await broadcast.channel(channel, 'first', { a: { b: 1 } });
    await broadcast.channel(channel, 'second', 'plain text');
    const exit = await run.exited();
    expect(exit.code).toBe(0);
    const lines = exit.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} ${channel} first \\{"a":\\{"b":1\\}\\}$`));
    expect(lines[1]).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} ${channel} second "plain text"$`));
    expect(exit.stderr).toContain(`Listening on ${channel}`);
    expect(exit.stderr).toContain('Stopping after 2 events or 15s; Ctrl+C to stop sooner.');
    expect(exit.stderr).toContain('Done after 2 events');
  });

  test('an empty cache channel is a line too', async ({ uid }) => {
    const channel = `cache-plain-${uid}`;
    const run = startMain(['listen', channel, '--duration', '15s'], { env });
    await run.waitForStderr(/Listening on/);
    await run.waitForRecord((r) => typeof r.line === 'string' && r.line.includes('cache miss'));
    run.signal('SIGINT');
    const exit = await run.exited();
    expect(exit.stdout).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} ${channel} cache miss: no event cached yet\n$`));
  });

  test('on a terminal, object data is indented; presence joins and leaves are lines too', async ({ uid }) => {
    const channel = `presence-tty-${uid}`;
    const run = startMain(['listen', channel, '--count', '1', '--duration', '15s', '--no-color'], { env, tty: { stdout: true } });
    await run.waitForStderr(/Listening on/);
    expect(run.stderr()).toMatch(/Joining presence channels as user broadcast-cli-[0-9a-f]{6} \(choose with --user\)/);
    const other = await pusherClient(server, { user: { id: 'grace', info: { name: 'Grace' } } });
    await other.subscribe(channel);
    await run.waitForRecord((r) => String(r.line).includes('+ joined grace'));
    await broadcast.channel(channel, 'nested', { a: 1 });
    const exit = await run.exited();
    other.disconnect();
    expect(exit.code).toBe(0);
    expect(exit.stdout).toMatch(new RegExp(`${channel} \\+ joined grace \\{"name":"Grace"\\}\\n`));
    expect(exit.stdout).toMatch(new RegExp(`${channel} nested\\n\\{\\n  "a": 1\\n\\}\\n$`));
  });
});

describe('listen ends as asked', () => {
  test.for([
    ['--duration', '1s'],
    ['--timeout', '1'], // the old name, hidden: a bare number in seconds
  ])('%s %s without --count ends with 0 after that long', async (flag, { uid }) => {
    const run = startMain(['listen', `quiet-${uid}`, '--json', ...flag], { env });
    const exit = await run.exited();
    expect(exit.code).toBe(0);
    expect(exit.ms).toBeGreaterThanOrEqual(1000);
    expect(exit.ms).toBeLessThan(8000);
    expect(recordsOf(run).at(-1)).toEqual({ type: 'result', ok: true, status: 'duration', events: 0 });
  });

  test('--duration with --count not reached exits 1 (not_received) and says how many arrived', async ({ uid }) => {
    const channel = `short-${uid}`;
    const run = startMain(['listen', channel, '--json', '--count', '3', '--duration', '1.5'], { env });
    await run.waitForRecord(subscribed);
    await broadcast.channel(channel, 'only-one', {});
    const exit = await run.exited();
    expect(exit.code).toBe(1);
    expect(exit.stderr).toContain('Received 1 of 3 events within --duration 1.5s');
    expect(recordsOf(run).at(-1)).toMatchObject({ type: 'result', ok: false, events: 1, error: { code: 'not_received', exitCode: 1 } });
  });
});

describe('listen fails fast and clearly', () => {
  test('a wrong app key exits 1 with close code 4001 explained: what it means, the server\'s reason, what to check', async ({ uid }) => {
    const r = await runMain(['listen', `k-${uid}`, '--json'], { env: { ...env, PUSHER_APP_KEY: 'no-such-key' } });
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(5000);
    expect(r.stderr).toContain('refused the WebSocket connection: close code 4001, app does not exist');
    expect(r.stderr).toContain('The server said: "App key no-such-key does not exist."');
    expect(r.stderr).toMatch(/hint: Check PUSHER_APP_KEY: it must be the app's key, not its app id/);
    const result = jsonOf('listen', r.stdout);
    expect(result).toMatchObject({ type: 'result', ok: false, events: 0, error: { code: 'delivery', exitCode: 1 } });
    expect(result.error.details.closeCode).toEqual({
      code: 4001,
      meaning: 'app does not exist: the server knows no app with this key',
      hint: expect.stringContaining('not its app id'),
      reconnect: 'never',
      reason: 'App key no-such-key does not exist.',
    });
    expect(result.error.hint).toBe(result.error.details.closeCode.hint);
  });

  test('a wrong secret: the private subscription is refused, exit 1, the secret never printed', async ({ uid }) => {
    const r = await runMain(['listen', `private-x-${uid}`, '--json'], { env: { ...env, PUSHER_APP_SECRET: 'wrong-secret-value' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/The server refused the subscription to private-x-\w+/);
    expect(jsonOf('listen', r.stdout)).toMatchObject({ ok: false, error: { code: 'delivery', hint: expect.stringContaining('(PUSHER_APP_ID, PUSHER_APP_KEY, PUSHER_APP_SECRET)') } });
    expect(r.stdout + r.stderr).not.toContain('wrong-secret-value');
    // The same with a Laravel Reverb setup (REVERB_* only): the hint names the variables that set it.
    const reverb = { REVERB_APP_ID: server.appId, REVERB_APP_KEY: server.key, REVERB_APP_SECRET: 'wrong-secret-value', REVERB_HOST: server.host, REVERB_PORT: String(server.port), REVERB_SCHEME: 'http' };
    const fromReverb = await runMain(['listen', `private-x-${uid}`, '--json'], { env: reverb });
    expect(fromReverb.code).toBe(1);
    expect(jsonOf('listen', fromReverb.stdout)).toMatchObject({ ok: false, error: { hint: expect.stringContaining('(REVERB_APP_ID, REVERB_APP_KEY, REVERB_APP_SECRET)') } });
  });

  test('no server on the port: exit 1 with "connection refused", quickly', async () => {
    const port = await freePort();
    const r = await runMain(['listen', 'anything'], { env: { ...env, PUSHER_PORT: String(port) } });
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(5000);
    expect(r.stderr).toContain(`Could not reach the WebSocket server at ws://127.0.0.1:${port}: connection refused`);
  });

  test('a server that accepts but never answers: exit 1 once --duration is over', async () => {
    const silent = net.createServer(() => {});
    const sockets: net.Socket[] = [];
    silent.on('connection', (s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      const r = await runMain(['listen', 'anything', '--json', '--duration', '500ms'], { env: { ...env, PUSHER_PORT: String(port) } });
      expect(r.code).toBe(1);
      expect(r.ms).toBeLessThan(3000);
      expect(jsonOf('listen', r.stdout)).toMatchObject({
        type: 'result',
        ok: false,
        events: 0,
        error: { code: 'delivery', message: 'Not subscribed to every channel within --duration 500ms' },
      });
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  test.for([
    [['listen', 'a,bad name'], env, /Invalid channel name "bad name"/, 'invalid'],
    [['listen', 'orders', '--user', '5'], env, /--user and --user-info apply to presence channels and --sign-in only/, 'usage'],
    [['listen', 'presence-r', '--user', '5', '--user-info', '[1]'], env, /--user-info must be a JSON object/, 'usage'],
    [['listen', 'private-encrypted-v'], server.env, /is encrypted, but connection "pusher" has no encryptionMasterKeyBase64/, 'config'],
    [['listen', 'orders'], {}, /uses the log driver, which has no server to listen to/, 'usage'],
    [['listen', 'orders', '--count', '0'], env, /--count must be a whole number >= 1/, 'usage'],
    [['listen', 'orders', '--duration', 'soon'], env, /--duration must be a duration such as 500ms, 5s or 2m/, 'usage'],
  ] as const)('bad usage %j exits 2 before connecting', async ([args, runEnv, message, code]) => {
    const r = await runMain([...args, '--json'], { env: { ...runEnv } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(jsonOf('listen', r.stdout)).toMatchObject({ ok: false, error: { code, exitCode: 2 } });
  });
});

describe('listen explains the close codes of its own soketi servers', () => {
  let signIn: SoketiServer;
  let doomed: SoketiServer;
  beforeAll(async () => {
    // One requires user sign-in within 1 s (listen signs in only with --sign-in); the other is stopped during a listen.
    [signIn, doomed] = await Promise.all([
      startSoketi({ env: { SOKETI_DEFAULT_APP_USER_AUTHENTICATION: 'true', SOKETI_USER_AUTHENTICATION_TIMEOUT: '1000' } }),
      startSoketi(),
    ]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([signIn?.stop(), doomed?.stop()]);
  });

  test('4009: a server that requires user sign-in closes the connection; exit 1 with the code explained', async ({ uid }) => {
    const json = startMain(['listen', `news-${uid}`, '--json', '--duration', '20s'], { env: signIn.env });
    const person = startMain(['listen', `news-${uid}`, '--duration', '20s'], { env: signIn.env });
    await json.waitForRecord(subscribed);
    const [exit, shown] = await Promise.all([json.exited(10_000), person.exited(10_000)]);
    expect(exit.code).toBe(1);
    expect(exit.ms).toBeLessThan(8000);
    const result = recordsOf(json).at(-1)!;
    expect(result).toMatchObject({ type: 'result', ok: false, events: 0, error: { code: 'delivery', exitCode: 1 } });
    expect((result.error as { details: unknown }).details).toEqual({
      closeCode: {
        code: 4009,
        meaning: 'unauthorized: the connection was not authorized in time',
        hint: expect.stringContaining('requires user sign-in'),
        reconnect: 'never',
        reason: 'Connection not authorized within timeout.',
      },
    });
    expect(shown.code).toBe(1);
    expect(shown.stderr).toContain('closed the WebSocket connection: close code 4009');
    expect(shown.stderr).toContain('close code 4009, unauthorized: the connection was not authorized in time');
    expect(shown.stderr).toMatch(/hint: The server requires user sign-in \(pusher:signin\)/);
  });

  test('--sign-in keeps the connection a server that requires it would close, and the events sent to that user (emit --user) arrive on #server-to-user-<id>', async ({ uid }) => {
    const user = `u-${uid}`;
    const run = startMain(['listen', `news-${uid}`, '--json', '--user', user, '--user-info', '{"name":"Ada"}', '--sign-in', '--count', '2', '--duration', '20s'], { env: signIn.env });
    const status = await run.waitForRecord(subscribed);
    expect(status).toMatchObject({ channels: [`news-${uid}`, `#server-to-user-${user}`], user: { id: user, info: { name: 'Ada' } }, signedIn: true });
    expect(status).not.toHaveProperty('members');
    // Past the server's 1 s sign-in limit, still connected: the events below arrive.
    await new Promise((r) => setTimeout(r, 1500));
    // Another user's message does not arrive; this user's does, and so does the channel's event.
    expect((await runMain(['emit', '--user', `other-${uid}`, 'greeting', '--data', '{"to":"other"}'], { env: signIn.env })).code).toBe(0);
    expect((await runMain(['emit', '--user', user, 'greeting', '--data', '{"to":"ada"}'], { env: signIn.env })).code).toBe(0);
    expect((await runMain(['emit', `news-${uid}`, 'headline'], { env: signIn.env })).code).toBe(0);
    expect((await run.exited()).code).toBe(0);
    const events = recordsOf(run).filter((r) => r.type === 'event');
    expect(events).toEqual([
      expect.objectContaining({ channel: `#server-to-user-${user}`, event: 'greeting', data: { to: 'ada' } }),
      expect.objectContaining({ channel: `news-${uid}`, event: 'headline' }),
    ]);
  });

  test('--sign-in without channels listens to the user\'s events only; for a person the line says who is signed in', async ({ uid }) => {
    const user = `u-${uid}`;
    const run = startMain(['listen', '--user', user, '--sign-in', '--count', '1', '--duration', '20s'], { env: signIn.env });
    await run.waitForStderr(new RegExp(`Listening on #server-to-user-${user}, signed in as user ${user}`));
    expect((await runMain(['emit', '--user', user, 'order.shipped', '--data', '{"id":7}'], { env: signIn.env })).code).toBe(0);
    const exit = await run.exited();
    expect(exit.code).toBe(0);
    expect(exit.stdout).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} #server-to-user-${user} order\\.shipped \\{"id":7\\}\\n$`));
  });

  test('--sign-in against a server that does not answer sign-ins (soketi without user authentication): exit 1, and the hint says why', async ({ uid }) => {
    const run = startMain(['listen', `news-${uid}`, '--json', '--user', '7', '--sign-in', '--duration', '2s'], { env });
    const exit = await run.exited();
    expect(exit.code).toBe(1);
    const result = recordsOf(run).at(-1)!;
    expect(result).toMatchObject({ type: 'result', ok: false, events: 0, error: { code: 'delivery', message: 'Not signed in as user 7 and subscribed within --duration 2s' } });
    expect((result.error as { hint: string }).hint).toContain('SOKETI_DEFAULT_APP_USER_AUTHENTICATION');
  });

  test('--sign-in with a wrong secret: the server refuses the sign-in (4009) at once; exit 1 naming the credentials, never the secret', async ({ uid }) => {
    const r = await runMain(['listen', `news-${uid}`, '--json', '--user', '7', '--sign-in', '--duration', '10s'], { env: { ...signIn.env, PUSHER_APP_SECRET: 'wrong-secret-value' } });
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(5000);
    expect(jsonOf('listen', r.stdout)).toMatchObject({
      ok: false,
      error: {
        code: 'delivery',
        message: 'The server refused the sign-in as user 7 (close code 4009). The server said: "Connection not authorized."',
        hint: expect.stringContaining('(PUSHER_APP_ID, PUSHER_APP_KEY, PUSHER_APP_SECRET)'),
        details: { closeCode: { code: 4009 } },
      },
    });
    expect(r.stdout + r.stderr).not.toContain('wrong-secret-value');
  });

  test('--sign-in needs --user (exit 2, nothing connects)', async () => {
    const noUser = await runMain(['listen', 'news', '--sign-in', '--json'], { env });
    expect(noUser.code).toBe(2);
    expect(jsonOf('listen', noUser.stdout)).toMatchObject({ ok: false, error: { code: 'usage', message: '--sign-in needs --user <id>: the user to sign in as' } });
  });

  test('--all --sign-in: follows the occupied channels and shows what the user is sent, on a server that requires signing in', async ({ uid }) => {
    const user = `all-${uid}`;
    const run = startMain(['listen', '--all', '--user', user, '--sign-in', '--json', '--count', '2', '--duration', '20s'], { env: signIn.env });
    expect(await run.waitForRecord((r) => r.type === 'following')).toMatchObject({ user: { id: user }, signedIn: true });
    // Someone else occupies a channel: it is followed, and its event arrives beside the user's.
    const other = startMain(['listen', `room-${uid}`, '--user', 'someone', '--sign-in', '--json', '--duration', '20s'], { env: signIn.env });
    await other.waitForRecord(subscribed);
    await run.waitForRecord((r) => r.type === 'channel' && r.action === 'joined' && r.channel === `room-${uid}`);
    expect((await runMain(['emit', '--user', user, 'greeting', '--data', '{"hi":1}'], { env: signIn.env })).code).toBe(0);
    expect((await runMain(['emit', `room-${uid}`, 'news'], { env: signIn.env })).code).toBe(0);
    expect((await run.exited()).code).toBe(0);
    other.signal('SIGINT');
    await other.exited();
    const records = recordsOf(run);
    expect(records.filter((r) => r.type === 'event').map((r) => [r.channel, r.event]).sort()).toEqual([
      [`#server-to-user-${user}`, 'greeting'],
      [`room-${uid}`, 'news'],
    ]);
    // Users' own channels (#server-to-user-…) are never followed, though soketi lists them as occupied.
    expect(records.filter((r) => r.type === 'channel' && String(r.channel).startsWith('#'))).toEqual([]);
    expect(records.filter((r) => r.type === 'warning')).toEqual([]);
  });

  test('4200: a server that shuts down asks clients to reconnect; the state record and the line say so', async ({ uid }) => {
    const json = startMain(['listen', `news-${uid}`, '--json'], { env: doomed.env });
    const person = startMain(['listen', `news-${uid}`], { env: doomed.env });
    await Promise.all([json.waitForRecord(subscribed), person.waitForStderr(/Listening on/)]);
    const stopped = doomed.stop();
    const drop = await json.waitForRecord((r) => r.type === 'state' && r.current === 'connecting');
    expect(drop).toMatchObject({
      previous: 'connected',
      closeCode: { code: 4200, meaning: 'generic reconnect: the server asked the client to reconnect', reconnect: 'immediately', reason: expect.any(String) },
    });
    await person.waitForStderr(/connection lost \(close code 4200, generic reconnect: the server asked the client to reconnect\); reconnecting…/);
    json.signal('SIGINT');
    person.signal('SIGINT');
    expect((await json.exited()).code).toBe(130);
    expect((await person.exited()).code).toBe(130);
    recordsOf(json);
    await stopped;
  });
});

/** The same stops in process (main's signal, a failing stdout) and for the binary (real signals, a closed pipe). */
const starters = [
  ['in process', startMain],
  ['the binary', startCli],
] as const;

describe.for(starters)('listen stops when asked (%s)', ([, start]) => {
  test.for([
    ['SIGINT', 130, 'interrupted'],
    ['SIGTERM', 143, 'terminated'],
    ['SIGHUP', 129, 'terminated'],
  ] as const)('%s: disconnects cleanly and exits %i', async ([signal, code, errorCode], { uid }) => {
    const channel = `stop-${uid}`;
    const run = start(['listen', channel, '--json'], { env });
    await run.waitForRecord(subscribed);
    await broadcast.channel(channel, 'before.stop', {});
    await run.waitForRecord((r) => r.type === 'event');
    run.signal(signal);
    const exit = await run.exited(5000);
    expect(exit.code).toBe(code);
    expect(recordsOf(run).at(-1)).toMatchObject({ type: 'result', ok: false, events: 1, error: { code: errorCode, exitCode: code } });
  });

  test('`listen … | head -1`: once stdout\'s reader is gone, the next event ends it with 0 and no error', async ({ uid }) => {
    const channel = `head-${uid}`;
    const run = start(['listen', channel, '--json'], { env });
    await run.waitForRecord(subscribed);
    run.closeStdout();
    await broadcast.channel(channel, 'unread', {});
    const exit = await run.exited(5000);
    expect(exit.code).toBe(0);
    expect(exit.stderr).toBe('');
  });
});

/** A TCP relay to a port whose connections can be cut (the server stays up), so clients reconnect through it. */
async function tcpRelay(port: number): Promise<{ port: number; cut(): void; close(): void }> {
  const sockets = new Set<net.Socket>();
  const keep = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
  };
  const relay = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    keep(client);
    keep(upstream);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const cut = () => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    port: (relay.address() as net.AddressInfo).port,
    cut,
    close() {
      cut();
      relay.close();
    },
  };
}

/**
 * `broadcast auth:sign`: the body it prints is what the auth route returns (and soketi accepts it), `--verify`
 * exits 0/1 and names what differs, and bad input exits 2 before anything is signed.
 */
import { sharedSecret, signChannel } from '../../src/auth/sign.js';
import { runCli } from '../helpers/cli.js';
import { describe, expect, inject, test } from '../helpers/fixtures.js';
import { listen } from '../helpers/listener.js';
import { runMain } from '../helpers/main.js';
import { jsonOf } from '../helpers/schema.js';
import type { SoketiServer } from '../helpers/soketi.js';

const server = inject('soketi') as SoketiServer;
const creds = { key: server.key, secret: server.secret };
const MASTER = 'zyrm8pvV2C9fJcBfhyXzvxbJVN/H7QLmbe0xJi1GhPU=';

describe('auth:sign prints the auth route\'s body', () => {
  test('private channel: exactly {"auth":"<key>:<signature>"} on stdout (built binary)', async ({ project }) => {
    const r = await runCli(['auth:sign', 'private-orders.1', '--socket-id', '1234.5678'], { cwd: project.dir, env: server.env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${JSON.stringify({ auth: signChannel(creds, '1234.5678', 'private-orders.1') })}\n`);
    expect(r.stdout + r.stderr).not.toContain(server.secret);
  });

  test('presence channel with --user and --user-info; an all-digit user id is a JSON number', async ({ project }) => {
    const r = await runMain(['auth:sign', 'presence-room', '--socket-id', '1.2', '--user', '42', '--user-info', '{"name":"Ada"}', '--json'], { cwd: project.dir, env: server.env });
    expect(r.code).toBe(0);
    const channelData = '{"user_id":42,"user_info":{"name":"Ada"}}';
    expect(jsonOf('auth:sign', r.stdout)).toEqual({
      ok: true,
      channel: 'presence-room',
      socketId: '1.2',
      socketIdGenerated: false,
      body: { auth: signChannel(creds, '1.2', 'presence-room', channelData), channel_data: channelData },
    });
  });

  test.for([
    ['007', '"007"'],
    ['user-7', '"user-7"'],
    ['123456789012345678901', '"123456789012345678901"'],
    ['0', '0'],
  ])('--user %s is written as %s', async ([user, json], { project }) => {
    const r = await runMain(['auth:sign', 'presence-room', '--socket-id', '1.2', '--user', user!], { cwd: project.dir, env: server.env });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).channel_data).toBe(`{"user_id":${json}}`);
  });

  test('--channel-data is signed byte for byte, as given', async ({ project }) => {
    const exact = '{"user_id": 10,  "user_info": {"name": "Mr. Channels"}}';
    const r = await runMain(['auth:sign', 'presence-foobar', '--socket-id', '1234.1234', '--channel-data', exact], { cwd: project.dir, env: server.env });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ auth: signChannel(creds, '1234.1234', 'presence-foobar', exact), channel_data: exact });
  });

  test('without --socket-id, generates a valid one and says so on stderr (silent with --json)', async ({ project }) => {
    const human = await runMain(['auth:sign', 'private-a'], { cwd: project.dir, env: server.env });
    expect(human.code).toBe(0);
    const generated = /socket_id (\d+\.\d+) \(generated/.exec(human.stderr)?.[1];
    expect(generated).toBeDefined();
    expect(JSON.parse(human.stdout).auth).toBe(signChannel(creds, generated!, 'private-a'));
    const json = await runMain(['auth:sign', 'private-a', '--json'], { cwd: project.dir, env: server.env });
    expect(json.stderr).toBe('');
    const doc = jsonOf('auth:sign', json.stdout);
    expect(doc).toMatchObject({ ok: true, socketIdGenerated: true });
    expect(doc.body.auth).toBe(signChannel(creds, doc.socketId, 'private-a'));
  });

  test('encrypted channel: shared_secret from the master key', async ({ project }) => {
    const env = { ...server.env, PUSHER_ENCRYPTION_MASTER_KEY_BASE64: MASTER };
    const r = await runMain(['auth:sign', 'private-encrypted-bla', '--socket-id', '1.2', '--json'], { cwd: project.dir, env });
    expect(r.code).toBe(0);
    expect(jsonOf('auth:sign', r.stdout).body).toEqual({ auth: signChannel(creds, '1.2', 'private-encrypted-bla'), shared_secret: sharedSecret('private-encrypted-bla', MASTER) });
    expect(r.stdout).not.toContain(MASTER);
  });

  test('the printed body subscribes a real pusher-js client through soketi', async ({ project, uid }) => {
    const listener = await listen(server, {
      authorizer: {
        endpoint: '/unused',
        transport: 'ajax',
        customHandler: ({ socketId, channelName }, callback) => {
          runMain(['auth:sign', channelName, '--socket-id', socketId, '--user', '5', '--user-info', '{"name":"CLI"}'], { cwd: project.dir, env: server.env })
            .then((r) => callback(r.code === 0 ? null : new Error(r.stderr), r.code === 0 ? JSON.parse(r.stdout) : null));
        },
      },
    });
    try {
      await listener.subscribe(`presence-cli-${uid}`);
      const me = (listener.client.channel(`presence-cli-${uid}`) as unknown as { members: { me: { id: unknown; info: unknown } } }).members.me;
      expect(me).toEqual({ id: 5, info: { name: 'CLI' } });
    } finally {
      listener.disconnect();
    }
  });
});

describe('auth:sign --verify', () => {
  const good = signChannel(creds, '1.2', 'private-a');

  test('exits 0 when the signature matches (the auth value or the whole JSON body)', async ({ project }) => {
    const r = await runCli(['auth:sign', 'private-a', '--socket-id', '1.2', '--verify', good], { cwd: project.dir, env: server.env });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('✓ signature matches: private-a, socket id 1.2\n');
    const channelData = '{"user_id":1}';
    const body = JSON.stringify({ auth: signChannel(creds, '1.2', 'presence-r', channelData), channel_data: channelData });
    const json = await runMain(['auth:sign', 'presence-r', '--socket-id', '1.2', '--verify', body, '--json'], { cwd: project.dir, env: server.env });
    expect(json.code).toBe(0);
    expect(jsonOf('auth:sign', json.stdout)).toEqual({ ok: true, channel: 'presence-r', socketId: '1.2', socketIdGenerated: false, valid: true, channelData });
  });

  test('exits 1 with code "mismatch" and says which inputs would have to differ', async ({ project }) => {
    const run = (args: string[], env = server.env) => runMain(['auth:sign', ...args, '--json'], { cwd: project.dir, env });
    const wrongSocket = await runCli(['auth:sign', 'private-a', '--socket-id', '1.3', '--verify', good], { cwd: project.dir, env: server.env });
    expect(wrongSocket.code).toBe(1);
    expect(wrongSocket.stdout).toBe('');
    expect(wrongSocket.stderr).toContain('signature does not match: the socket id, channel name, channel_data or secret differ');

    const wrongKey = await run(['private-a', '--socket-id', '1.2', '--verify', `other-key:${good.split(':')[1]}`]);
    expect(wrongKey.code).toBe(1);
    expect(jsonOf('auth:sign', wrongKey.stdout)).toEqual({
      ok: false,
      error: {
        code: 'mismatch',
        message: `the key differs: the signature is for app key "other-key", but this connection's key is "${server.key}" (signed with another app's credentials)`,
        details: { differs: 'key', channel: 'private-a', socketId: '1.2' },
        exitCode: 1,
      },
    });

    const wrongData = await run(['presence-r', '--socket-id', '1.2', '--user', '2', '--verify', signChannel(creds, '1.2', 'presence-r', '{"user_id":1}')]);
    expect(wrongData.code).toBe(1);
    expect(jsonOf('auth:sign', wrongData.stdout).error).toMatchObject({ code: 'mismatch', details: { differs: 'signature' } });

    const bodyData = JSON.stringify({ auth: good, channel_data: '{"user_id":1}' });
    const differentData = await run(['presence-r', '--socket-id', '1.2', '--user', '2', '--verify', bodyData]);
    expect(differentData.code).toBe(1);
    expect(jsonOf('auth:sign', differentData.stdout).error).toMatchObject({ code: 'mismatch', details: { differs: 'channel_data', socketId: '1.2' } });

    const wrongSecret = await run(['private-a', '--socket-id', '1.2', '--verify', good], { ...server.env, PUSHER_APP_SECRET: 'another-secret' });
    expect(wrongSecret.code).toBe(1);
    expect(jsonOf('auth:sign', wrongSecret.stdout).error.code).toBe('mismatch');
    expect(wrongSecret.stdout + wrongSecret.stderr).not.toContain('another-secret');
  });
});

describe('auth:sign refuses bad input with exit 2', () => {
  test.for([
    [['orders'], /"orders" is a public channel: it needs no authorization/],
    [['presence-room'], /needs a member: give --user <id> \(and --user-info <json>\) or --channel-data <json>/],
    [['private-a', '--socket-id', '12.x'], /Invalid socket id "12.x"/],
    [['private-a b'], /Invalid channel name "private-a b"/],
    [['presence-room', '--user', '1', '--user-info', '{"name":'], /Invalid JSON in --user-info/],
    [['presence-room', '--user', '1', '--user-info', '[1]'], /--user-info must be a JSON object/],
    [['presence-room', '--channel-data', '{user_id:1}'], /Invalid JSON in --channel-data/],
    [['presence-room', '--channel-data', '{"name":"x"}'], /--channel-data must be a JSON object with a "user_id"/],
    [['presence-room', '--user', '1', '--channel-data', '{"user_id":1}'], /--user \(with --user-info\) or --channel-data, not both/],
    [['private-a', '--user', '1'], /--user applies to presence channels only/],
    // A private channel's signature covers no channel_data: a body with one would be refused by the server.
    [['private-a', '--channel-data', '{"user_id":1}'], /--channel-data applies to presence channels only/],
    [['presence-room', '--user-info', '{"name":"Ada"}'], /--user-info needs --user/],
    [['presence-room', '--user-info', '{"name":"Ada"}', '--channel-data', '{"user_id":1}'], /--user-info needs --user/],
    [['private-a', '--verify', 'k:abc'], /--verify needs --socket-id/],
    [['private-a', '--socket-id', '1.2', '--verify', 'k:abc'], /--verify: not a Pusher auth signature: expected "<app key>:<64 hex digits>"/],
    [['private-a', '--socket-id', '1.2', '--verify', '{"auth":1}'], /The --verify body has no "auth" string/],
    [['private-encrypted-a'], /"private-encrypted-a" is encrypted, but connection "pusher" has no encryptionMasterKeyBase64/],
  ] as const)('%j', async ([args, message], { project }) => {
    const human = await runMain(['auth:sign', ...args], { cwd: project.dir, env: server.env });
    expect(human.code).toBe(2);
    expect(human.stderr).toMatch(message);
    expect(human.stdout).toBe('');
    const json = await runMain(['auth:sign', ...args, '--json'], { cwd: project.dir, env: server.env });
    expect(json.code).toBe(2);
    expect(jsonOf('auth:sign', json.stdout)).toMatchObject({ ok: false, error: { code: expect.stringMatching(/^(usage|invalid|config)$/), message: expect.stringMatching(message), exitCode: 2 } });
  });

  test('an encrypted channel without a master key: exit 2 from the binary, with a JSON error under --json', async ({ project }) => {
    const r = await runCli(['auth:sign', 'private-encrypted-a', '--json'], { cwd: project.dir, env: server.env });
    expect(r.code).toBe(2);
    expect(jsonOf('auth:sign', r.stdout)).toMatchObject({ ok: false, error: { code: 'config', exitCode: 2, hint: expect.stringContaining('PUSHER_ENCRYPTION_MASTER_KEY_BASE64') } });
  });

  test('a connection without credentials cannot sign', async ({ project }) => {
    const r = await runMain(['auth:sign', 'private-a'], { cwd: project.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('uses the log driver, which has no app key and secret');
  });
});

/**
 * `broadcast auth:sign`: the body it prints is what the auth route returns (and soketi accepts it), `--verify`
 * exits 0/1 and names what differs, and bad input exits 2 before anything is signed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sharedSecret, signChannel } from '../../src/auth/sign.js';
import { main } from '../../src/cli/main.js';
import { runCli } from '../helpers/cli.js';
import { listen } from '../helpers/listener.js';
import type { SoketiServer } from '../helpers/soketi.js';

const server = inject('soketi') as SoketiServer;
const creds = { key: server.key, secret: server.secret };
const MASTER = 'zyrm8pvV2C9fJcBfhyXzvxbJVN/H7QLmbe0xJi1GhPU=';
let cwd: string;

beforeAll(async () => {
  cwd = await mkdtemp(path.join(tmpdir(), 'auth-sign-'));
});
afterAll(() => rm(cwd, { recursive: true, force: true }));

/** The CLI in-process (same code as the binary, without the start-up cost). */
async function cli(args: string[], env: Record<string, string> = server.env): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await main(['node', 'broadcast', ...args], { cwd, env, stdout, stderr, stdin: new PassThrough() });
  return { code, stdout: out, stderr: err };
}

describe('auth:sign prints the auth route\'s body', () => {
  it('private channel: exactly {"auth":"<key>:<signature>"} on stdout (built binary)', async () => {
    const r = await runCli(['auth:sign', 'private-orders.1', '--socket-id', '1234.5678'], { env: server.env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${JSON.stringify({ auth: signChannel(creds, '1234.5678', 'private-orders.1') })}\n`);
    expect(r.stdout + r.stderr).not.toContain(server.secret);
  });

  it('presence channel with --user and --user-info; an all-digit user id is a JSON number', async () => {
    const r = await cli(['auth:sign', 'presence-room', '--socket-id', '1.2', '--user', '42', '--user-info', '{"name":"Ada"}', '--json']);
    expect(r.code).toBe(0);
    const channelData = '{"user_id":42,"user_info":{"name":"Ada"}}';
    expect(JSON.parse(r.stdout)).toEqual({
      ok: true,
      channel: 'presence-room',
      socket_id: '1.2',
      auth: signChannel(creds, '1.2', 'presence-room', channelData),
      channel_data: channelData,
    });
  });

  it.each([
    ['007', '"007"'],
    ['user-7', '"user-7"'],
    ['123456789012345678901', '"123456789012345678901"'],
    ['0', '0'],
  ])('--user %s is written as %s', async (user, json) => {
    const r = await cli(['auth:sign', 'presence-room', '--socket-id', '1.2', '--user', user]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).channel_data).toBe(`{"user_id":${json}}`);
  });

  it('--channel-data is signed byte for byte, as given', async () => {
    const exact = '{"user_id": 10,  "user_info": {"name": "Mr. Channels"}}';
    const r = await cli(['auth:sign', 'presence-foobar', '--socket-id', '1234.1234', '--channel-data', exact]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ auth: signChannel(creds, '1234.1234', 'presence-foobar', exact), channel_data: exact });
  });

  it('without --socket-id, generates a valid one and says so on stderr (silent with --json)', async () => {
    const human = await cli(['auth:sign', 'private-a']);
    expect(human.code).toBe(0);
    const generated = /socket_id (\d+\.\d+) \(generated/.exec(human.stderr)?.[1];
    expect(generated).toBeDefined();
    expect(JSON.parse(human.stdout).auth).toBe(signChannel(creds, generated!, 'private-a'));
    const json = await cli(['auth:sign', 'private-a', '--json']);
    expect(json.stderr).toBe('');
    expect(JSON.parse(json.stdout).socket_id).toMatch(/^\d+\.\d+$/);
  });

  it('encrypted channel: shared_secret from the master key', async () => {
    const r = await cli(['auth:sign', 'private-encrypted-bla', '--socket-id', '1.2', '--json'], { ...server.env, PUSHER_ENCRYPTION_MASTER_KEY_BASE64: MASTER });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ shared_secret: sharedSecret('private-encrypted-bla', MASTER), auth: signChannel(creds, '1.2', 'private-encrypted-bla') });
    expect(r.stdout).not.toContain(MASTER);
  });

  it('the printed body subscribes a real pusher-js client through soketi', async () => {
    const id = Math.random().toString(36).slice(2, 10);
    const listener = await listen(server, {
      authorizer: {
        endpoint: '/unused',
        transport: 'ajax',
        customHandler: ({ socketId, channelName }, callback) => {
          runCli(['auth:sign', channelName, '--socket-id', socketId, '--user', '5', '--user-info', '{"name":"CLI"}'], { env: server.env })
            .then((r) => callback(r.code === 0 ? null : new Error(r.stderr), r.code === 0 ? JSON.parse(r.stdout) : null));
        },
      },
    });
    try {
      await listener.subscribe(`presence-cli-${id}`);
      const me = (listener.client.channel(`presence-cli-${id}`) as unknown as { members: { me: { id: unknown; info: unknown } } }).members.me;
      expect(me).toEqual({ id: 5, info: { name: 'CLI' } });
    } finally {
      listener.disconnect();
    }
  });
});

describe('auth:sign --verify', () => {
  const good = signChannel(creds, '1.2', 'private-a');

  it('exits 0 when the signature matches (the auth value or the whole JSON body)', async () => {
    const r = await runCli(['auth:sign', 'private-a', '--socket-id', '1.2', '--verify', good], { env: server.env });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('signature matches');
    const channelData = '{"user_id":1}';
    const body = JSON.stringify({ auth: signChannel(creds, '1.2', 'presence-r', channelData), channel_data: channelData });
    const json = await cli(['auth:sign', 'presence-r', '--socket-id', '1.2', '--verify', body, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ ok: true, valid: true, channel: 'presence-r', socket_id: '1.2' });
  });

  it('exits 1 and says which inputs would have to differ', async () => {
    const wrongSocket = await runCli(['auth:sign', 'private-a', '--socket-id', '1.3', '--verify', good], { env: server.env });
    expect(wrongSocket.code).toBe(1);
    expect(wrongSocket.stderr).toContain('signature does not match: the socket id, channel name, channel_data or secret differ');
    const wrongKey = await cli(['auth:sign', 'private-a', '--socket-id', '1.2', '--verify', `other-key:${good.split(':')[1]}`, '--json']);
    expect(wrongKey.code).toBe(1);
    expect(JSON.parse(wrongKey.stdout)).toMatchObject({ ok: false, error: { code: 'mismatch', exitCode: 1, details: { differs: 'key' } } });
    expect(wrongKey.stderr).toContain(`the key differs: the signature is for app key "other-key", but this connection's key is "${server.key}"`);
    const wrongData = await cli(['auth:sign', 'presence-r', '--socket-id', '1.2', '--user', '2', '--verify', signChannel(creds, '1.2', 'presence-r', '{"user_id":1}')]);
    expect(wrongData.code).toBe(1);
    const wrongSecret = await cli(['auth:sign', 'private-a', '--socket-id', '1.2', '--verify', good], { ...server.env, PUSHER_APP_SECRET: 'another-secret' });
    expect(wrongSecret.code).toBe(1);
    expect(wrongSecret.stdout + wrongSecret.stderr).not.toContain('another-secret');
  });
});

describe('auth:sign refuses bad input with exit 2', () => {
  it.each([
    [['auth:sign', 'orders'], /"orders" is a public channel: it needs no authorization/],
    [['auth:sign', 'presence-room'], /needs a member: give --user <id> \(and --user-info <json>\) or --channel-data <json>/],
    [['auth:sign', 'private-a', '--socket-id', '12.x'], /Invalid socket id "12.x"/],
    [['auth:sign', 'private-a b'], /Invalid channel name "private-a b"/],
    [['auth:sign', 'presence-room', '--user', '1', '--user-info', '{"name":'], /Invalid JSON in --user-info/],
    [['auth:sign', 'presence-room', '--user', '1', '--user-info', '[1]'], /--user-info must be a JSON object/],
    [['auth:sign', 'presence-room', '--channel-data', '{user_id:1}'], /Invalid JSON in --channel-data/],
    [['auth:sign', 'presence-room', '--channel-data', '{"name":"x"}'], /--channel-data must be a JSON object with a "user_id"/],
    [['auth:sign', 'presence-room', '--user', '1', '--channel-data', '{"user_id":1}'], /--user \(with --user-info\) or --channel-data, not both/],
    [['auth:sign', 'private-a', '--user', '1'], /--user applies to presence channels only/],
    [['auth:sign', 'private-a', '--verify', 'k:abc'], /--verify needs --socket-id/],
    [['auth:sign', 'private-a', '--socket-id', '1.2', '--verify', 'k:abc'], /--verify: not a Pusher auth signature: expected "<app key>:<64 hex digits>"/],
    [['auth:sign', 'private-a', '--socket-id', '1.2', '--verify', '{"auth":1}'], /The --verify body has no "auth" string/],
    [['auth:sign', 'private-encrypted-a'], /"private-encrypted-a" is encrypted, but connection "pusher" has no encryptionMasterKeyBase64/],
  ])('%j', async (args, message) => {
    const r = await cli(args as string[]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });

  it('an encrypted channel without a master key: exit 2 from the binary, with a JSON error under --json', async () => {
    const r = await runCli(['auth:sign', 'private-encrypted-a', '--json'], { env: server.env });
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { code: 'config', exitCode: 2, hint: expect.stringContaining('PUSHER_ENCRYPTION_MASTER_KEY_BASE64') } });
  });

  it('a connection without credentials cannot sign', async () => {
    const r = await cli(['auth:sign', 'private-a'], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('uses the log driver, which has no app key and secret');
  });
});

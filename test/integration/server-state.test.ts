/**
 * `broadcast channels`, `channel` and `users` against a real soketi, with subscriptions made by real pusher-js
 * clients.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { runMain } from '../helpers/main.js';
import { jsonOf } from '../helpers/schema.js';
import { listen, type Listener } from '../helpers/listener.js';
import { freePort, type SoketiServer } from '../helpers/soketi.js';
import { uid } from '../helpers/fixtures.js';

const server = inject('soketi') as SoketiServer;
const id = uid();
const pub = `state-${id}`;
const priv = `private-state-${id}`;
const room = `presence-state-${id}`;

describe('server state reflects real subscriptions', () => {
  let ada: Listener;
  let grace: Listener;
  beforeAll(async () => {
    ada = await listen(server, { user: { id: 1, info: { name: 'Ada' } } });
    grace = await listen(server, { user: { id: 2, info: { name: 'Grace' } } });
    await Promise.all([ada.subscribe(pub), ada.subscribe(priv), ada.subscribe(room), grace.subscribe(pub), grace.subscribe(room)]);
  });
  afterAll(() => {
    ada.disconnect();
    grace.disconnect();
  });

  it('channels --json lists the occupied channels', async () => {
    const r = await runMain(['channels', '--json'], { env: server.env });
    expect(r.code).toBe(0);
    const names = (jsonOf('channels', r.stdout).channels as { name: string }[]).map((c) => c.name).filter((n) => n.includes(id));
    expect(names).toEqual([priv, room, pub].sort());
  });

  it('channels --prefix filters, and prints a table', async () => {
    const r = await runMain(['channels', '--prefix', 'presence-state-', '--info', 'user_count'], { env: server.env });
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^channel\s/);
    const names = lines.slice(1).map((l) => l.split(/\s+/)[0]);
    expect(names).toContain(room);
    expect(names.every((n) => n!.startsWith('presence-state-'))).toBe(true);
    expect(r.stderr).toMatch(/\d+ occupied channels?/);
  });

  it('channel --json: occupied with its user and subscription counts', async () => {
    const r = await runMain(['channel', room, '--info', 'user_count,subscription_count', '--json'], { env: server.env });
    expect(r.code).toBe(0);
    expect(jsonOf('channel', r.stdout)).toMatchObject({ ok: true, name: room, occupied: true, userCount: 2, subscriptionCount: 2 });
  });

  it('channel: an unused channel is not occupied', async () => {
    const json = await runMain(['channel', `empty-${id}`, '--json'], { env: server.env });
    expect(json.code).toBe(0);
    expect(jsonOf('channel', json.stdout)).toMatchObject({ name: `empty-${id}`, occupied: false });
    const human = await runMain(['channel', `empty-${id}`], { env: server.env });
    expect(human.stdout).toContain(`empty-${id}  not occupied`);
  });

  it('users lists the presence members, and follows a member leaving', async () => {
    const r = await runMain(['users', room, '--json'], { env: server.env });
    expect(r.code).toBe(0);
    expect(jsonOf('users', r.stdout)).toEqual({ ok: true, connection: 'pusher', channel: room, users: expect.arrayContaining([{ id: '1' }, { id: '2' }]) });
    expect(JSON.parse(r.stdout).users).toHaveLength(2);

    grace.disconnect();
    // soketi removes the member once it notices the socket closed; poll for it rather than sleeping.
    const deadline = Date.now() + 10_000;
    let ids: unknown[] = [];
    while (Date.now() < deadline) {
      const now = await runMain(['users', room, '--json'], { env: server.env });
      ids = (JSON.parse(now.stdout).users as { id: unknown }[]).map((u) => u.id);
      if (ids.length === 1) break;
    }
    expect(ids).toEqual(['1']);
    const human = await runMain(['users', room], { env: server.env });
    expect(human.stdout.trim()).toBe('1');
    expect(human.stderr).toContain(`1 member in ${room}`);
  });
});

describe('bad input exits 2 before any network call', () => {
  // The server below does not exist: reaching it would fail with exit 1, not 2.
  let env: Record<string, string>;
  beforeAll(async () => {
    env = { ...server.env, PUSHER_PORT: String(await freePort()) };
  });

  it.each([
    [['users', 'orders'], /"orders" is a public channel: only presence channels have a member list/],
    [['users', 'private-orders', '--json'], /"private-orders" is a private channel/],
    [['channels', '--info', 'user_count'], /--info user_count needs --prefix presence-/],
    [['channels', '--info', 'bogus'], /Unknown --info attribute bogus/],
    [['channels', '--prefix', 'bad prefix'], /Invalid --prefix "bad prefix"/],
    [['channel', 'orders', '--info', 'user_count'], /--info user_count applies to presence channels only/],
    [['channel', 'bad name'], /Invalid channel name "bad name"/],
  ])('%j', async (args, message) => {
    const r = await runMain([...args, '--json'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(jsonOf(args[0]!, r.stdout)).toMatchObject({ ok: false, error: { code: expect.stringMatching(/^(usage|invalid)$/), exitCode: 2 } });
  });

  it('an unreachable server is exit 1 with a clear message', async () => {
    const r = await runMain(['channels', '--retries', '0', '--json'], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('connection refused');
    expect(jsonOf('channels', r.stdout)).toMatchObject({ ok: false, error: { code: 'delivery', exitCode: 1 } });
  });

  it('the process: exit status and streams of the built binary', async () => {
    const r = await runCli(['users', 'orders', '--json'], { env });
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { code: 'usage' } });
    expect(r.stderr).toMatch(/^error: "orders" is a public channel/);
  });

  it('the log connection has no server to ask (exit 2)', async () => {
    const r = await runMain(['channels'], { env: {} });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('has no server to ask');
  });
});

/**
 * `broadcast listen --all` against a real soketi: channels occupied and vacated by real pusher-js clients are
 * joined and left, events arrive with their channel, --prefix narrows, --max-channels warns. The soketi is
 * shared with other test files, so every run follows only its own channels (a --prefix with the test's uid):
 * other tests' presence channels never see this listener as a member. Every --json line is schema-checked.
 */
import { randomBytes } from 'node:crypto';
import { Broadcast } from '../../src/core/broadcast.js';
import { afterEach, describe, expect, inject, test } from '../helpers/fixtures.js';
import { listen as pusherClient, settle, type Listener } from '../helpers/listener.js';
import { runMain, startMain, type InProcessRun } from '../helpers/main.js';
import { expectSchema, jsonOf } from '../helpers/schema.js';
import type { SoketiServer } from '../helpers/soketi.js';

const server = inject('soketi') as SoketiServer;
const masterKey = randomBytes(32).toString('base64');
const env = { ...server.env, PUSHER_ENCRYPTION_MASTER_KEY_BASE64: masterKey };

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** `listen --all --json`, polling fast; stopped (if still running) after the test. */
function follow(args: string[], options: { env?: Record<string, string> } = {}): InProcessRun {
  const run = startMain(['listen', '--all', '--json', '--interval', '250ms', '--duration', '12s', ...args], { env: options.env ?? env });
  cleanup.push(async () => {
    run.signal('SIGTERM');
    await run.exited().catch(() => {});
  });
  return run;
}

async function client(user?: { id: number; info?: unknown }): Promise<Listener> {
  const l = await pusherClient(server, { ...(user ? { user } : {}), masterKey });
  cleanup.push(() => l.disconnect());
  return l;
}

function publisher(): Broadcast {
  const broadcast = new Broadcast({}, { env });
  cleanup.push(() => broadcast.close());
  return broadcast;
}

const following = (r: Record<string, unknown>) => r.type === 'following';
const joined = (channel: string) => (r: Record<string, unknown>) => r.type === 'channel' && r.action === 'joined' && r.channel === channel;

/** The run's --json records, each checked against the schema. */
function recordsOf(run: InProcessRun): Record<string, unknown>[] {
  const records = run.records();
  for (const record of records) expectSchema('listen', record);
  return records;
}

describe('listen --all', () => {
  test('joins a public channel once occupied, reports its events with the channel, leaves it when vacated; --prefix narrows', async ({ uid }) => {
    const prefix = `la-${uid}-`;
    const news = `${prefix}news`;
    const outside = `lb-${uid}-news`;
    const run = follow(['--prefix', prefix]);
    const start = await run.waitForRecord(following);
    expect(start).toMatchObject({ connection: 'pusher', prefix, intervalMs: 250, maxChannels: 100 });
    expect(start.socketId).toMatch(/^\d+\.\d+$/);

    const other = await client();
    await other.subscribe(news);
    await other.subscribe(outside);
    await run.waitForRecord(joined(news));
    const broadcast = publisher();
    await broadcast.channel([news, outside], 'story.published', { id: 1 });
    const event = await run.waitForRecord((r) => r.type === 'event');
    expect(event).toMatchObject({ channel: news, event: 'story.published', data: { id: 1 } });

    other.client.unsubscribe(news);
    const left = await run.waitForRecord((r) => r.type === 'channel' && r.action === 'left');
    expect(left).toMatchObject({ channel: news, reason: 'vacated' });
    expect(Date.parse(left.at as string)).toBeGreaterThan(Date.now() - 60_000);

    run.signal('SIGINT');
    expect((await run.exited()).code).toBe(130);
    const records = recordsOf(run);
    // The channel outside --prefix is never joined, and its event never shows.
    expect(JSON.stringify(records)).not.toContain(outside);
    expect(records.filter((r) => r.type === 'event')).toHaveLength(1);
    expect(records.at(-1)).toMatchObject({ type: 'result', ok: false, events: 1, error: { code: 'interrupted' } });
  });

  test('private channels are signed and encrypted ones decrypted with the master key; --count ends it', async ({ uid }) => {
    const desk = `private-la-${uid}-desk`;
    const vault = `private-encrypted-la-${uid}-vault`;
    const privateRun = follow(['--prefix', `private-la-${uid}-`, '--count', '1']);
    const encryptedRun = follow(['--prefix', `private-encrypted-la-${uid}-`, '--count', '1']);
    await Promise.all([privateRun.waitForRecord(following), encryptedRun.waitForRecord(following)]);
    const other = await client();
    await Promise.all([other.subscribe(desk), other.subscribe(vault)]);
    await Promise.all([privateRun.waitForRecord(joined(desk)), encryptedRun.waitForRecord(joined(vault))]);

    const broadcast = publisher();
    await broadcast.channel(desk, 'ticket.opened', { n: 1 });
    await broadcast.channel(vault, 'secret.updated', { code: 'xyzzy' });
    for (const [run, channel, event, data] of [
      [privateRun, desk, 'ticket.opened', { n: 1 }],
      [encryptedRun, vault, 'secret.updated', { code: 'xyzzy' }],
    ] as const) {
      expect((await run.exited()).code).toBe(0);
      const records = recordsOf(run);
      expect(records.filter((r) => r.type === 'event')).toMatchObject([{ channel, event, data }]);
      expect(records.at(-1)).toEqual({ type: 'result', ok: true, status: 'done', events: 1 });
    }
  });

  test('presence channels: joined as --user, with the members already there, then member records', async ({ uid }) => {
    const room = `presence-la-${uid}-room`;
    const run = follow(['--prefix', room, '--user', '7', '--user-info', '{"name":"Ada"}']);
    expect(await run.waitForRecord(following)).toMatchObject({ user: { id: '7', info: { name: 'Ada' } } });
    const first = await client({ id: 9, info: { role: 'admin' } });
    await first.subscribe(room);
    expect(await run.waitForRecord(joined(room))).toMatchObject({ members: [{ id: '9', info: { role: 'admin' } }] });
    const second = await client({ id: 10 });
    await second.subscribe(room);
    expect(await run.waitForRecord((r) => r.type === 'member' && r.action === 'added')).toMatchObject({ channel: room, user: { id: '10' } });
    recordsOf(run);
  });

  test('--max-channels: past it, a warning record and a warning on stderr; the channels past it are not followed', async ({ uid }) => {
    const prefix = `lm-${uid}-`;
    const run = follow(['--prefix', prefix, '--max-channels', '1']);
    await run.waitForRecord(following);
    const other = await client();
    await Promise.all([other.subscribe(`${prefix}a`), other.subscribe(`${prefix}b`)]);
    const warning = await run.waitForRecord((r) => r.type === 'warning');
    expect(warning.message).toMatch(/2 channels are occupied; following 1 at most \(1 not followed\)/);
    await run.waitForStderr(/warning: 2 channels are occupied/);
    await settle(600);
    const records = recordsOf(run);
    expect(records.filter((r) => r.type === 'channel' && r.action === 'joined').map((r) => r.channel)).toEqual([`${prefix}a`]);
  });

  test('for a person: channel changes and notes on stderr, event lines on stdout', async ({ uid }) => {
    const prefix = `lh-${uid}-`;
    const run = startMain(['listen', '--all', '--prefix', prefix, '--interval', '250ms', '--count', '1', '--duration', '10s'], { env });
    await run.waitForStderr(/Following every occupied channel starting with lh-/);
    const other = await client();
    await other.subscribe(`${prefix}orders`);
    await run.waitForStderr(new RegExp(`${prefix}orders subscribed`));
    await publisher().channel(`${prefix}orders`, 'order.shipped', { id: 42 });
    const exit = await run.exited();
    expect(exit.code).toBe(0);
    expect(exit.stdout).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} ${prefix}orders order.shipped \\{"id":42\\}\\n$`));
    expect(exit.stderr).toMatch(/Joining presence channels as user broadcast-cli-/);
    expect(exit.stderr).toMatch(/Done after 1 event/);
  });
});

describe('listen --all refuses what cannot work', () => {
  test('bad command lines exit 2 before connecting, with a usage error', async () => {
    const cases: [string[], RegExp][] = [
      [['listen', 'orders', '--all'], /channel names or --all, not both/],
      [['listen'], /Name the channels to listen to, or give --all/],
      [['listen', 'orders', '--prefix', 'private-'], /--prefix goes with --all/],
      [['listen', 'orders', '--max-channels', '3'], /--max-channels goes with --all/],
      [['listen', '--all', '--interval', '100ms'], /--interval must be at least 250ms/],
      [['listen', '--all', '--prefix', 'bad prefix'], /Invalid --prefix "bad prefix"/],
    ];
    for (const [args, message] of cases) {
      const r = await runMain([...args, '--json'], { env });
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      const out = jsonOf('listen', r.stdout);
      expect(out).toMatchObject({ type: 'result', ok: false, error: { code: 'usage', exitCode: 2 } });
      expect(out.error.message).toMatch(message);
    }
  });

  test('a wrong secret fails the first poll, an unknown key the first connection: exit 1 at once, as for named channels', async () => {
    const wrongSecret = await runMain(['listen', '--all', '--json', '--prefix', 'nothing-', '--duration', '10s'], { env: { ...env, PUSHER_APP_SECRET: 'wrong-secret' } });
    expect(wrongSecret.code).toBe(1);
    expect(jsonOf('listen', wrongSecret.stdout)).toMatchObject({ type: 'result', ok: false, events: 0, error: { code: 'delivery', message: expect.stringMatching(/HTTP 401/), exitCode: 1 } });
    expect(wrongSecret.stdout).not.toContain('wrong-secret');

    const wrongKey = await runMain(['listen', '--all', '--json', '--prefix', 'nothing-', '--duration', '10s'], { env: { ...env, PUSHER_APP_KEY: 'wrong-key' } });
    expect(wrongKey.code).toBe(1);
    expect(jsonOf('listen', wrongKey.stdout)).toMatchObject({ type: 'result', ok: false, events: 0, error: { code: 'delivery', details: { closeCode: { code: 4001 } } } });
    expect(wrongSecret.ms + wrongKey.ms).toBeLessThan(5_000);
  });
});

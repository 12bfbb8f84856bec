/**
 * Channel discovery (src/follow.ts, what `broadcast console` and a future `listen --all` use) against a real
 * soketi, with channels occupied and vacated by real pusher-js clients. Each test follows only its own
 * channels (`ignore`), so the other test files' channels on the shared server are left alone.
 */
import { afterEach, describe, expect, inject } from 'vitest';
import { Broadcast } from '../../src/core/broadcast.js';
import { followChannels, type Follower, type FollowRecord } from '../../src/follow.js';
import { test } from '../helpers/fixtures.js';
import { listen, type Listener } from '../helpers/listener.js';
import type { SoketiServer } from '../helpers/soketi.js';

const server = inject('soketi') as SoketiServer;

/** Records as they come, and a way to wait for one. */
function recorder() {
  const records: FollowRecord[] = [];
  const waiters = new Set<() => void>();
  return {
    records,
    push(record: FollowRecord) {
      records.push(record);
      for (const w of [...waiters]) w();
    },
    /** The first record of `type` that matches, as soon as it comes. */
    waitFor<K extends FollowRecord['type']>(type: K, match: (r: Extract<FollowRecord, { type: K }>) => boolean = () => true, ms = 8_000): Promise<Extract<FollowRecord, { type: K }>> {
      type R = Extract<FollowRecord, { type: K }>;
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = records.find((r): r is R => r.type === type && match(r as R));
          if (!found) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching ${type} record within ${ms} ms; got ${JSON.stringify(records.map((r) => r.type))}`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
  };
}

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const step of cleanup.splice(0)) step();
});

async function start(id: string, options: { maxChannels?: number } = {}) {
  const broadcast = new Broadcast({}, { env: server.env, timeout: 5_000, retries: 0 });
  const log = recorder();
  const follower: Follower = await followChannels(broadcast, {
    intervalMs: 250,
    ignore: (name) => !name.includes(id),
    onRecord: (r) => log.push(r),
    ...options,
  });
  cleanup.push(() => {
    follower.stop();
    broadcast.close();
  });
  return { broadcast, follower, log };
}

async function client(user?: { id: number; info: unknown }): Promise<Listener> {
  const l = await listen(server, user ? { user } : {});
  cleanup.push(() => l.disconnect());
  return l;
}

describe('followChannels', () => {
  test('follows channels as they are occupied, reports events and members, and leaves them when vacated', async ({ uid }) => {
    const pub = `follow-${uid}`;
    const priv = `private-follow-${uid}`;
    const room = `presence-follow-${uid}`;
    const { broadcast, follower, log } = await start(uid);
    await log.waitFor('connection', (r) => r.state === 'connected');
    const ada = await client({ id: 1, info: { name: 'Ada' } });
    await Promise.all([ada.subscribe(pub), ada.subscribe(priv), ada.subscribe(room)]);

    for (const channel of [pub, priv, room]) await log.waitFor('channel', (r) => r.action === 'joined' && r.channel === channel);
    // Counts leave the follower's own subscription out: one subscriber, one user, as Ada sees it.
    await follower.refresh();
    const listed = log.records.filter((r) => r.type === 'channels').at(-1) as Extract<FollowRecord, { type: 'channels' }>;
    expect(listed.channels).toEqual([
      { name: pub, type: 'public', subscriptionCount: 1, follow: 'following' },
      { name: room, type: 'presence', subscriptionCount: 1, userCount: 1, follow: 'following' },
      { name: priv, type: 'private', subscriptionCount: 1, follow: 'following' },
    ]);

    await broadcast.channel([pub, priv], 'greeting', { text: 'hello' });
    const events = await Promise.all([pub, priv].map((c) => log.waitFor('event', (r) => r.channel === c)));
    expect(events.map((e) => [e.event, e.data])).toEqual([['greeting', { text: 'hello' }], ['greeting', { text: 'hello' }]]);

    const grace = await client({ id: 2, info: { name: 'Grace' } });
    await grace.subscribe(room);
    await log.waitFor('member', (r) => r.action === 'added' && r.member.id === '2');
    expect(follower.members(room)?.sort((a, b) => a.id.localeCompare(b.id))).toEqual([
      { id: '1', info: { name: 'Ada' } },
      { id: '2', info: { name: 'Grace' } },
    ]);
    grace.disconnect();
    await log.waitFor('member', (r) => r.action === 'removed' && r.member.id === '2');
    // The follower never reports itself as a member.
    expect(log.records.some((r) => r.type === 'member' && r.member.id === follower.userId)).toBe(false);

    ada.disconnect();
    for (const channel of [pub, priv, room]) {
      await log.waitFor('channel', (r) => r.action === 'left' && r.channel === channel && r.reason === 'vacated');
    }
    await follower.refresh();
    const after = log.records.filter((r) => r.type === 'channels').at(-1) as Extract<FollowRecord, { type: 'channels' }>;
    expect(after.channels).toEqual([]);
  });

  test('follows at most maxChannels at once, and warns past it', async ({ uid }) => {
    const { log } = await start(uid, { maxChannels: 1 });
    const l = await client();
    await Promise.all([l.subscribe(`limit-a-${uid}`), l.subscribe(`limit-b-${uid}`)]);
    const warning = await log.waitFor('warning');
    expect(warning.message).toMatch(/2 channels are occupied; following 1 at most \(1 not followed\)/);
    const listed = await log.waitFor('channels', (r) => r.channels.length === 2 && r.channels.some((c) => c.follow === 'following'));
    expect(listed.channels.map((c) => [c.name, c.follow])).toEqual([
      [`limit-a-${uid}`, 'following'],
      [`limit-b-${uid}`, 'limit'],
    ]);
    expect(log.records.flatMap((r) => (r.type === 'channel' && r.action === 'joined' ? [r.channel] : []))).toEqual([`limit-a-${uid}`]);
  });

  test('an encrypted channel is listed but not followed without a master key', async ({ uid }) => {
    const { log } = await start(uid);
    const l = await listen(server, { masterKey: Buffer.alloc(32, 7).toString('base64') });
    cleanup.push(() => l.disconnect());
    await l.subscribe(`private-encrypted-${uid}`);
    const listed = await log.waitFor('channels', (r) => r.channels.length === 1);
    expect(listed.channels[0]).toMatchObject({ name: `private-encrypted-${uid}`, type: 'encrypted', follow: 'no-master-key' });
  });
});

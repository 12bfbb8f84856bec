/**
 * Two soketi nodes sharing state through Redis, as behind a load balancer: the CLI talks to one node and
 * clients on the other still get the events, and channel and member queries through either node see the
 * connections of both.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { listen, settle, type Listener } from '../helpers/listener.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { hasCommand, needs } from '../helpers/services.js';
import { startSoketi, type SoketiServer } from '../helpers/soketi.js';
import { uid } from '../helpers/fixtures.js';

const redisInstalled = needs('redis-server', hasCommand('redis-server'), 'apt-get install redis-server');

describe.skipIf(!redisInstalled)('a two-node soketi cluster with the Redis adapter', () => {
  let redis: RedisServer;
  let nodeA: SoketiServer;
  let nodeB: SoketiServer;
  const listeners: Listener[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    const env = redis.soketiEnv(`broadcast-test-${uid()}`);
    [nodeA, nodeB] = await Promise.all([startSoketi({ env }), startSoketi({ env })]);
  }, 60_000);

  afterAll(async () => {
    for (const l of listeners) l.disconnect();
    await Promise.all([nodeA?.stop(), nodeB?.stop()]);
    await redis?.stop();
  });

  async function client(node: SoketiServer, user?: { id: string | number; info?: unknown }): Promise<Listener> {
    const listener = await listen(node, user ? { user } : {});
    listeners.push(listener);
    return listener;
  }

  it('an event emitted through node A reaches a client connected to node B, once', async () => {
    const channel = `cluster-${uid()}`;
    const onB = await client(nodeB);
    await onB.subscribe(channel);
    const r = await runCli(['emit', channel, 'cluster.event', '--data', '{"via":"A"}', '--json'], { env: nodeA.env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [got] = await onB.waitFor(1, (e) => e.channel === channel);
    expect(got).toEqual({ channel, event: 'cluster.event', data: { via: 'A' } });
    await settle();
    expect(onB.received.filter((e) => e.channel === channel)).toHaveLength(1);
  });

  it('`channels`, `channel` and `users` through either node report the members connected to both', async () => {
    const channel = `presence-cluster-${uid()}`;
    const onA = await client(nodeA, { id: 'ada', info: { node: 'A' } });
    const onB = await client(nodeB, { id: 'bob', info: { node: 'B' } });
    await onA.subscribe(channel);
    await onB.subscribe(channel);
    for (const node of [nodeA, nodeB]) {
      // soketi's GET /channels gives subscription counts only (it ignores `info`), summed over the nodes.
      const channels = await runCli(['channels', '--prefix', channel, '--json'], { env: node.env });
      expect(channels.stderr).toBe('');
      expect(channels.code).toBe(0);
      expect(JSON.parse(channels.stdout)).toMatchObject({ ok: true, channels: [{ name: channel, subscriptionCount: 2 }] });

      const one = await runCli(['channel', channel, '--info', 'user_count,subscription_count', '--json'], { env: node.env });
      expect(one.code).toBe(0);
      expect(JSON.parse(one.stdout)).toMatchObject({ occupied: true, userCount: 2, subscriptionCount: 2 });

      const users = await runCli(['users', channel, '--json'], { env: node.env });
      expect(users.code).toBe(0);
      const ids = (JSON.parse(users.stdout) as { users: { id: string }[] }).users.map((u) => u.id).sort();
      expect(ids).toEqual(['ada', 'bob']);
    }
  });
});

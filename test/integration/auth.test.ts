/**
 * Channel authorization end to end: a Node web app mounts createAuthHandler, real pusher-js and Laravel Echo
 * clients subscribe through it, and a real soketi checks every signature it returns.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createAuthHandler } from '../../src/auth/handler.js';
import { Broadcast } from '../../src/core/broadcast.js';
import type { BroadcastConfig } from '../../src/config/schema.js';
import { runCli } from '../helpers/cli.js';
import type { SoketiServer } from '../helpers/soketi.js';
import { Pusher, socketOptions } from '../helpers/listener.js';
import { uid } from '../helpers/fixtures.js';

const server = inject('soketi') as SoketiServer;
const USERS: Record<string, { id: number; name: string }> = { '1': { id: 1, name: 'Ada' }, '2': { id: 2, name: 'Grace' }, '3': { id: 3, name: 'Linus' } };

// The app's rules: orders belong to the user whose id starts them, rooms are presence channels showing names.
const config: BroadcastConfig = {
  channels: {
    'orders.{orderId}': (user, { orderId }) => String(orderId).startsWith(`${user.id}-`),
    'room.{roomId}': { type: 'presence', authorize: (user) => ({ name: user.name }) },
    'chat.{chatId}': () => true,
  },
};

/** The app's session: the `x-user-id` header names the logged-in user. */
const currentUser = (req: IncomingMessage) => USERS[String(req.headers['x-user-id'])] ?? null;

interface Subscribed {
  channel: ReturnType<Pusher['subscribe']>;
  events: { event: string; data: unknown }[];
  next: (event: string) => Promise<unknown>;
}

describe('createAuthHandler with pusher-js, Laravel Echo and soketi', () => {
  let http: Server;
  let endpoint: string;
  const clients: { disconnect(): void }[] = [];
  const authRequests: { user: string | undefined; status: number }[] = [];

  beforeAll(async () => {
    const handler = createAuthHandler(new Broadcast(config, { env: server.env }), { user: currentUser });
    http = createServer((req, res) => {
      res.on('finish', () => authRequests.push({ user: req.headers['x-user-id'] as string | undefined, status: res.statusCode }));
      void handler(req, res);
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(http.address() as AddressInfo).port}/broadcasting/authorize`;
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  });

  async function connect(userId?: string): Promise<Pusher> {
    const client = new Pusher(server.key, {
      ...socketOptions(server),
      channelAuthorization: { endpoint, transport: 'ajax', headers: userId ? { 'x-user-id': userId } : {} },
    });
    clients.push(client);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('pusher-js did not connect')), 10_000);
      client.connection.bind('connected', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return client;
  }

  function subscribe(client: Pusher, name: string): Promise<Subscribed> {
    return new Promise((resolve, reject) => {
      const channel = client.subscribe(name);
      const events: Subscribed['events'] = [];
      const waiters: [string, (data: unknown) => void][] = [];
      channel.bind_global((event: string, data: unknown) => {
        events.push({ event, data });
        for (const [i, [wanted, done]] of [...waiters.entries()].reverse()) {
          if (wanted === event) {
            waiters.splice(i, 1);
            done(data);
          }
        }
      });
      const next = (event: string) =>
        new Promise<unknown>((done, fail) => {
          const seen = events.find((e) => e.event === event);
          if (seen) return done(seen.data);
          const timer = setTimeout(() => fail(new Error(`no ${event} on ${name}`)), 10_000);
          waiters.push([event, (data) => { clearTimeout(timer); done(data); }]);
        });
      channel.bind('pusher:subscription_succeeded', () => resolve({ channel, events, next }));
      channel.bind('pusher:subscription_error', (error: { status?: number }) => reject(Object.assign(new Error(`refused: ${name}`), { status: error.status })));
    });
  }

  it('a signed-in user joins a private and a presence channel and receives an event emitted with the CLI', async () => {
    const id = uid();
    const ada = await connect('1');
    const orders = await subscribe(ada, `private-orders.1-${id}`);
    const room = await subscribe(ada, `presence-room.${id}`);

    // The member list shows the user id and the user_info the rule returned, to the user and to others.
    const members = (room.channel as unknown as { members: { me: { id: unknown; info: unknown }; count: number } }).members;
    expect(String(members.me.id)).toBe('1');
    expect(members.me.info).toEqual({ name: 'Ada' });
    const grace = await connect('2');
    const seenByGrace = await subscribe(grace, `presence-room.${id}`);
    const list: { id: string; info: unknown }[] = [];
    (seenByGrace.channel as unknown as { members: { each(cb: (m: { id: string; info: unknown }) => void): void } }).members.each((m) => list.push(m));
    expect(list.sort((a, b) => a.id.localeCompare(b.id))).toEqual([
      { id: '1', info: { name: 'Ada' } },
      { id: '2', info: { name: 'Grace' } },
    ]);

    const sent = await runCli(['emit', `private-orders.1-${id},presence-room.${id}`, 'order.shipped', '--data', '{"id":42}'], { env: server.env });
    expect(sent.code).toBe(0);
    expect(await orders.next('order.shipped')).toEqual({ id: 42 });
    expect(await room.next('order.shipped')).toEqual({ id: 42 });
  });

  it('an anonymous client gets 403 on private and presence channels', async () => {
    const id = uid();
    const anonymous = await connect();
    await expect(subscribe(anonymous, `private-orders.1-${id}`)).rejects.toMatchObject({ status: 403 });
    await expect(subscribe(anonymous, `presence-room.${id}`)).rejects.toMatchObject({ status: 403 });
    expect(authRequests.filter((r) => r.user === undefined).map((r) => r.status)).toEqual([403, 403]);
  });

  it('a rule refusal gets 403: another user\'s order, a presence-only rule on a private channel, a channel no rule covers', async () => {
    const id = uid();
    const grace = await connect('2');
    await expect(subscribe(grace, `private-orders.1-${id}`)).rejects.toMatchObject({ status: 403 });
    await expect(subscribe(grace, `private-room.${id}`)).rejects.toMatchObject({ status: 403 });
    await expect(subscribe(grace, `private-invoices.${id}`)).rejects.toMatchObject({ status: 403 });
    // Her own order is fine on the same connection.
    await subscribe(grace, `private-orders.2-${id}`);
  });

  it('Laravel Echo private() and join() authorize through the configured route (authEndpoint set to it; echo.test.ts covers the default)', async () => {
    const { default: Echo } = (await import('laravel-echo')) as unknown as { default: new (options: Record<string, unknown>) => any };
    const echo = new Echo({
      broadcaster: 'pusher',
      Pusher,
      key: server.key,
      ...socketOptions(server),
      authEndpoint: endpoint,
      auth: { headers: { 'x-user-id': '3' } },
    });
    clients.push(echo);
    const id = uid();
    const note = new Promise((resolve, reject) => {
      echo.private(`chat.${id}`)
        .error((e: unknown) => reject(new Error(`Echo private() refused: ${JSON.stringify(e)}`)))
        .subscribed(async () => {
          const r = await runCli(['emit', `private-chat.${id}`, 'note', '--data', '{"text":"hi"}'], { env: server.env });
          if (r.code !== 0) reject(new Error(r.stderr));
        })
        .listen('.note', resolve);
    });
    const here = new Promise<unknown[]>((resolve, reject) => {
      echo.join(`room.${id}`).here(resolve).error((e: unknown) => reject(new Error(`Echo join() refused: ${JSON.stringify(e)}`)));
    });
    expect(await here).toEqual([{ name: 'Linus' }]);
    expect(await note).toEqual({ text: 'hi' });
  });
});

/**
 * The auth route mounted as docs/auth-route.md shows, in real servers: the fetch handler behind a node:http →
 * Request bridge (what @hono/node-server and Next.js do), Express 5 and Fastify 5 with the Node handler. In
 * each, real pusher-js clients subscribe to a private and a presence channel on the real soketi, which checks
 * every signature, and receive an event sent with the library.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import express from 'express';
import Fastify from 'fastify';
import { createFetchAuthHandler } from '../../src/auth/fetch-handler.js';
import { createAuthHandler } from '../../src/auth/handler.js';
import { Broadcast } from '../../src/core/broadcast.js';
import type { BroadcastConfig } from '../../src/config/schema.js';
import { afterAll, beforeAll, describe, expect, inject, test } from '../helpers/fixtures.js';
import { listen, type Listener } from '../helpers/listener.js';
import type { SoketiServer } from '../helpers/soketi.js';

const soketi = inject('soketi') as SoketiServer;
const USERS: Record<string, { id: number; name: string }> = { '1': { id: 1, name: 'Ada' }, '2': { id: 2, name: 'Grace' } };

// The app's rules: orders belong to the user whose id starts them; rooms show names.
const config: BroadcastConfig = {
  channels: {
    'orders.{orderId}': (user, { orderId }) => String(orderId).startsWith(`${user.id}-`),
    'room.{roomId}': { type: 'presence', authorize: (user) => ({ name: user.name }) },
  },
};
const broadcast = new Broadcast(config, { env: soketi.env });
afterAll(() => broadcast.close());

/** A running app: where its auth route is, which requests it answered, how to stop it. */
interface App {
  base: string;
  statuses: number[];
  close(): Promise<void>;
}

async function listenOn(server: Server, statuses: number[]): Promise<App> {
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => res.on('finish', () => statuses.push(res.statusCode)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    statuses,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** node:http → Request → Response → node:http, as a server adapter for fetch handlers does. */
function toRequest(req: IncomingMessage): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  const method = req.method ?? 'GET';
  const body = method === 'GET' || method === 'HEAD' ? {} : { body: Readable.toWeb(req) as ReadableStream, duplex: 'half' };
  return new Request(`http://${req.headers.host}${req.url}`, { method, headers, ...body } as RequestInit);
}

async function writeResponse(res: ServerResponse, response: Response): Promise<void> {
  res.writeHead(response.status, Object.fromEntries(response.headers));
  res.end(Buffer.from(await response.arrayBuffer()));
}

const mounts: Record<string, () => Promise<App>> = {
  async 'createFetchAuthHandler behind a node:http → Request bridge'() {
    const auth = createFetchAuthHandler(broadcast, { user: (request) => USERS[request.headers.get('x-user-id') ?? ''] ?? null });
    return listenOn(createServer((req, res) => void auth(toRequest(req)).then((response) => writeResponse(res, response))), []);
  },

  async 'createAuthHandler in Express 5, after express.urlencoded()'() {
    const app = express();
    app.use(express.urlencoded({ extended: false }));
    app.use(createAuthHandler<express.Request>(broadcast, { user: (req) => USERS[req.get('x-user-id') ?? ''] ?? null }));
    app.get('/', (_req, res) => void res.send('home'));
    return listenOn(createServer(app), []);
  },

  async 'createAuthHandler in Fastify 5, given the raw request'() {
    const auth = createAuthHandler(broadcast, { user: (req) => USERS[String(req.headers['x-user-id'])] ?? null });
    const app = Fastify();
    await app.register(async (scope) => {
      // The handler reads and limits the body itself: Fastify must leave it unread.
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', (_request, _payload, done) => done(null));
      for (const route of auth.routes) {
        scope.all(route.path, async (request, reply) => {
          reply.hijack();
          await auth(request.raw, reply.raw);
        });
      }
    });
    app.get('/', async () => 'home');
    await app.ready();
    return listenOn(app.server, []);
  },
};

describe.each(Object.entries(mounts))('%s', (_name, start) => {
  let app: App;
  const clients: Listener[] = [];
  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await app?.close();
  });

  const connect = async (userId: string, path: string): Promise<Listener> => {
    const client = await listen(soketi, { authorizer: { endpoint: `${app.base}${path}`, transport: 'ajax', headers: { 'x-user-id': userId } } });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    app = await start();
  });

  test('pusher-js subscribes to a private and a presence channel through it, and receives an event', async ({ uid }) => {
    // Echo's default path and the configured one both answer.
    const ada = await connect('1', '/broadcasting/auth');
    await ada.subscribe(`private-orders.1-${uid}`);
    await ada.subscribe(`presence-room.${uid}`);
    const grace = await connect('2', '/broadcasting/authorize');
    await grace.subscribe(`presence-room.${uid}`);
    await expect(grace.subscribe(`private-orders.1-${uid}`)).rejects.toThrow(/"status":403/);

    await broadcast.channel([`private-orders.1-${uid}`, `presence-room.${uid}`], 'order.shipped', { id: 42 });
    expect(await ada.waitFor(2, (r) => r.event === 'order.shipped')).toEqual([
      { channel: `private-orders.1-${uid}`, event: 'order.shipped', data: { id: 42 } },
      { channel: `presence-room.${uid}`, event: 'order.shipped', data: { id: 42 } },
    ]);
    expect(await grace.waitFor(1, (r) => r.event === 'order.shipped')).toEqual([{ channel: `presence-room.${uid}`, event: 'order.shipped', data: { id: 42 } }]);
    // The members each client sees carry what the rule returned.
    const members: { id: string; info: unknown }[] = [];
    (grace.client.channel(`presence-room.${uid}`) as unknown as { members: { each(cb: (m: { id: string; info: unknown }) => void): void } }).members.each((m) => members.push(m));
    expect(members.sort((a, b) => a.id.localeCompare(b.id))).toEqual([{ id: '1', info: { name: 'Ada' } }, { id: '2', info: { name: 'Grace' } }]);
    expect(app.statuses.filter((s) => s === 200)).toHaveLength(3);
    expect(app.statuses).toContain(403);
  });

  test('the same JSON refusals as the handler gives anywhere else', async () => {
    const post = (path: string, body: string, type = 'application/x-www-form-urlencoded') =>
      fetch(`${app.base}${path}`, { method: 'POST', headers: { 'content-type': type, 'x-user-id': '1' }, body });
    const bad = await post('/broadcasting/auth', 'socket_id=abc&channel_name=private-orders.1-x');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: { code: 'invalid_request', message: 'Invalid socket_id: it must look like "1234.5678" (digits.digits)' } });
    expect((await post('/broadcasting/auth', '{"socket_id":"1.2","socket_id":"3.4","channel_name":"private-orders.1-x"}', 'application/json')).status).toBe(400);
    expect((await post('/broadcasting/authorize', 'socket_id=1.2', 'text/plain')).status).toBe(415);
    const get = await fetch(`${app.base}/broadcasting/auth`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });
});

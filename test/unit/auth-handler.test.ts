/**
 * The auth route handler over a real in-process HTTP server: statuses, bodies and headers a browser client
 * (or the developer debugging it) sees, for node:http and Express/Connect-style mounting.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthHandler, type AuthErrorInfo, type AuthHandlerOptions } from '../../src/auth/handler.js';
import { signChannel } from '../../src/auth/sign.js';
import { Broadcast } from '../../src/core/broadcast.js';
import type { BroadcastConfig } from '../../src/config/schema.js';
import { ConfigError } from '../../src/core/errors.js';

const env = { PUSHER_APP_ID: '1', PUSHER_APP_KEY: 'app-key', PUSHER_APP_SECRET: 'handler-test-secret' };
const creds = { key: env.PUSHER_APP_KEY, secret: env.PUSHER_APP_SECRET };
const ROUTE = '/broadcasting/authorize';

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

async function serve(listener: Listener): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** A user from the `x-user` header: `1` → { id: 1 }, absent → null. */
const userFromHeader = (req: IncomingMessage) => {
  const id = req.headers['x-user'];
  if (typeof id !== 'string') return null;
  if (id === 'throw') throw new Error('session store unavailable');
  return { id: /^\d+$/.test(id) ? Number(id) : id, name: `User ${id}` };
};

function form(fields: Record<string, string>): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() };
}

function withUser(init: RequestInit, user: string): RequestInit {
  return { ...init, headers: { ...(init.headers as Record<string, string>), 'x-user': user } };
}

async function call(url: string, init: RequestInit): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

describe('createAuthHandler on node:http', () => {
  const errors: { error: unknown; info: AuthErrorInfo }[] = [];
  const config: BroadcastConfig = {
    channels: {
      'orders.{orderId}': (user, { orderId }) => Number(orderId) === user.id,
      'room.{roomId}': { type: 'presence', authorize: (user, { roomId }) => ({ name: user.name, room: roomId }) },
      'broken.{x}': () => { throw new Error('rule bug: undefined is not a function'); },
      'secret.{x}': () => true,
    },
  };
  let app: { url: string; close: () => Promise<void> };
  beforeAll(async () => {
    const handler = createAuthHandler(new Broadcast(config, { env }), {
      user: userFromHeader,
      onError: (error, info) => errors.push({ error, info }),
    });
    app = await serve((req, res) => void handler(req, res));
  });
  afterAll(() => app.close());
  const url = () => `${app.url}${ROUTE}`;

  it('signs a private channel for a form-encoded request, as pusher-js sends it', async () => {
    const r = await call(url(), withUser(form({ socket_id: '123.456', channel_name: 'private-orders.1' }), '1'));
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ auth: signChannel(creds, '123.456', 'private-orders.1') });
    expect(r.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(r.headers.get('cache-control')).toBe('no-store');
  });

  it('signs a presence channel from a JSON body, with the rule\'s user_info', async () => {
    const r = await call(url(), {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', 'x-user': '7' },
      body: JSON.stringify({ socket_id: '1.2', channel_name: 'presence-room.lobby' }),
    });
    expect(r.status).toBe(200);
    const channelData = '{"user_id":7,"user_info":{"name":"User 7","room":"lobby"}}';
    expect(r.body).toEqual({ auth: signChannel(creds, '1.2', 'presence-room.lobby', channelData), channel_data: channelData });
  });

  it('403 unauthenticated without a user, and when user() throws (reported to onError)', async () => {
    const anonymous = await call(url(), form({ socket_id: '1.2', channel_name: 'private-orders.1' }));
    expect(anonymous).toMatchObject({ status: 403, body: { error: { code: 'unauthenticated', message: 'No authenticated user' } } });
    const before = errors.length;
    const broken = await call(url(), withUser(form({ socket_id: '1.2', channel_name: 'private-orders.1' }), 'throw'));
    expect(broken).toMatchObject({ status: 403, body: { error: { code: 'unauthenticated' } } });
    expect(errors.slice(before)).toMatchObject([{ info: { kind: 'user', status: 403 } }]);
  });

  it('403 forbidden when the rule refuses, when no rule matches, and for a presence-only rule on a private channel', async () => {
    for (const channel of ['private-orders.2', 'private-invoices.1', 'private-room.lobby']) {
      const r = await call(url(), withUser(form({ socket_id: '1.2', channel_name: channel }), '1'));
      expect(r, channel).toMatchObject({ status: 403, body: { error: { code: 'forbidden', message: 'Not authorized to subscribe to this channel' } } });
    }
  });

  it('a rule that throws gets the same generic 403; the error goes to onError only, and the route keeps working', async () => {
    const before = errors.length;
    const r = await call(url(), withUser(form({ socket_id: '1.2', channel_name: 'private-broken.1' }), '1'));
    expect(r).toMatchObject({ status: 403, body: { error: { code: 'forbidden', message: 'Not authorized to subscribe to this channel' } } });
    expect(JSON.stringify(r.body)).not.toContain('rule bug');
    expect(errors.slice(before)).toMatchObject([{ info: { kind: 'rule', rule: 'broken.{x}', channel: 'private-broken.1', status: 403 } }]);
    expect((errors.at(-1)!.error as Error).message).toContain('rule bug');
    const ok = await call(url(), withUser(form({ socket_id: '1.2', channel_name: 'private-orders.1' }), '1'));
    expect(ok.status).toBe(200);
  });

  it('500 encryption_not_configured for an encrypted channel without a master key, without details for the client', async () => {
    const before = errors.length;
    const r = await call(url(), withUser(form({ socket_id: '1.2', channel_name: 'private-encrypted-secret.1' }), '1'));
    expect(r).toEqual({
      status: 500,
      headers: expect.anything(),
      body: { error: { code: 'encryption_not_configured', message: 'Encrypted channels are not configured on this server' } },
    });
    expect(errors.slice(before)).toMatchObject([{ info: { kind: 'config', status: 500 } }]);
    expect(errors.at(-1)!.error).toBeInstanceOf(ConfigError);
  });

  it.each([
    ['GET', 405],
    ['PUT', 405],
    ['DELETE', 405],
  ])('%s → %i with Allow: POST', async (method, status) => {
    const r = await call(url(), { method });
    expect(r.status).toBe(status);
    expect(r.headers.get('allow')).toBe('POST');
    expect(r.body).toEqual({ error: { code: 'method_not_allowed', message: `Use POST for ${ROUTE}` } });
  });

  it('400 for missing and malformed fields, naming the field', async () => {
    const cases: [RequestInit, string][] = [
      [form({ channel_name: 'private-a' }), 'Missing socket_id'],
      [form({ socket_id: 'abc', channel_name: 'private-a' }), 'Invalid socket_id'],
      [form({ socket_id: '1.2' }), 'Missing channel_name'],
      [form({ socket_id: '1.2', channel_name: 'orders' }), 'Public channels need no authorization'],
      [{ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'socket_id=1.2&socket_id=3.4&channel_name=private-a' }, 'socket_id must be a string'],
      [{ method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"socket_id":"1.2","channel_name":' }, 'The body is not valid JSON'],
      [{ method: 'POST', headers: { 'content-type': 'application/json' }, body: '[1,2]' }, 'must be an object'],
      [{ method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"socket_id":"1.2","channel_name":["private-a"]}' }, 'channel_name must be a string'],
    ];
    for (const [init, message] of cases) {
      const r = await call(url(), withUser(init, '1'));
      expect(r.status, message).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
      expect(r.body.error.message).toContain(message);
    }
  });

  it('400 for a JSON body with a key twice, which JSON.parse would quietly resolve to the last', async () => {
    const json = (body: string): RequestInit => withUser({ method: 'POST', headers: { 'content-type': 'application/json' }, body }, '1');
    for (const [body, key] of [
      ['{"socket_id":"1.2","channel_name":"private-orders.43","channel_name":"private-orders.1"}', 'channel_name'],
      ['{"socket_id":"1.2","socket_id":"3.4","channel_name":"private-orders.1"}', 'socket_id'],
      // The same key, escaped: JSON.parse sees one key.
      ['{"socket_id":"1.2","channel_name":"private-orders.43","channel\\u005fname":"private-orders.1"}', 'channel_name'],
      ['{"socket_id":"1.2","channel_name":"private-orders.1","meta":{"a":1,"b":{"x":[1,{"y":2}]},"a":2}}', 'a'],
    ] as const) {
      const r = await call(url(), json(body));
      expect(r.status, body).toBe(400);
      expect(r.body).toEqual({ error: { code: 'invalid_request', message: `The JSON body has the key "${key}" more than once` } });
    }
    // Equal keys in different objects, and strings that look like keys, are not duplicates.
    const fine = await call(url(), json('{"socket_id":"1.2","channel_name":"private-orders.1","a":{"k":"\\"channel_name\\":","x":1},"b":[{"k":1},{"k":2}],"c":"{\\"c\\":1,\\"c\\":2}"}'));
    expect(fine).toMatchObject({ status: 200, body: { auth: signChannel(creds, '1.2', 'private-orders.1') } });
  });

  it('415 for other content types, 413 for bodies over the limit', async () => {
    const text = await call(url(), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'socket_id=1.2' });
    expect(text).toMatchObject({ status: 415, body: { error: { code: 'unsupported_media_type' } } });
    const big = await call(url(), form({ socket_id: '1.2', channel_name: 'private-a', pad: 'x'.repeat(20_000) }));
    expect(big).toMatchObject({ status: 413, body: { error: { code: 'payload_too_large', message: 'The request body is larger than 8192 bytes' } } });
  });

  it('404 JSON for other paths when there is no next()', async () => {
    const r = await call(`${app.url}/elsewhere`, form({}));
    expect(r).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
  });
});

describe('createAuthHandler as Express/Connect middleware', () => {
  const broadcast = new Broadcast({ auth: { route: '/ws/auth' } }, { env });
  const options: AuthHandlerOptions = { user: userFromHeader, onError: () => {} };

  it('answers the configured route and passes every other path to next()', async () => {
    const handler = createAuthHandler(broadcast, options);
    expect(handler.route.path).toBe('/ws/auth');
    const passed: string[] = [];
    const app = await serve((req, res) => {
      void handler(req, res, () => {
        passed.push(req.url!);
        res.end('next');
      });
    });
    try {
      const ok = await call(`${app.url}/ws/auth?x=1`, withUser(form({ socket_id: '1.2', channel_name: 'private-a' }), '1'));
      expect(ok.status).toBe(200);
      const other = await fetch(`${app.url}/broadcasting/authorize`, { method: 'POST' });
      expect(await other.text()).toBe('next');
      expect(passed).toEqual(['/broadcasting/authorize']);
    } finally {
      await app.close();
    }
  });

  it('works mounted under a prefix (req.url stripped, req.originalUrl kept) and with a body already parsed', async () => {
    const handler = createAuthHandler(broadcast, { ...options, authRoute: '/api/broadcasting/auth' });
    const app = await serve((req, res) => {
      // What app.use('/api', express.urlencoded(), handler) does to the request.
      (req as IncomingMessage & { originalUrl: string }).originalUrl = req.url!;
      req.url = req.url!.replace(/^\/api/, '');
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        Object.assign(req, { body: Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString())), _body: true });
        void handler(req, res, () => res.end('next'));
      });
    });
    try {
      const r = await call(`${app.url}/api/broadcasting/auth`, withUser(form({ socket_id: '5.6', channel_name: 'private-b' }), '1'));
      expect(r).toMatchObject({ status: 200, body: { auth: signChannel(creds, '5.6', 'private-b') } });
    } finally {
      await app.close();
    }
  });

  it('fails at start-up, not on the first request, when it cannot sign or a rule is invalid', () => {
    expect(() => createAuthHandler(new Broadcast({}, { env: {} }), options)).toThrow(/log driver, which has no app key and secret/);
    expect(() => createAuthHandler(new Broadcast({ channels: { 'presence-room': () => true } }, { env }), options)).toThrow(/without the "presence-" prefix/);
    expect(() => createAuthHandler(broadcast, {} as never)).toThrow(/needs a user\(req\) function/);
    expect(() => createAuthHandler(broadcast, { ...options, maxBodyBytes: 10 })).toThrow(/maxBodyBytes must be a whole number >= 64/);
    expect(() => createAuthHandler(broadcast, { ...options, bodyTimeoutMs: 0 })).toThrow(/bodyTimeoutMs must be a whole number/);
  });
});

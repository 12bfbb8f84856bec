/**
 * User authentication without a server: the signature Pusher specifies, the rules on user_data, the user-auth
 * route of createAuthHandler over a real in-process HTTP server, and the route definitions.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuthHandler, type AuthErrorInfo } from '../../src/auth/handler.js';
import { signChannel } from '../../src/auth/sign.js';
import { userAuthBody, userChannel, userData, verifyUserAuth } from '../../src/auth/users.js';
import { Broadcast } from '../../src/core/broadcast.js';
import { ConfigError, UsageError, ValidationError } from '../../src/core/errors.js';
import { afterAll, beforeAll, describe, expect, test } from '../helpers/fixtures.js';

const env = { PUSHER_APP_ID: '1', PUSHER_APP_KEY: 'app-key', PUSHER_APP_SECRET: 'user-auth-test-secret' };
const creds = { key: env.PUSHER_APP_KEY, secret: env.PUSHER_APP_SECRET };
// Independent of the code under test: what Pusher's specification says is signed.
const expected = (socketId: string, data: string) =>
  `${creds.key}:${createHmac('sha256', creds.secret).update(`${socketId}::user::${data}`).digest('hex')}`;

describe('authenticateUser', () => {
  test('signs <socket_id>::user::<user_data> with the secret; the id becomes a string', () => {
    const broadcast = new Broadcast({}, { env });
    const body = broadcast.authenticateUser('123.456', { id: 42, user_info: { name: 'Ada' }, watchlist: ['1', 2] });
    expect(body.user_data).toBe('{"id":"42","user_info":{"name":"Ada"},"watchlist":["1","2"]}');
    expect(body.auth).toBe(expected('123.456', body.user_data));
    expect(broadcast.authenticateUser('1.2', { id: 'ada@example.com' })).toEqual({ auth: expected('1.2', '{"id":"ada@example.com"}'), user_data: '{"id":"ada@example.com"}' });
  });

  test('only id, user_info and watchlist reach user_data', () => {
    const user = { id: 'u1', user_info: { name: 'Ada' }, passwordHash: 'x', email: 'ada@example.com' };
    expect(userData(user)).toBe('{"id":"u1","user_info":{"name":"Ada"}}');
  });

  test.for([
    ['an empty id', { id: '' }, /a user id must be a non-empty string or a number/],
    ['a space in the id', { id: 'ada lovelace' }, /Invalid user id "ada lovelace": it contains " "/],
    ['an id of 149 characters', { id: 'x'.repeat(149) }, /the limit is 148/],
    ['user_info not an object', { id: '1', user_info: 'Ada' }, /user_info must be an object/],
    ['101 watched ids', { id: '1', watchlist: Array.from({ length: 101 }, (_, i) => String(i)) }, /The watchlist has 101 ids; the limit is 100/],
    ['a bad watched id', { id: '1', watchlist: ['ok', 'not ok'] }, /Invalid watchlist id "not ok"/],
  ] as const)('refuses %s', ([, user, message]) => {
    expect(() => userAuthBody(creds, '1.2', user as never)).toThrow(ValidationError);
    expect(() => userAuthBody(creds, '1.2', user as never)).toThrow(message);
  });

  test('a watchlist of exactly 100 ids is accepted; a malformed socket id is not', () => {
    expect(JSON.parse(userData({ id: '1', watchlist: Array.from({ length: 100 }, (_, i) => i) })).watchlist).toHaveLength(100);
    expect(() => userAuthBody(creds, '12', { id: '1' })).toThrow(/Invalid socket id "12"/);
  });

  test('verifyUserAuth says what differs', () => {
    const body = userAuthBody(creds, '1.2', { id: '7' });
    expect(verifyUserAuth(creds, { socketId: '1.2', userData: body.user_data, auth: body.auth })).toEqual({ valid: true });
    expect(verifyUserAuth(creds, { socketId: '1.3', userData: body.user_data, auth: body.auth })).toMatchObject({ valid: false, differs: 'signature' });
    expect(verifyUserAuth(creds, { socketId: '1.2', userData: '{"id":"8"}', auth: body.auth })).toMatchObject({ valid: false, differs: 'signature' });
    expect(verifyUserAuth(creds, { socketId: '1.2', userData: body.user_data, auth: body.auth.replace('app-key', 'other') })).toMatchObject({ valid: false, differs: 'key' });
    expect(verifyUserAuth(creds, { socketId: '1.2', userData: body.user_data, auth: 'nonsense' })).toMatchObject({ valid: false, differs: 'format' });
  });

  test('the user channel is #server-to-user-<id>, which ordinary channel checks would refuse', async () => {
    expect(userChannel(42)).toBe('#server-to-user-42');
    const broadcast = new Broadcast({}, { env: {} });
    await expect(broadcast.channel('#server-to-user-42', 'e', {})).rejects.toThrow(/Invalid channel name/);
    await expect(broadcast.sendToUser('not valid', 'e')).rejects.toThrow(/Invalid user id/);
    await expect(broadcast.sendToUser('7', 'pusher:x')).rejects.toThrow(/reserved/);
  });

  test('sendToUser on the log driver writes the event; terminateUserConnections needs a server', async () => {
    const lines: string[] = [];
    const broadcast = new Broadcast({}, { env: {}, logger: (line) => lines.push(line) });
    expect(await broadcast.sendToUser('7', 'greeting', { hi: 1 })).toMatchObject({ driver: 'log', delivered: false, channel: '#server-to-user-7' });
    expect(lines).toEqual(['greeting → #server-to-user-7 {"hi":1}']);
    await expect(broadcast.terminateUserConnections('7')).rejects.toThrow(UsageError);
  });
});

describe('route definitions', () => {
  test('Broadcast.routes and Broadcast.userRoutes are static: no config, no connection', () => {
    expect(Broadcast.routes({ authRoute: '/pusher/auth' })).toEqual([
      expect.objectContaining({ method: 'POST', path: '/pusher/auth', name: 'broadcasting.authorize', csrfExempt: true }),
      // Laravel Echo's default authEndpoint, answered by the same handler.
      expect.objectContaining({ method: 'POST', path: '/broadcasting/auth', name: 'broadcasting.auth', handler: 'createAuthHandler', csrfExempt: true }),
    ]);
    expect(Broadcast.routes().map((r) => r.path)).toEqual(['/broadcasting/authorize', '/broadcasting/auth']);
    expect(Broadcast.routes({ authRoute: '/broadcasting/auth' }).map((r) => r.path)).toEqual(['/broadcasting/auth']);
    expect(Broadcast.routes({ echoAuthRoute: false }).map((r) => r.path)).toEqual(['/broadcasting/authorize']);
    expect(Broadcast.userRoutes()).toEqual([expect.objectContaining({ method: 'POST', path: '/broadcasting/user-auth', name: 'broadcasting.user-auth', handler: 'createAuthHandler', csrfExempt: true })]);
    expect(Broadcast.userRoutes({ userAuthRoute: '/pusher/user-auth' })[0]!.path).toBe('/pusher/user-auth');
    expect(() => Broadcast.userRoutes({ userAuthRoute: 'no-slash' })).toThrow(/user authentication route "no-slash"/);
    // The instance methods stay, with the config's middleware.
    const broadcast = new Broadcast({ auth: { route: '/auth', middleware: ['session'] } }, { env });
    expect(broadcast.routes()[0]).toMatchObject({ path: '/auth', middleware: ['session'] });
    expect(broadcast.userRoutes()[0]).toMatchObject({ path: '/broadcasting/user-auth', middleware: ['session'] });
  });
});

describe('the user authentication route of createAuthHandler', () => {
  const errors: AuthErrorInfo[] = [];
  let server: Server;
  let base: string;
  const user = (req: IncomingMessage) => {
    const id = req.headers['x-user'];
    if (id === 'throw') throw new Error('session store down');
    if (id === 'bad') return { id: 'has space' };
    if (id === 'info') return { id: 5, user_info: { name: 'Own' }, watchlist: ['6'], secretField: 'never sent' };
    return typeof id === 'string' ? { id, name: `User ${id}` } : null;
  };
  beforeAll(async () => {
    const handler = createAuthHandler(new Broadcast({}, { env }), { user, onError: (_error, info) => errors.push(info) });
    const custom = createAuthHandler(new Broadcast({}, { env }), {
      user,
      authRoute: '/pusher/auth',
      userAuthRoute: '/pusher/user-auth',
      userData: async (u, req) => {
        if (req.headers['x-fail'] === '1') throw new Error('profile service down');
        return { user_info: { name: String((u as { name?: string }).name) } };
      },
      onError: (_error, info) => errors.push(info),
    });
    server = createServer((req, res) => void (req.url?.startsWith('/pusher/') ? custom(req, res) : handler(req, res)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const post = async (path: string, body: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
    return { status: res.status, body: await res.json() as any };
  };

  test('signs the logged-in user for a form-encoded socket_id, as pusher-js sends it', async () => {
    const r = await post('/broadcasting/user-auth', 'socket_id=123.456', { 'x-user': '42' });
    expect(r).toEqual({ status: 200, body: { auth: expected('123.456', '{"id":"42"}'), user_data: '{"id":"42"}' } });
    // The user object's own user_info and watchlist are used; nothing else of it.
    const own = await post('/broadcasting/user-auth', 'socket_id=1.2', { 'x-user': 'info' });
    expect(own.body.user_data).toBe('{"id":"5","user_info":{"name":"Own"},"watchlist":["6"]}');
  });

  test('anonymous is 403; a missing or malformed socket_id is 400; GET is 405', async () => {
    expect(await post('/broadcasting/user-auth', 'socket_id=1.2')).toEqual({ status: 403, body: { error: { code: 'unauthenticated', message: 'No authenticated user' } } });
    expect((await post('/broadcasting/user-auth', 'socket_id=1.2', { 'x-user': 'throw' })).status).toBe(403);
    expect(await post('/broadcasting/user-auth', '', { 'x-user': '1' })).toMatchObject({ status: 400, body: { error: { message: 'Missing socket_id' } } });
    expect((await post('/broadcasting/user-auth', 'socket_id=abc', { 'x-user': '1' })).status).toBe(400);
    const get = await fetch(`${base}/broadcasting/user-auth`);
    expect(get.status).toBe(405);
    expect(((await get.json()) as any).error.message).toBe('Use POST for /broadcasting/user-auth');
  });

  test('a user whose data breaks Pusher\'s rules is 500 invalid_user, reported to onError', async () => {
    errors.length = 0;
    expect(await post('/broadcasting/user-auth', 'socket_id=1.2', { 'x-user': 'bad' })).toEqual({ status: 500, body: { error: { code: 'invalid_user', message: 'The user cannot be signed in' } } });
    expect(errors).toEqual([{ kind: 'user', status: 500 }]);
  });

  test('custom paths and an async userData(); a throwing userData() is 500', async () => {
    const r = await post('/pusher/user-auth', 'socket_id=1.2', { 'x-user': '3' });
    expect(r.body.user_data).toBe('{"id":"3","user_info":{"name":"User 3"}}');
    expect(r.body.auth).toBe(expected('1.2', r.body.user_data));
    expect((await post('/pusher/user-auth', 'socket_id=1.2', { 'x-user': '3', 'x-fail': '1' })).status).toBe(500);
    // The channel route is still answered beside it.
    expect((await post('/pusher/auth', 'socket_id=1.2&channel_name=private-a', { 'x-user': '3' })).body).toEqual({ auth: signChannel(creds, '1.2', 'private-a') });
    expect((await fetch(`${base}/pusher/other`, { method: 'POST' })).status).toBe(404);
  });

  test('the two routes must differ', () => {
    expect(() => createAuthHandler(new Broadcast({}, { env }), { user, authRoute: '/a', userAuthRoute: '/a' })).toThrow(ConfigError);
    expect(() => createAuthHandler(new Broadcast({}, { env }), { user, userAuthRoute: '/broadcasting/auth' })).toThrow(expect.objectContaining({ hint: expect.stringContaining("Laravel Echo's default auth route") }));
    expect(createAuthHandler(new Broadcast({}, { env }), { user, userAuthRoute: '/broadcasting/auth', echoAuthRoute: false }).routes.map((r) => r.path))
      .toEqual(['/broadcasting/authorize', '/broadcasting/auth']);
    const handler = createAuthHandler(new Broadcast({}, { env }), { user, userAuthRoute: false });
    expect(handler.userRoute).toBeUndefined();
    expect(createAuthHandler(new Broadcast({}, { env }), { user }).userRoute?.path).toBe('/broadcasting/user-auth');
  });
});

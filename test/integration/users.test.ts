/**
 * User authentication end to end: a Node web app mounts createAuthHandler, which answers the user
 * authentication route; a real pusher-js client calls signin() against a soketi that requires it, receives
 * messages sent to its user (library and `broadcast emit --user`), and is disconnected by
 * terminateUserConnections / `broadcast users:terminate`.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuthHandler } from '../../src/auth/handler.js';
import { Broadcast } from '../../src/core/broadcast.js';
import { afterAll, beforeAll, describe, expect, test } from '../helpers/fixtures.js';
import { Pusher, socketOptions } from '../helpers/listener.js';
import { runMain } from '../helpers/main.js';
import { jsonOf } from '../helpers/schema.js';
import { startSoketi, type SoketiServer } from '../helpers/soketi.js';

/** The app's session: the `x-user-id` header names the logged-in user. */
const USERS: Record<string, { id: number; name: string; email: string }> = {
  '7': { id: 7, name: 'Ada', email: 'ada@example.com' },
  '8': { id: 8, name: 'Grace', email: 'grace@example.com' },
  '9': { id: 9, name: 'Linus', email: 'linus@example.com' },
};
const currentUser = (req: IncomingMessage) => USERS[String(req.headers['x-user-id'])] ?? null;

// Soketi closes connections that have not signed in after this long (default 30 s).
const SIGNIN_TIMEOUT_MS = 3_000;

let soketi: SoketiServer;
let http: Server;
let base: string;
const requests: { path: string | undefined; status: number }[] = [];
const clients: Pusher[] = [];

beforeAll(async () => {
  soketi = await startSoketi({ env: { SOKETI_DEFAULT_APP_USER_AUTHENTICATION: 'true', SOKETI_USER_AUTHENTICATION_TIMEOUT: String(SIGNIN_TIMEOUT_MS) } });
  const broadcast = new Broadcast({}, { env: soketi.env });
  const handler = createAuthHandler(broadcast, {
    user: currentUser,
    // Only what other users may see goes into user_data, never the whole user object.
    userData: (user) => ({ user_info: { name: user.name }, watchlist: user.id === 7 ? ['8'] : [] }),
  });
  http = createServer((req, res) => {
    res.on('finish', () => requests.push({ path: req.url, status: res.statusCode }));
    void handler(req, res);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const client of clients) client.disconnect();
  http?.closeAllConnections();
  await new Promise((resolve) => http?.close(resolve));
  await soketi?.stop();
});

/** A pusher-js client whose user authentication goes to the app's route, as `userId` (or nobody). */
async function connect(userId?: string): Promise<Pusher> {
  const client = new Pusher(soketi.key, {
    ...socketOptions(soketi),
    userAuthentication: { endpoint: `${base}/broadcasting/user-auth`, transport: 'ajax', headers: userId ? { 'X-User-Id': userId } : {} },
  });
  clients.push(client);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('pusher-js did not connect within 10 s')), 10_000);
    client.connection.bind('connected', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return client;
}

/** Calls signin() and resolves with what the server confirmed (`pusher:signin_success`), or rejects with the error. */
function signIn(client: Pusher): Promise<{ user_data: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no pusher:signin_success within 5 s')), 5_000);
    client.bind('pusher:signin_success', (data: { user_data: string }) => {
      clearTimeout(timer);
      resolve(data);
    });
    client.user.bind('pusher:signin_error', (error: unknown) => {
      clearTimeout(timer);
      reject(Object.assign(new Error('sign-in refused'), { detail: error }));
    });
    client.signin();
  });
}

/** Resolves with the close code when the server ends the connection. */
function closed(client: Pusher, ms = 10_000): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the connection was not closed within ${ms} ms (state ${client.connection.state})`)), ms);
    let code: number | undefined;
    client.connection.bind('error', (error: { data?: { code?: number } }) => {
      code ??= error?.data?.code;
    });
    client.connection.bind('state_change', ({ current }: { current: string }) => {
      if (current === 'connected' || current === 'connecting') return;
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** The next event `name` delivered to the signed-in user. */
function nextUserEvent(client: Pusher, name: string, ms = 5_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${name} for the user within ${ms} ms`)), ms);
    client.user.bind(name, (data: unknown) => {
      clearTimeout(timer);
      resolve(data);
    });
  });
}

describe('user authentication with pusher-js signin() against soketi', () => {
  test('a logged-in user signs in through the user-auth route; user_data holds only what userData() chose', async () => {
    const client = await connect('7');
    const confirmed = await signIn(client);
    expect(JSON.parse(confirmed.user_data)).toEqual({ id: '7', user_info: { name: 'Ada' }, watchlist: ['8'] });
    expect(client.user.user_data).toMatchObject({ id: '7' });
    expect(confirmed.user_data).not.toContain('ada@example.com');
    expect(requests).toContainEqual({ path: '/broadcasting/user-auth', status: 200 });
  });

  test('anonymous gets 403, and soketi closes a connection that has not signed in (4009)', async () => {
    const client = await connect();
    const refused = await signIn(client).catch((error: { detail?: unknown }) => error.detail);
    expect(refused).toMatchObject({ type: 'AuthError', status: 403 });
    expect(requests.filter((r) => r.status === 403)).not.toHaveLength(0);
    expect(await closed(client, SIGNIN_TIMEOUT_MS + 5_000)).toBe(4009);
  });

  test('sendToUser reaches every connection of that user and nobody else', async ({ uid }) => {
    const [ada, adaAgain, grace] = await Promise.all([connect('7'), connect('7'), connect('8')]);
    await Promise.all([signIn(ada), signIn(adaAgain), signIn(grace)]);
    let graceGot = 0;
    grace.user.bind('greeting', () => graceGot++);
    const arrivals = Promise.all([nextUserEvent(ada, 'greeting'), nextUserEvent(adaAgain, 'greeting')]);

    const broadcast = new Broadcast({}, { env: soketi.env });
    const sent = await broadcast.sendToUser(7, 'greeting', { text: `hi ${uid}` });
    broadcast.close();
    expect(sent).toMatchObject({ userId: '7', channel: '#server-to-user-7', event: 'greeting', delivered: true, connection: 'pusher' });
    expect(await arrivals).toEqual([{ text: `hi ${uid}` }, { text: `hi ${uid}` }]);
    await new Promise((r) => setTimeout(r, 300));
    expect(graceGot).toBe(0);
  });

  test('broadcast emit --user <id> <event> delivers to the signed-in user (emit JSON schema)', async ({ uid }) => {
    const client = await connect('9');
    await signIn(client);
    const arrived = nextUserEvent(client, 'notice');
    const r = await runMain(['emit', '--user', '9', 'notice', '--data', JSON.stringify({ id: uid }), '--json'], { env: soketi.env });
    expect(r.code).toBe(0);
    expect(jsonOf('emit', r.stdout)).toMatchObject({ ok: true, delivered: true, event: 'notice', channels: ['#server-to-user-9'], requests: 1 });
    expect(await arrived).toEqual({ id: uid });

    const human = await runMain(['emit', '--user', '9', 'notice'], { env: soketi.env });
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('sent notice to #server-to-user-9');
  });

  test('terminateUserConnections closes the user\'s connections; users:terminate --force does it from the CLI', async () => {
    const ada = await connect('7');
    await signIn(ada);
    const adaClosed = closed(ada);
    const broadcast = new Broadcast({}, { env: soketi.env });
    expect(await broadcast.terminateUserConnections('7')).toEqual({ connection: 'pusher', userId: '7' });
    broadcast.close();
    expect(await adaClosed).toBe(4009);

    const grace = await connect('8');
    await signIn(grace);
    const refused = await runMain(['users:terminate', '8', '--json'], { env: soketi.env });
    expect(refused.code).toBe(2);
    expect(jsonOf('users:terminate', refused.stdout)).toMatchObject({ ok: false, error: { code: 'usage', exitCode: 2 } });
    expect(refused.stderr).toContain('add --force');
    expect(grace.connection.state).toBe('connected');

    const graceClosed = closed(grace);
    const r = await runMain(['users:terminate', '8', '--force', '--json'], { env: soketi.env });
    expect(r.code).toBe(0);
    expect(jsonOf('users:terminate', r.stdout)).toEqual({ ok: true, connection: 'pusher', userId: '8' });
    expect(await graceClosed).toBe(4009);
  });
});

/**
 * createFetchAuthHandler, called with Request objects: every status, the same answers as the Node handler for
 * the same requests, its own body reading (streams without a length, stalls, aborts), and signatures made with
 * Web Crypto (a child process shows no request on this path calls node:crypto or Buffer).
 */
import { spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFetchAuthHandler } from '../../src/auth/fetch-handler.js';
import { createAuthHandler, type AuthErrorInfo } from '../../src/auth/handler.js';
import { channelAuthBody, presenceChannelData, sharedSecret, signChannel } from '../../src/auth/sign.js';
import { userAuthBody, verifyUserAuth } from '../../src/auth/users.js';
import { createWebSigner } from '../../src/auth/web-sign.js';
import { Broadcast } from '../../src/core/broadcast.js';
import type { BroadcastConfig } from '../../src/config/schema.js';
import { ConfigError } from '../../src/core/errors.js';
import { ROOT } from '../helpers/cli.js';

const MASTER = 'zyrm8pvV2C9fJcBfhyXzvxbJVN/H7QLmbe0xJi1GhPU=';
const env = { PUSHER_APP_ID: '1', PUSHER_APP_KEY: 'app-key', PUSHER_APP_SECRET: 'fetch-test-secret' };
const creds = { key: env.PUSHER_APP_KEY, secret: env.PUSHER_APP_SECRET };
const BASE = 'http://app.test';

const config: BroadcastConfig = {
  channels: {
    'orders.{orderId}': (user, { orderId }) => Number(orderId) === user.id,
    'room.{roomId}': { type: 'presence', authorize: (user, { roomId }) => ({ name: user.name, room: roomId }) },
    'broken.{x}': () => { throw new Error('rule bug'); },
    'slow.{x}': async () => { await new Promise((r) => setTimeout(r, 5)); return true; },
    'secret.{x}': () => true,
  },
};

/** The session, from the `x-user` header: as the Node handler's tests do. */
function userOf(headers: { get(name: string): string | null }): unknown {
  const id = headers.get('x-user');
  if (id === null) return null;
  if (id === 'throw') throw new Error('session store unavailable');
  if (id === 'bad') return { id: 'has space' };
  return { id: /^\d+$/.test(id) ? Number(id) : id, name: `User ${id}` };
}

const nodeHeaders = (req: IncomingMessage) => ({ get: (name: string) => (req.headers[name] as string | undefined) ?? null });

/** A request as the tests describe it: method, path, headers, body. */
interface Spec {
  name: string;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

const form = (fields: Record<string, string>, user?: string): Pick<Spec, 'headers' | 'body'> => ({
  headers: { 'content-type': 'application/x-www-form-urlencoded', ...(user ? { 'x-user': user } : {}) },
  body: new URLSearchParams(fields).toString(),
});
const json = (body: string, user?: string): Pick<Spec, 'headers' | 'body'> => ({
  headers: { 'content-type': 'application/json', ...(user ? { 'x-user': user } : {}) },
  body,
});

function requestOf(spec: Spec, base = BASE): Request {
  const method = spec.method ?? 'POST';
  return new Request(`${base}${spec.path ?? '/broadcasting/authorize'}`, {
    method,
    headers: spec.headers ?? {},
    ...(spec.body !== undefined && method !== 'GET' ? { body: spec.body } : {}),
  });
}

/** What a client sees of an answer. */
async function seen(response: Response) {
  const text = await response.text();
  return {
    status: response.status,
    body: text ? JSON.parse(text) : undefined,
    type: response.headers.get('content-type'),
    cache: response.headers.get('cache-control'),
    allow: response.headers.get('allow'),
  };
}

describe('createFetchAuthHandler', () => {
  const errors: { error: unknown; info: AuthErrorInfo }[] = [];
  const onError = (error: unknown, info: AuthErrorInfo) => errors.push({ error, info });
  const broadcast = new Broadcast(config, { env });
  const handler = createFetchAuthHandler(broadcast, { user: (request) => userOf(request.headers), onError });
  let node: Server;
  let nodeBase: string;

  beforeAll(async () => {
    const nodeHandler = createAuthHandler(broadcast, { user: (req) => userOf(nodeHeaders(req)), onError });
    node = createServer((req, res) => void nodeHandler(req, res));
    await new Promise<void>((resolve) => node.listen(0, '127.0.0.1', resolve));
    nodeBase = `http://127.0.0.1:${(node.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    node.closeAllConnections();
    await new Promise((resolve) => node.close(resolve));
  });

  const ask = async (spec: Spec) => seen(await handler(requestOf(spec)));

  it('signs private, presence and user sign-ins exactly as the Node signer does', async () => {
    expect(await ask({ name: 'private', ...form({ socket_id: '123.456', channel_name: 'private-orders.1' }, '1') })).toEqual({
      status: 200,
      body: { auth: signChannel(creds, '123.456', 'private-orders.1') },
      type: 'application/json; charset=utf-8',
      cache: 'no-store',
      allow: null,
    });
    const channelData = presenceChannelData(7, { name: 'User 7', room: 'lobby' });
    expect((await ask({ name: 'presence', ...json('{"socket_id":"1.2","channel_name":"presence-room.lobby"}', '7') })).body).toEqual({
      auth: signChannel(creds, '1.2', 'presence-room.lobby', channelData),
      channel_data: channelData,
    });
    const user = await ask({ name: 'user', path: '/broadcasting/user-auth', ...form({ socket_id: '5.6' }, '42') });
    expect(user).toMatchObject({ status: 200, body: userAuthBody(creds, '5.6', { id: 42 }) });
    expect(verifyUserAuth(creds, { socketId: '5.6', userData: user.body.user_data, auth: user.body.auth })).toEqual({ valid: true });
  });

  it('answers Echo\'s /broadcasting/auth, the configured route (with a query or a trailing slash), and 404 elsewhere', async () => {
    const fields = form({ socket_id: '1.2', channel_name: 'private-orders.1' }, '1');
    for (const path of ['/broadcasting/auth', '/broadcasting/authorize/', '/broadcasting/auth?x=1']) {
      expect((await ask({ name: path, path, ...fields })).status, path).toBe(200);
    }
    expect(await ask({ name: '404', path: '/broadcasting/other', ...fields })).toMatchObject({ status: 404, body: { error: { code: 'not_found', message: 'Not found' } } });
    const configured = createFetchAuthHandler(new Broadcast({ auth: { route: '/api/pusher/auth' } }, { env }), { user: () => ({ id: 1 }), echoAuthRoute: false });
    expect(configured.routes.map((r) => r.path)).toEqual(['/api/pusher/auth', '/broadcasting/user-auth']);
    expect((await configured(requestOf({ name: 'api', path: '/api/pusher/auth', ...fields }))).status).toBe(200);
    expect((await configured(requestOf({ name: 'echo off', path: '/broadcasting/auth', ...fields }))).status).toBe(404);
  });

  // Every status the route gives, asked of both handlers: the same status, JSON body and headers.
  const specs: Spec[] = [
    { name: '200 form', ...form({ socket_id: '1.2', channel_name: 'private-orders.1' }, '1') },
    { name: '200 JSON presence', ...json('{"socket_id":"1.2","channel_name":"presence-room.a"}', '3') },
    { name: '200 async rule', ...form({ socket_id: '1.2', channel_name: 'private-slow.a' }, '3') },
    { name: '200 Echo route', path: '/broadcasting/auth', ...form({ socket_id: '1.2', channel_name: 'private-orders.1' }, '1') },
    { name: '200 user-auth', path: '/broadcasting/user-auth', ...form({ socket_id: '1.2' }, '9') },
    { name: '400 missing socket_id', ...form({ channel_name: 'private-a' }, '1') },
    { name: '400 bad socket_id', ...form({ socket_id: 'abc', channel_name: 'private-a' }, '1') },
    { name: '400 missing channel', ...form({ socket_id: '1.2' }, '1') },
    { name: '400 public channel', ...form({ socket_id: '1.2', channel_name: 'orders' }, '1') },
    { name: '400 repeated form field', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-user': '1' }, body: 'socket_id=1.2&socket_id=3.4&channel_name=private-a' },
    { name: '400 bad JSON', ...json('{"socket_id":"1.2",', '1') },
    { name: '400 JSON array', ...json('[1]', '1') },
    { name: '400 duplicate JSON key', ...json('{"socket_id":"1.2","channel_name":"private-orders.2","channel\\u005fname":"private-orders.1"}', '1') },
    { name: '400 user-auth without socket_id', path: '/broadcasting/user-auth', ...form({}, '1') },
    { name: '403 anonymous', ...form({ socket_id: '1.2', channel_name: 'private-orders.1' }) },
    { name: '403 user() throws', ...form({ socket_id: '1.2', channel_name: 'private-orders.1' }, 'throw') },
    { name: '403 rule refuses', ...form({ socket_id: '1.2', channel_name: 'private-orders.2' }, '1') },
    { name: '403 no rule', ...form({ socket_id: '1.2', channel_name: 'private-invoices.1' }, '1') },
    { name: '403 rule throws', ...form({ socket_id: '1.2', channel_name: 'private-broken.1' }, '1') },
    { name: '403 anonymous user-auth', path: '/broadcasting/user-auth', ...form({ socket_id: '1.2' }) },
    { name: '404', path: '/elsewhere', ...form({}) },
    { name: '405 GET', method: 'GET' },
    { name: '405 PUT', method: 'PUT', ...form({ socket_id: '1.2' }) },
    { name: '405 GET user-auth', method: 'GET', path: '/broadcasting/user-auth' },
    { name: '413 declared', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-user': '1' }, body: `socket_id=1.2&pad=${'x'.repeat(9000)}` },
    { name: '415 text/plain', headers: { 'content-type': 'text/plain' }, body: 'socket_id=1.2' },
    { name: '415 no content type', headers: { 'x-user': '1' }, body: new TextEncoder().encode('socket_id=1.2') },
    { name: '500 encrypted without master key', ...form({ socket_id: '1.2', channel_name: 'private-encrypted-secret.1' }, '1') },
    { name: '500 user that cannot sign in', path: '/broadcasting/user-auth', ...form({ socket_id: '1.2' }, 'bad') },
  ];

  it.each(specs)('$name: the same answer as the Node handler', async (spec) => {
    const fromFetch = await ask(spec);
    const fromNode = await seen(await fetch(requestOf(spec, nodeBase)));
    expect(fromFetch).toEqual(fromNode);
    expect(fromFetch.status).toBe(Number(spec.name.slice(0, 3)));
    if (fromFetch.status !== 200) expect(Object.keys(fromFetch.body.error).sort()).toEqual(['code', 'message']);
  });

  it('reports what the client is not told to onError: a throwing rule, user(), a missing master key', async () => {
    errors.length = 0;
    await ask({ name: 'rule', ...form({ socket_id: '1.2', channel_name: 'private-broken.1' }, '1') });
    await ask({ name: 'user', ...form({ socket_id: '1.2', channel_name: 'private-orders.1' }, 'throw') });
    await ask({ name: 'config', ...form({ socket_id: '1.2', channel_name: 'private-encrypted-secret.1' }, '1') });
    expect(errors.map((e) => e.info)).toEqual([
      { kind: 'rule', status: 403, channel: 'private-broken.1', rule: 'broken.{x}' },
      { kind: 'user', status: 403, channel: 'private-orders.1' },
      { kind: 'config', status: 500, channel: 'private-encrypted-secret.1' },
    ]);
    expect(errors[2]!.error).toBeInstanceOf(ConfigError);
  });

  it('signs encrypted channels with the shared secret when the connection has a master key', async () => {
    const encrypted = createFetchAuthHandler(new Broadcast(config, { env: { ...env, PUSHER_ENCRYPTION_MASTER_KEY_BASE64: MASTER } }), { user: () => ({ id: 1 }) });
    const r = await seen(await encrypted(requestOf({ name: 'enc', ...form({ socket_id: '1.2', channel_name: 'private-encrypted-secret.1' }) })));
    expect(r).toMatchObject({ status: 200, body: { auth: signChannel(creds, '1.2', 'private-encrypted-secret.1'), shared_secret: sharedSecret('private-encrypted-secret.1', MASTER) } });
  });

  it('413 for a streamed body over the limit without a Content-Length; 408 for one that stalls; 400 for one that breaks off', async () => {
    const streamed = (chunks: string[], then: 'end' | 'stall' | 'error') =>
      new Request(`${BASE}/broadcasting/authorize`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-user': '1' },
        duplex: 'half',
        body: new ReadableStream<Uint8Array>({
          start(controller) {
            for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
            if (then === 'end') controller.close();
            if (then === 'error') controller.error(new Error('connection reset'));
          },
        }),
      } as RequestInit);
    const small = createFetchAuthHandler(broadcast, { user: (r) => userOf(r.headers), maxBodyBytes: 64, bodyTimeoutMs: 100 });
    expect(await seen(await small(streamed(['socket_id=1.2&', 'channel_name=private-orders.1'], 'end')))).toMatchObject({ status: 200 });
    expect(await seen(await small(streamed(['socket_id=1.2&', 'x'.repeat(40), 'y'.repeat(40)], 'end')))).toMatchObject({
      status: 413,
      body: { error: { code: 'payload_too_large', message: 'The request body is larger than 64 bytes' } },
    });
    const started = Date.now();
    expect(await seen(await small(streamed(['socket_id=1.2'], 'stall')))).toMatchObject({
      status: 408,
      body: { error: { code: 'request_timeout', message: 'The request body did not arrive within 100 ms' } },
    });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await seen(await small(streamed(['socket_id=1.2'], 'error')))).toMatchObject({ status: 400, body: { error: { message: 'The request body was incomplete' } } });
  });

  it('500 internal_error, reported, for a request whose body was already read by something else', async () => {
    errors.length = 0;
    const request = requestOf({ name: 'used', ...form({ socket_id: '1.2', channel_name: 'private-orders.1' }, '1') });
    await request.text();
    expect(await seen(await handler(request))).toMatchObject({ status: 500, body: { error: { code: 'internal_error', message: 'Internal error' } } });
    expect(errors.map((e) => e.info)).toEqual([{ kind: 'internal', status: 500 }]);
  });

  it('gives user() and userData() the second argument it was called with (a framework context)', async () => {
    const withContext = createFetchAuthHandler<{ user: { id: number; name: string } | null }>(broadcast, {
      user: (_request, c) => c.user,
      userData: (user, _request, c) => ({ user_info: { name: c.user!.name, id: user.id } }),
    });
    const fields = form({ socket_id: '1.2', channel_name: 'private-orders.4' });
    expect((await withContext(requestOf({ name: 'c', ...fields }), { user: { id: 4, name: 'Dee' } })).status).toBe(200);
    expect((await withContext(requestOf({ name: 'c', ...fields }), { user: null })).status).toBe(403);
    const signedIn = await seen(await withContext(requestOf({ name: 'u', path: '/broadcasting/user-auth', ...form({ socket_id: '1.2' }) }), { user: { id: 4, name: 'Dee' } }));
    expect(signedIn.body.user_data).toBe('{"id":"4","user_info":{"name":"Dee","id":4}}');
  });

  it('fails at start-up as the Node handler does', () => {
    const user = () => null;
    expect(() => createFetchAuthHandler(new Broadcast({}, { env: {} }), { user })).toThrow(/log driver, which has no app key and secret/);
    expect(() => createFetchAuthHandler(broadcast, {} as never)).toThrow(/createFetchAuthHandler needs a user\(req\) function/);
    expect(() => createFetchAuthHandler(broadcast, { user, maxBodyBytes: 10 })).toThrow(/maxBodyBytes must be a whole number >= 64/);
    expect(() => createFetchAuthHandler(broadcast, { user, authRoute: '/a', userAuthRoute: '/a' })).toThrow(ConfigError);
  });
});

describe('Web Crypto signing', () => {
  it('gives the published examples and the node:crypto signatures, shared secrets included', async () => {
    const docs = { key: '278d425bdf160c739803', secret: '7ad3773142a6692b25b8' };
    const web = createWebSigner(docs);
    expect(await web.subscription('1234.1234', 'private-foobar', 'private')).toEqual({
      auth: '278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4',
    });
    const channelData = '{"user_id":10,"user_info":{"name":"Mr. Channels"}}';
    expect((await web.subscription('1234.1234', 'presence-foobar', 'presence', channelData)).auth).toBe(
      '278d425bdf160c739803:31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80',
    );
    const withMaster = { key: 'f00d', secret: 'tofu', encryptionMasterKeyBase64: MASTER };
    expect(await createWebSigner(withMaster).subscription('123.456', 'private-encrypted-bla', 'encrypted')).toEqual(
      channelAuthBody(withMaster, '123.456', 'private-encrypted-bla'),
    );
    expect(await createWebSigner(withMaster).subscription('123.456', 'private-encrypted-bla', 'encrypted')).toMatchObject({ shared_secret: 'nlr49ISQHz91yS3cy/yWmW8wFMNeTnNL5tNHnbPJcLQ=' });
    const unicode = { key: 'k', secret: 'sécret ✓' };
    const userData = '{"id":"ü","user_info":{"name":"Zoë 🚀"}}';
    expect(verifyUserAuth(unicode, { socketId: '9.9', userData, auth: await createWebSigner(unicode).user('9.9', userData) })).toEqual({ valid: true });
    expect(() => createWebSigner(docs).subscription('1.2', 'private-encrypted-x', 'encrypted')).toThrow(ConfigError);
  });

  it('answers requests without calling node:crypto or Buffer (a child process where both throw once the app is loaded)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'broadcast-webcrypto-'));
    const hooks = path.join(dir, 'hooks.mjs');
    const fake = path.join(dir, 'crypto.mjs');
    // node:crypto as the library sees it: the real module, whose signing functions throw once `armed` is set.
    writeFileSync(
      fake,
      `import { createRequire } from 'node:module';
const real = createRequire(import.meta.url)('crypto');
const guard = (name) => (...args) => { if (globalThis.armed) throw new Error('node:crypto ' + name + ' called'); return real[name](...args); };
export const createHmac = guard('createHmac'), createHash = guard('createHash'), createSecretKey = guard('createSecretKey'), timingSafeEqual = guard('timingSafeEqual');
export const randomBytes = real.randomBytes, randomInt = real.randomInt, webcrypto = real.webcrypto;
export default real;
`,
    );
    writeFileSync(
      hooks,
      `export async function resolve(specifier, context, next) {
  if ((specifier === 'node:crypto' || specifier === 'crypto') && !context.parentURL?.startsWith(${JSON.stringify(pathToFileURL(fake).href)})) {
    return { url: ${JSON.stringify(pathToFileURL(fake).href)}, shortCircuit: true };
  }
  return next(specifier, context);
}
`,
    );
    const script = `
import { register } from 'node:module';
register(${JSON.stringify(pathToFileURL(hooks).href)});
const { Broadcast, createFetchAuthHandler } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist/index.js')).href)});
const env = { PUSHER_APP_ID: '1', PUSHER_APP_KEY: 'k', PUSHER_APP_SECRET: 's', PUSHER_ENCRYPTION_MASTER_KEY_BASE64: ${JSON.stringify(MASTER)} };
const handler = createFetchAuthHandler(new Broadcast({}, { env }), { user: () => ({ id: 7, user_info: { name: 'Ada' } }) });
const ask = async (path, body) => {
  const response = await handler(new Request('http://app.test' + path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body }));
  return { status: response.status, body: await response.json() };
};
// Node's own Request and Response use the global Buffer too: only the library's code may not.
const SavedBuffer = globalThis.Buffer;
const dist = ${JSON.stringify(path.join(ROOT, 'dist'))};
globalThis.armed = true;
globalThis.Buffer = new Proxy(SavedBuffer, {
  get(target, key) {
    const caller = new Error().stack.split('\\n')[2] ?? '';
    if (globalThis.armed && caller.includes(dist)) throw new Error('Buffer.' + String(key) + ' used by ' + caller.trim());
    return target[key];
  },
});
const answers = [
  await ask('/broadcasting/auth', 'socket_id=1.2&channel_name=private-a'),
  await ask('/broadcasting/auth', 'socket_id=1.2&channel_name=presence-a'),
  await ask('/broadcasting/auth', 'socket_id=1.2&channel_name=private-encrypted-a'),
  await ask('/broadcasting/user-auth', 'socket_id=1.2'),
];
globalThis.armed = false;
globalThis.Buffer = SavedBuffer;
console.log(JSON.stringify(answers));
`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    const answers = JSON.parse(result.stdout) as { status: number; body: Record<string, string> }[];
    const c = { key: 'k', secret: 's', encryptionMasterKeyBase64: MASTER };
    const presence = presenceChannelData(7, undefined);
    expect(answers).toEqual([
      { status: 200, body: channelAuthBody(c, '1.2', 'private-a') },
      { status: 200, body: channelAuthBody(c, '1.2', 'presence-a', presence) },
      { status: 200, body: channelAuthBody(c, '1.2', 'private-encrypted-a') },
      { status: 200, body: userAuthBody(c, '1.2', { id: 7, user_info: { name: 'Ada' } }) },
    ]);
  });
});

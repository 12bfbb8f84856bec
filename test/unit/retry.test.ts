/**
 * The pusher driver's retry policy, in process against small local servers that misbehave on purpose:
 * what is retried, what is not (and why), Retry-After, time limits, and no hangs; and how a Broadcast
 * configures it and reports an event that only some of its requests delivered.
 */
import nacl from 'tweetnacl';
import { afterAll, describe, expect, it } from 'vitest';
import type { PusherConnection } from '../../src/config/schema.js';
import { ANSWER_LIMITS, backoffDelay, createPusherDriver, parseRetryAfter, RETRY_POLICY } from '../../src/transport/pusher.js';
import type { Driver } from '../../src/transport/types.js';
import { ConfigError, DeliveryError } from '../../src/core/errors.js';
import { Broadcast } from '../../src/core/broadcast.js';
import { sharedSecret } from '../../src/auth/sign.js';
import { blackhole, CREDENTIALS, endless, faultServer, html, ok, type FaultHandler, type FaultServer } from '../helpers/fault-server.js';
import { freePort } from '../helpers/soketi.js';

// The tests run concurrently (each has its own server), so everything is released at the end.
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function connection(port: number, extra: Partial<PusherConnection> = {}): PusherConnection {
  return { driver: 'pusher', ...CREDENTIALS, host: '127.0.0.1', port, scheme: 'http', ...extra };
}

async function serve(handler: FaultHandler): Promise<FaultServer> {
  const server = await faultServer(handler);
  cleanups.push(() => server.close());
  return server;
}

function driverFor(port: number, extra: Partial<PusherConnection> = {}) {
  const retries: { attempt: number; delayMs: number; message: string }[] = [];
  const driver: Driver = createPusherDriver('test', connection(port, extra), {
    onRetry: ({ attempt, delayMs, error }) => retries.push({ attempt, delayMs, message: error.message }),
  });
  cleanups.push(() => driver.close());
  return { driver, retries };
}

/** Runs `fn`, expecting it to fail with a DeliveryError; returns it and how long it took. */
async function failure(fn: () => Promise<unknown>): Promise<{ error: DeliveryError; ms: number }> {
  const started = Date.now();
  try {
    await fn();
  } catch (error) {
    expect(error).toBeInstanceOf(DeliveryError);
    return { error: error as DeliveryError, ms: Date.now() - started };
  }
  throw new Error('expected a DeliveryError');
}

const event = { channels: ['orders'], event: 'order.shipped', data: { id: 42 } };

describe('backoff and Retry-After', () => {
  it('backs off 250 ms doubling to a 2 s cap, with ±25% jitter', () => {
    expect([0, 1, 2, 3, 4, 10, 1000].map((n) => backoffDelay(n, () => 0.5))).toEqual([250, 500, 1000, 2000, 2000, 2000, 2000]);
    expect(backoffDelay(0, () => 0)).toBe(188);
    expect(backoffDelay(3, () => 1)).toBe(2500);
    // With the default retries, the waits add up to between 2.8 and 4.7 s: a server a second or two late is caught.
    const total = (r: () => number) => Array.from({ length: RETRY_POLICY.retries }, (_, n) => backoffDelay(n, r)).reduce((a, b) => a + b, 0);
    expect(total(() => 0)).toBeGreaterThan(2500);
    expect(total(() => 1)).toBeLessThan(5000);
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter(' 0.5 ', now)).toBe(500);
    expect(parseRetryAfter(['2'], now)).toBe(2000);
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:04 GMT', now)).toBe(4000);
    expect(parseRetryAfter('Tue, 31 Dec 2024 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-1', now)).toBeUndefined();
    expect(parseRetryAfter('2030', now)).toBe(2_030_000);
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});

describe.concurrent('what is retried', () => {
  it('429 then 503 then success: three requests, one accepted, Retry-After honoured', async () => {
    const server = await serve((n, _req, res) => {
      if (n === 1) res.writeHead(429, { 'retry-after': '1' }).end('{"error":"slow down"}');
      else if (n === 2) res.writeHead(503).end('busy');
      else ok(res);
    });
    const { driver, retries } = driverFor(server.port);
    const started = Date.now();
    await driver.trigger(event);
    expect(server.requests).toHaveLength(3);
    expect(server.accepted).toHaveLength(1);
    expect(JSON.parse(server.accepted[0]!.body)).toMatchObject({ name: 'order.shipped', channels: ['orders'], data: '{"id":42}' });
    expect(retries.map((r) => r.message)).toEqual([
      'The server asked to try again later (HTTP 429): slow down',
      'The server asked to try again later (HTTP 503): busy',
    ]);
    expect(retries[0]!.delayMs).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('an error in a 200 body (soketi 1.6 answers so) with code 429 is retried too', async () => {
    const server = await serve((n, _req, res) => {
      if (n === 1) res.writeHead(200, { 'content-type': 'application/json' }).end('{"error":"Too many requests","code":429}');
      else ok(res);
    });
    const { driver } = driverFor(server.port);
    await driver.trigger(event);
    expect(server.requests).toHaveLength(2);
  });

  it('connection refused is retried `retries` times, then fails naming the server and the attempts', async () => {
    const port = await freePort();
    const { driver, retries } = driverFor(port, { retries: 2 });
    const { error } = await failure(() => driver.trigger(event));
    expect(retries).toHaveLength(2);
    expect(error.message).toMatch(new RegExp(`^Could not reach the server at http://127\\.0\\.0\\.1:${port}: connection refused \\(3 attempts in \\d+\\.\\d s\\)$`));
    // The connection comes from the config, which no variable changes: the hint says where it is set.
    expect(error.hint).toContain('(host, port, scheme of connections.test in the config)');
  });

  it('with the defaults, a server that starts listening 1.5 s late gets the event', async () => {
    const port = await freePort();
    const { driver, retries } = driverFor(port);
    let server: FaultServer | undefined;
    const late = setTimeout(() => {
      void faultServer((_n, _req, res) => ok(res), port).then((s) => {
        server = s;
        cleanups.push(() => s.close());
      });
    }, 1500);
    cleanups.push(() => clearTimeout(late));
    await driver.trigger(event);
    expect(retries.length).toBeGreaterThanOrEqual(2);
    expect(server?.accepted).toHaveLength(1);
  });

  it('a connection that is never established is abandoned after a quarter of the time limit and retried', async () => {
    const hole = await blackhole();
    cleanups.push(() => hole.close());
    const { driver, retries } = driverFor(hole.port, { timeout: 2400 });
    const { error, ms } = await failure(() => driver.trigger(event));
    expect(retries.length).toBeGreaterThanOrEqual(1);
    expect(retries[0]!.message).toBe(`Could not connect to the server at http://127.0.0.1:${hole.port} within 1000 ms`);
    // Two attempts of 1 s with a wait between them; a third would not fit in the time limit.
    expect(error.message).toMatch(/^Could not connect to the server at .* within 1000 ms \(2 attempts in 2\.\d s; the next retry would not fit in the 2400 ms time limit\)$/);
    expect(ms).toBeGreaterThanOrEqual(2000);
    expect(ms).toBeLessThan(3500);
  });

  it('a retried batch is sent exactly as the first time (encrypted data is not encrypted twice)', async () => {
    const masterKey = Buffer.alloc(32, 9).toString('base64');
    const server = await serve((n, _req, res) => (n === 1 ? res.writeHead(503).end() : ok(res)));
    const { driver } = driverFor(server.port, { encryptionMasterKeyBase64: masterKey });
    const channel = 'private-encrypted-vault';
    await driver.triggerBatch([
      { channel, event: 'secret', data: { code: 1234 } },
      { channel: 'plain', event: 'open', data: { a: 1 } },
    ]);
    expect(server.requests).toHaveLength(2);
    const [encrypted, plain] = (JSON.parse(server.accepted[0]!.body) as { batch: { data: string }[] }).batch;
    expect(plain!.data).toBe('{"a":1}');
    const { nonce, ciphertext } = JSON.parse(encrypted!.data) as { nonce: string; ciphertext: string };
    const opened = nacl.secretbox.open(Buffer.from(ciphertext, 'base64'), Buffer.from(nonce, 'base64'), Buffer.from(sharedSecret(channel, masterKey), 'base64'));
    expect(opened && JSON.parse(Buffer.from(opened).toString())).toEqual({ code: 1234 });
  });
});

describe.concurrent('what is not retried', () => {
  it.each([
    [400, /^The server answered HTTP 400: bad request$/],
    [401, /^The server rejected the credentials \(HTTP 401\)/],
    [403, /^The server rejected the credentials \(HTTP 403\)/],
    [404, /^The server does not know this app or path \(HTTP 404\)/],
    [413, /^The payload is too large for the server \(HTTP 413\)/],
    [500, /^The server answered HTTP 500/],
    [301, /^The server answered HTTP 301: bad request$/], // a redirect is not followed: the host is wrong
  ])('HTTP %i: one request, no retry', async (status, message) => {
    const server = await serve((_n, _req, res) => res.writeHead(status).end('bad request'));
    const { driver, retries } = driverFor(server.port);
    const { error, ms } = await failure(() => driver.trigger(event));
    expect(server.requests).toHaveLength(1);
    expect(retries).toHaveLength(0);
    expect(error.status).toBe(status);
    expect(error.message).toMatch(message);
    expect(ms).toBeLessThan(1000);
  });

  it('a connection reset after the server read the request: not retried, may have been delivered', async () => {
    const server = await serve((_n, req) => req.socket.destroy());
    const { driver, retries } = driverFor(server.port);
    const { error } = await failure(() => driver.trigger(event));
    expect(server.requests).toHaveLength(1);
    expect(retries).toHaveLength(0);
    expect(error.message).toBe(`The connection to http://127.0.0.1:${server.port} failed after the request was sent (connection reset)`);
    expect(error.details).toEqual({ maybeDelivered: true });
    expect(error.hint).toContain('deliver it twice');
  });

  it('a server that never answers: fails at the time limit, once, and says the event may have arrived', async () => {
    const server = await serve(() => {});
    const { driver, retries } = driverFor(server.port, { timeout: 500 });
    const { error, ms } = await failure(() => driver.trigger(event));
    expect(error.message).toBe(`No answer from http://127.0.0.1:${server.port} within 500 ms`);
    expect(error.details).toEqual({ maybeDelivered: true });
    expect(server.requests).toHaveLength(1);
    expect(retries).toHaveLength(0);
    expect(ms).toBeGreaterThanOrEqual(480);
    expect(ms).toBeLessThan(1500);
  });

  it('a server that sends headers and then stalls the body does not hang the call', async () => {
    const server = await serve((_n, _req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"partial":');
    });
    const { driver } = driverFor(server.port, { timeout: 500 });
    const { error, ms } = await failure(() => driver.get('/channels'));
    expect(error.message).toContain('No answer from');
    expect(ms).toBeLessThan(1500);
  });

  it('a Retry-After beyond the time limit fails at once instead of waiting (or retrying early)', async () => {
    const server = await serve((_n, _req, res) => res.writeHead(429, { 'retry-after': '3600' }).end());
    const { driver, retries } = driverFor(server.port, { timeout: 3000 });
    const { error, ms } = await failure(() => driver.trigger(event));
    expect(server.requests).toHaveLength(1);
    expect(retries).toHaveLength(0);
    expect(error.message).toMatch(/HTTP 429.*the server asked to wait 3600\.0 s, beyond the 3000 ms time limit/);
    expect(error.hint).toContain('--timeout');
    expect(ms).toBeLessThan(1000);
  });

  it('429 answers stop at the time limit even with many retries allowed', async () => {
    const server = await serve((_n, _req, res) => res.writeHead(429).end());
    const { driver } = driverFor(server.port, { timeout: 1200, retries: 100 });
    const { error, ms } = await failure(() => driver.trigger(event));
    expect(error.message).toMatch(/HTTP 429\) \(\d attempts in \d\.\d s; the next retry would not fit in the 1200 ms time limit\)$/);
    expect(ms).toBeLessThan(1300);
    expect(server.requests.length).toBeGreaterThanOrEqual(2);
  });
});

describe.concurrent('delivered means the server said so: a 2xx with the JSON the API defines', () => {
  const json = (body: string) => (_n: number, _req: unknown, res: import('node:http').ServerResponse) =>
    void res.writeHead(200, { 'content-type': 'application/json' }).end(body);

  it('an HTML page with 200 (a proxy, a web server on the wrong port) is an error naming what came back, not retried', async () => {
    const server = await serve((_n, _req, res) => html(res));
    const { driver, retries } = driverFor(server.port);
    const { error } = await failure(() => driver.trigger(event));
    expect(error.message).toBe(
      'The server answered HTTP 200 with 95 bytes of text/html; charset=utf-8 that is not JSON: ' +
        '"<!DOCTYPE html>\\n<html><head><title>Welcome to nginx!</title></head><body>It work…", not the Pusher API\'s JSON',
    );
    expect(error.status).toBe(200);
    expect(error.details).toEqual({ maybeDelivered: true });
    expect(error.hint).toContain('(host, port, scheme of connections.test in the config)');
    expect(server.requests).toHaveLength(1);
    expect(retries).toHaveLength(0);
  });

  it.each([
    ['an empty body', '', /^The server answered HTTP 200 with an empty body \(application\/json\), not the Pusher API's JSON$/],
    ['JSON that is not an object', '"ok"', /^The server answered HTTP 200 with JSON that is not an object: "\\"ok\\"", not/],
    ['a JSON list', '[]', /with JSON that is not an object: "\[\]"/],
    ['null', 'null', /with JSON that is not an object: "null"/],
  ])('a trigger answered with %s fails', async (_what, body, message) => {
    const server = await serve(json(body));
    const { driver } = driverFor(server.port);
    const { error } = await failure(() => driver.trigger(event));
    expect(error.message).toMatch(message);
    expect(server.requests).toHaveLength(1);
  });

  it('a batch answered with a "batch" that is not a list fails; the answers real servers give are delivered', async () => {
    const server = await serve(json('{"batch":"accepted"}'));
    const { driver } = driverFor(server.port);
    const { error } = await failure(() => driver.triggerBatch([{ channel: 'a', event: 'e', data: {} }]));
    expect(error.message).toBe('The server answered HTTP 200 with JSON whose "batch" is not a list: "{\\"batch\\":\\"accepted\\"}", not the Pusher API\'s JSON');
    // {} (Pusher), {"ok":true} (soketi 1.6), {"channels":…} (Pusher with info), {"batch":[…]} (Pusher's batch with info),
    // {"batch":{}} (Laravel Reverb's batch without info).
    for (const body of ['{}', '{"ok":true}', '{"channels":{"orders":{}}}']) {
      const ok = await serve(json(body));
      await expect(driverFor(ok.port).driver.trigger(event)).resolves.toBeUndefined();
    }
    for (const body of ['{"batch":{"a":1}}', '{"batch":null}']) {
      const bad = await serve(json(body));
      await expect(driverFor(bad.port).driver.triggerBatch([{ channel: 'a', event: 'e', data: {} }])).rejects.toThrow(/"batch" is not a list/);
    }
    for (const body of ['{}', '{"ok":true}', '{"batch":[{},{}]}', '{"batch":{}}']) {
      const ok = await serve(json(body));
      await expect(driverFor(ok.port).driver.triggerBatch([{ channel: 'a', event: 'e', data: {} }])).resolves.toBeUndefined();
    }
  });

  it('a query (GET /channels) answered with HTML fails too, without "maybe delivered"', async () => {
    const server = await serve((_n, _req, res) => html(res, '<html>login</html>'));
    const { driver } = driverFor(server.port);
    const { error } = await failure(() => driver.get('/channels'));
    expect(error.message).toMatch(/^The server answered HTTP 200 with 18 bytes of text\/html; charset=utf-8 that is not JSON: "<html>login<\/html>"/);
    expect(error.details).toBeUndefined();
  });

  it('what came back is shown escaped: control characters and quotes cannot reach the terminal raw', async () => {
    const server = await serve((_n, _req, res) => void res.writeHead(200, { 'content-type': 'text/plain' }).end('\x1b[2J\x1b[31m"pwned"\r\n'));
    const { driver } = driverFor(server.port);
    const { error } = await failure(() => driver.trigger(event));
    expect(error.message).not.toContain('\x1b');
    expect(error.message).not.toContain('\r');
    expect(error.message).toContain('"\\u001b[2J\\u001b[31m\\"pwned\\"\\r\\n"');
  });

  it('a 200 body without end: reading stops at the limit and the call fails at once (it took 3.2 GB before)', async () => {
    let written: Promise<number> | undefined;
    const server = await serve((_n, _req, res) => (written = endless(res)));
    const { driver } = driverFor(server.port, { timeout: 20_000 });
    const { error, ms } = await failure(() => driver.trigger(event));
    expect(error.message).toMatch(/^The server answered HTTP 200 with more than 1 MB of application\/json, starting "\{\\"padding\\":\\" {60,}…" \(reading stopped there\), not the Pusher API's JSON$/);
    expect(error.details).toEqual({ maybeDelivered: true });
    expect(ms).toBeLessThan(2000);
    // The server could push only what fits in the socket buffers past the limit before the connection was dropped.
    expect(await written).toBeLessThan(ANSWER_LIMITS.event + 16 * 1024 * 1024);
    expect(server.requests).toHaveLength(1);
  });

  it('an error answer without end is cut short too: the status and its first bytes', async () => {
    const server = await serve((_n, _req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      const chunk = 'x'.repeat(64 * 1024);
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
      };
      res.on('drain', pump);
      pump();
    });
    const { driver } = driverFor(server.port, { timeout: 20_000 });
    const { error, ms } = await failure(() => driver.trigger(event));
    expect(error.message).toMatch(/^The server answered HTTP 500: x{200}…$/);
    expect(ms).toBeLessThan(2000);
  });
});

describe.concurrent('a Broadcast configured once', () => {
  it("the timeout and retries given to the constructor override the connection's own", async () => {
    const server = await serve(() => {});
    const config = { connections: { slow: { ...connection(server.port), timeout: 30_000, retries: 10 } }, default: 'slow' };
    const retried: number[] = [];
    const broadcast = new Broadcast(config, { env: {}, timeout: 400, retries: 0, onRetry: ({ attempt }) => retried.push(attempt) });
    cleanups.push(() => broadcast.close());
    const { error, ms } = await failure(() => broadcast.channel('orders', 'e', {}));
    expect(error.message).toBe(`No answer from http://127.0.0.1:${server.port} within 400 ms`);
    expect(ms).toBeLessThan(1500);
    expect(retried).toEqual([]);
    // The connection itself is left as configured.
    expect(broadcast.resolved.connection).toMatchObject({ timeout: 30_000, retries: 10 });
  });

  it('an event whose requests partly fail: partial_delivery, naming the channels that did and did not get it', async () => {
    // 150 channels take two requests (100 + 50): the one carrying "c-0" is refused.
    const server: FaultServer = await serve((n, _req, res) => {
      const { channels } = JSON.parse(server.requests[n - 1]!.body) as { channels: string[] };
      if (channels.includes('c-0')) res.writeHead(400).end('{"error":"refused"}');
      else ok(res);
    });
    const broadcast = new Broadcast({ connections: { fault: connection(server.port) }, default: 'fault' }, { env: {} });
    cleanups.push(() => broadcast.close());
    const channels = Array.from({ length: 150 }, (_, i) => `c-${i}`);
    const { error } = await failure(() => broadcast.channel(channels, 'e', {}));
    expect(error.code).toBe('partial_delivery');
    expect(error.message).toBe('Sent to 50 of 150 channels; failed for 100: The server answered HTTP 400: refused');
    expect(error.details).toEqual({ sent: channels.slice(100), failed: channels.slice(0, 100) });
    expect(server.accepted).toHaveLength(1);
  });
});

describe('building requests', () => {
  it('a master key the pusher library refuses (URL-safe base64) is a config error, without the key in it', () => {
    const key = Buffer.alloc(32, 251).toString('base64url');
    expect(key).toMatch(/[-_]/);
    let error: unknown;
    try {
      createPusherDriver('test', connection(1, { encryptionMasterKeyBase64: key }));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe('Connection "test": encryptionMasterKeyBase64 must be valid base64');
  });
});

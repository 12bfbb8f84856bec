/**
 * The built CLI against servers that fail: it retries what is safe to retry, never what could deliver an
 * event twice, and always ends within its time limit with exit 1 and a clear message.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { faultServers, ok, type FaultServer } from '../helpers/fault-server.js';
import { uid } from '../helpers/fixtures.js';
import { listen } from '../helpers/listener.js';
import { jsonOf } from '../helpers/schema.js';
import { freePort, startSoketi, type SoketiServer } from '../helpers/soketi.js';

const serve = faultServers(afterAll);

describe.concurrent('broadcast emit against a failing server', () => {
  it('429, then 503, then success: exit 0, three requests, the event accepted once', async () => {
    const server = await serve((n, _req, res) => {
      if (n === 1) res.writeHead(429, { 'retry-after': '1' }).end('{"error":"Too many requests"}');
      else if (n === 2) res.writeHead(503).end('Service Unavailable');
      else ok(res);
    });
    const r = await runCli(['emit', 'orders', 'order.shipped', '--data', '{"id":42}', '--json', '--verbose'], { env: server.env });
    expect(r.code).toBe(0);
    expect(jsonOf('emit', r.stdout)).toMatchObject({ ok: true, delivered: true, event: 'order.shipped', channels: ['orders'] });
    expect(server.requests).toHaveLength(3);
    expect(server.accepted).toHaveLength(1);
    expect(JSON.parse(server.accepted[0]!.body)).toEqual({ name: 'order.shipped', channels: ['orders'], data: '{"id":42}' });
    // --verbose shows each attempt and the waits, the first one as long as Retry-After asked.
    expect(r.stderr).toMatch(/POST \/events → 429/);
    expect(r.stderr).toMatch(/retry 1 in 1\d{3} ms: The server asked to try again later \(HTTP 429\): Too many requests/);
    expect(r.stderr).toMatch(/retry 2 in \d+ ms: The server asked to try again later \(HTTP 503\)/);
    expect(r.stderr).toMatch(/POST \/events → 200/);
  });

  it.each([
    [400, /The server answered HTTP 400: Invalid event/],
    [401, /The server rejected the credentials \(HTTP 401\): Invalid event/],
  ])('HTTP %i is not retried: exit 1 after one request', async (status, message) => {
    const server = await serve((_n, _req, res) => res.writeHead(status).end('{"error":"Invalid event"}'));
    const r = await runCli(['emit', 'orders', 'e', '--json'], { env: server.env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(jsonOf('emit', r.stdout)).toMatchObject({ ok: false, error: { code: 'delivery', exitCode: 1 } });
    expect(server.requests).toHaveLength(1);
  });

  it('a server that never answers: --timeout 500 exits 1 in about that time, without retrying', async () => {
    const server = await serve(() => {});
    const r = await runCli(['emit', 'orders', 'e', '--timeout', '500', '--json', '--verbose'], { env: server.env });
    expect(r.code).toBe(1);
    // The one attempt was cut at the limit (the verbose log times it), and the process ended soon after.
    const [, attemptMs] = /POST \/events → no response \((\d+) ms\)/.exec(r.stderr) ?? [];
    expect(Number(attemptMs)).toBeGreaterThanOrEqual(495);
    expect(Number(attemptMs)).toBeLessThan(800);
    expect(r.stderr).not.toContain('retry 1');
    expect(r.stderr).toContain(`error: No answer from http://127.0.0.1:${server.port} within 500 ms`);
    expect(r.stderr).toContain('may have been delivered, so it was not retried');
    expect(jsonOf('emit', r.stdout)).toMatchObject({ ok: false, error: { code: 'delivery', details: { maybeDelivered: true } } });
    expect(server.requests).toHaveLength(1);
    expect(r.ms).toBeGreaterThanOrEqual(500);
    expect(r.ms).toBeLessThan(4000); // 500 ms plus starting Node.js on a busy machine
  });

  it('a connection reset after the request was read is reported as possibly delivered, not retried', async () => {
    const server = await serve((_n, req) => req.socket.destroy());
    const r = await runCli(['emit', 'orders', 'e'], { env: server.env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('failed after the request was sent (connection reset)');
    expect(r.stderr).toContain('a retry could deliver it twice');
    expect(server.requests).toHaveLength(1);
  });

  it('with default settings, a server that starts 1.5 s late still gets the event', async () => {
    const port = await freePort();
    const env = { PUSHER_APP_ID: 'a', PUSHER_APP_KEY: 'k', PUSHER_APP_SECRET: 'secret-for-late', PUSHER_HOST: '127.0.0.1', PUSHER_PORT: String(port), PUSHER_SCHEME: 'http' };
    const run = runCli(['emit', 'orders', 'late.event', '--verbose'], { env });
    const server = await new Promise<FaultServer>((resolve) => setTimeout(() => resolve(serve((_n, _req, res) => ok(res), port)), 1500));
    const r = await run;
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/retry 1 in \d+ ms: Could not reach the server at http:\/\/127\.0\.0\.1:\d+: connection refused/);
    expect(server.accepted).toHaveLength(1);
  });
});

describe('a real soketi that comes up late', () => {
  let late: SoketiServer | undefined;
  afterAll(async () => {
    await late?.stop();
  });

  it('emit retries until soketi listens; the event reaches a pusher-js client', async () => {
    // A listener cannot subscribe before the server exists, so the event goes to a cache channel: soketi
    // keeps its last event and hands it to whoever subscribes later. Receiving it proves the retried
    // request delivered it, without racing the listener against the CLI's retries.
    const port = await freePort();
    const channel = `cache-late-${uid()}`;
    const env = { PUSHER_APP_ID: 'app-id', PUSHER_APP_KEY: 'app-key', PUSHER_APP_SECRET: 'app-secret-for-tests', PUSHER_HOST: '127.0.0.1', PUSHER_PORT: String(port), PUSHER_SCHEME: 'http' };
    // soketi itself needs 2-5 s to start: allow plenty of retries within a 30 s limit.
    const run = runCli(['emit', channel, 'server.late', '--data', '{"n":1}', '--json', '--verbose', '--retries', '100', '--timeout', '30000'], { env, timeoutMs: 40_000 });
    await new Promise((r) => setTimeout(r, 1000));
    late = await startSoketi({ port });
    const r = await run;
    expect(r.code).toBe(0);
    expect(jsonOf('emit', r.stdout)).toMatchObject({ ok: true, delivered: true, channels: [channel] });
    expect(r.stderr).toMatch(/retry 1 in \d+ ms: Could not reach the server .*: connection refused/);
    expect(r.ms).toBeGreaterThan(1000);

    const listener = await listen(late);
    try {
      await listener.subscribe(channel);
      const [got] = await listener.waitFor(1, (e) => e.channel === channel);
      expect(got).toEqual({ channel, event: 'server.late', data: { n: 1 } });
    } finally {
      listener.disconnect();
    }
  }, 45_000);
});

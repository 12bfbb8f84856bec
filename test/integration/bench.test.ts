/**
 * `broadcast bench` against a real soketi: events published through the HTTP API come back through a
 * pusher-js subscriber, and the report (checked against schemas/bench.json) says how fast and how complete.
 */
import { describe, expect, inject, test } from '../helpers/fixtures.js';
import { runCli } from '../helpers/cli.js';
import { runMain } from '../helpers/main.js';
import { jsonOf } from '../helpers/schema.js';
import { freePort, type SoketiServer } from '../helpers/soketi.js';

const server = inject('soketi') as SoketiServer;

describe('broadcast bench', () => {
  test('publishes, receives every event through pusher-js, and reports throughput and latency percentiles', async () => {
    const r = await runMain(['bench', '--count', '400', '--size', '256', '--json'], { env: server.env });
    expect(r.code).toBe(0);
    const report = jsonOf('bench', r.stdout);
    expect(report).toMatchObject({ ok: true, connection: 'pusher', count: 400, size: 256, rate: null, publish: { failed: 0, errors: [] }, delivery: { received: 400, lost: 0, duplicates: 0, outOfOrder: 0 } });
    expect(report.publish.eventsPerSecond).toBeGreaterThan(0);
    expect(report.publish.requests).toBe(40); // batches of 10
    const l = report.latencyMs;
    expect(l.min).toBeLessThanOrEqual(l.p50);
    expect(l.p50).toBeLessThanOrEqual(l.p95);
    expect(l.p95).toBeLessThanOrEqual(l.p99);
    expect(l.p99).toBeLessThanOrEqual(l.max);
  });

  test('paces publishing with --rate and prints a human summary; --events is the old name of --count', async () => {
    const started = Date.now();
    const r = await runMain(['bench', '--events', '100', '--rate', '200'], { env: server.env });
    expect(r.code).toBe(0);
    expect(Date.now() - started).toBeGreaterThan(400); // 100 events at 200/s: about half a second
    expect(r.stdout).toMatch(/publish\s+100\/100 events/);
    expect(r.stdout).toMatch(/latency\s+p50 [\d.]+ ms · p95 [\d.]+ ms · p99 [\d.]+ ms · max [\d.]+ ms/);
    expect(r.stdout).toMatch(/100\/100 received, 0 lost/);
    expect(r.stderr).toMatch(/bench: 100 events of 100 bytes on 2 channels bench-\S+ \(connection "pusher"\) at 200\/s/);
  });

  test('events that cannot be published: exit 1 with the report beside the error', async () => {
    const wrong = 'not-the-secret-at-all';
    const r = await runMain(['bench', '--count', '20', '--retries', '0', '--json'], { env: { ...server.env, PUSHER_APP_SECRET: wrong } });
    expect(r.code).toBe(1);
    const report = jsonOf('bench', r.stdout);
    expect(report).toMatchObject({
      ok: false,
      count: 20,
      publish: { failed: 20, errors: [{ message: expect.stringContaining('rejected the credentials'), events: 20 }] },
      delivery: { received: 0, lost: 0 },
      latencyMs: null,
      error: { code: 'delivery', message: '20 of 20 events were not delivered: 20 could not be published', exitCode: 1 },
    });
    expect(r.stdout + r.stderr).not.toContain(wrong);
  });

  test('Ctrl-C stops publishing and reports what was done (exit 130)', async () => {
    const stop = new AbortController();
    setTimeout(() => stop.abort('SIGINT'), 500);
    const r = await runMain(['bench', '--count', '5000', '--rate', '100', '--json'], { env: server.env, signal: stop.signal });
    expect(r.code).toBe(130);
    const report = jsonOf('bench', r.stdout);
    expect(report).toMatchObject({ ok: false, count: 5000, error: { code: 'interrupted', exitCode: 130 } });
    expect(report.publish.requests).toBeLessThan(500);
  });

  test.for([
    [['bench', '--size', '20000'], server.env, /--size must be between \d+ and 10240 bytes/, 'usage'],
    [['bench'], {}, /needs a server: connection "log"/, 'config'],
    [['bench', '--count', '0'], server.env, /--count must be a whole number >= 1/, 'usage'],
  ] as const)('refuses %j before sending anything (exit 2)', async ([args, env, message, code]) => {
    const r = await runMain([...args, '--json'], { env: { ...env } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(jsonOf('bench', r.stdout)).toMatchObject({ ok: false, error: { code, exitCode: 2 } });
  });

  test('the process: an unreachable server exits 1 with one JSON object', async () => {
    const port = await freePort();
    const r = await runCli(['bench', '--count', '5', '--json'], { env: { ...server.env, PUSHER_PORT: String(port) } });
    expect(r.code).toBe(1);
    expect(jsonOf('bench', r.stdout)).toMatchObject({ ok: false, error: { code: 'delivery', exitCode: 1 } });
    expect(r.stderr).toContain('connection refused');
  });
});

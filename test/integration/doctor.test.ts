/**
 * `broadcast doctor` against a real soketi: a good setup passes every check with a measured round trip;
 * a wrong secret and an unreachable server fail (quickly) with `checks_failed`, and no secret is ever
 * printed. In process except for the exit status of the binary; every --json answer is checked against
 * schemas/doctor.json.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, inject, test } from '../helpers/fixtures.js';
import { runCli } from '../helpers/cli.js';
import { faultServer } from '../helpers/fault-server.js';
import { runMain } from '../helpers/main.js';
import { jsonOf } from '../helpers/schema.js';
import { freePort, type SoketiServer } from '../helpers/soketi.js';

const server = inject('soketi') as SoketiServer;

interface Check {
  name: string;
  status: string;
  detail: string;
  hint?: string;
  latencyMs?: number;
  closeCode?: { code: number; meaning: string; hint: string; reconnect: string; reason?: string };
  clockSkewSeconds?: number;
}
const byName = (checks: Check[]) => Object.fromEntries(checks.map((c) => [c.name, c]));
const ALL = ['config', 'connection', 'server', 'clock', 'credentials', 'websocket', 'roundtrip', 'auth-route'];

describe('doctor', () => {
  test('passes every check on a good setup (PUSHER_* variables only) and reports the round-trip latency', async ({ project }) => {
    const r = await runMain(['doctor', '--json'], { cwd: project.dir, env: server.env });
    expect(r.code).toBe(0);
    const doc = jsonOf('doctor', r.stdout) as { ok: boolean; connection: string; checks: Check[] };
    expect(doc).toMatchObject({ ok: true, connection: 'pusher' });
    expect(doc.checks.map((c) => c.name)).toEqual(ALL);
    expect(doc.checks.every((c) => c.status === 'pass')).toBe(true);
    const checks = byName(doc.checks);
    expect(checks.config!.detail).toContain('PUSHER_*');
    // soketi sends a Date header: the same machine's clocks agree.
    expect(checks.clock).toMatchObject({ status: 'pass', detail: "this machine's clock agrees with the server's (within 1 s)" });
    expect(Math.abs(checks.clock!.clockSkewSeconds!)).toBeLessThanOrEqual(1);
    expect(checks.roundtrip!.latencyMs).toBeGreaterThanOrEqual(0);
    expect(checks.roundtrip!.detail).toMatch(/came back in \d+ ms/);
    expect(checks['auth-route']!.detail).toContain('POST /broadcasting/authorize');
    expect(r.stdout + r.stderr).not.toContain(server.secret);
  });

  test('reads a config file, prints a readable report and never the secret', async ({ project }) => {
    const connection = { driver: 'pusher', appId: server.appId, key: server.key, secret: server.secret, host: server.host, port: server.port, scheme: 'http' };
    await writeFile(path.join(project.dir, '.broadcastrc.json'), JSON.stringify({ default: 'local', connections: { local: connection }, auth: { route: '/pusher/auth' } }));
    const r = await runMain(['doctor'], { cwd: project.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/✓ config\s+loaded .broadcastrc.json/);
    expect(r.stdout).toMatch(/✓ connection\s+"local": http:\/\/127.0.0.1:\d+/);
    expect(r.stdout).toMatch(/✓ roundtrip\s+an event on a private test channel came back in \d+ ms/);
    expect(r.stdout).toMatch(/✓ auth-route\s+POST \/pusher\/auth \(from config\)/);
    expect(r.stdout).toContain('8 passed');
    expect(r.stderr).toBe('');
    expect(r.stdout + r.stderr).not.toContain(server.secret);
  });

  test('shows which check is running on a terminal\'s stderr, and clears the line before the report', async ({ project }) => {
    const r = await runMain(['doctor', '--no-color'], { cwd: project.dir, env: server.env, tty: { stderr: true } });
    expect(r.code).toBe(0);
    for (const [i, name] of ALL.entries()) expect(r.stderr).toContain(`\r\x1b[Kchecking ${name}… (${i + 1}/8)`);
    expect(r.stderr.endsWith('\r\x1b[K')).toBe(true);
    expect(r.stdout).not.toContain('checking');
  });

  test('fails on a wrong secret: the signed API call and the private subscription are refused', async () => {
    const wrong = 'definitely-not-the-secret';
    const r = await runMain(['doctor', '--json'], { env: { ...server.env, PUSHER_APP_SECRET: wrong } });
    expect(r.code).toBe(1);
    const doc = jsonOf('doctor', r.stdout) as { ok: boolean; checks: Check[]; error: { code: string; details: unknown } };
    expect(doc).toMatchObject({ ok: false, error: { code: 'checks_failed', exitCode: 1, details: { failed: ['credentials', 'websocket'] } } });
    const checks = byName(doc.checks);
    expect(checks.server!.status).toBe('pass');
    expect(checks.credentials).toMatchObject({ status: 'fail', detail: expect.stringContaining('rejected the credentials') });
    expect(checks.credentials!.hint).toContain('PUSHER_APP_SECRET');
    expect(checks.websocket).toMatchObject({ status: 'fail', detail: expect.stringContaining('refused the subscription') });
    expect(checks.roundtrip!.status).toBe('skip');
    expect(r.stderr).toContain('error: 2 checks failed: credentials, websocket');
    expect(r.stdout + r.stderr).not.toContain(wrong);
  });

  test('a wrong app key fails the websocket check with close code 4001 explained, as JSON and for a person', async () => {
    const env = { ...server.env, PUSHER_APP_KEY: server.appId };
    const r = await runMain(['doctor', '--json'], { env });
    expect(r.code).toBe(1);
    const checks = byName((jsonOf('doctor', r.stdout) as { checks: Check[] }).checks);
    expect(checks.websocket).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('refused the WebSocket connection: close code 4001, app does not exist'),
      hint: expect.stringContaining('not its app id'),
      closeCode: { code: 4001, meaning: 'app does not exist: the server knows no app with this key', reconnect: 'never', reason: `App key ${server.appId} does not exist.` },
    });
    expect(checks.websocket!.hint).toBe(checks.websocket!.closeCode!.hint);
    expect(checks.roundtrip!.status).toBe('skip');

    const shown = await runMain(['doctor'], { env });
    expect(shown.stdout).toMatch(/✗ websocket\s+The server at ws:\/\/127\.0\.0\.1:\d+ refused the WebSocket connection: close code 4001, app does not exist/);
    expect(shown.stdout).toMatch(/hint: Check PUSHER_APP_KEY: it must be the app's key, not its app id \(a common mix-up\)/);
  });

  test('fails quickly on an unreachable server and skips the checks that need it', async () => {
    const port = await freePort();
    const r = await runMain(['doctor'], { env: { ...server.env, PUSHER_PORT: String(port) } });
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(5000);
    expect(r.stdout).toMatch(new RegExp(`✗ server\\s+http://127.0.0.1:${port}: connection refused \\(nothing listens on that port\\)`));
    expect(r.stdout).toMatch(/hint: Is the server running\?/);
    // A local port with nothing on it: the ways to start a development server, as init prints them.
    expect(r.stdout).toContain('docker run -p 6001:6001 quay.io/soketi/soketi:1.6-16-debian');
    expect(r.stdout).toContain('npx soketi start');
    for (const name of ['clock', 'credentials', 'websocket', 'roundtrip']) expect(r.stdout).toMatch(new RegExp(`- ${name}\\s+skipped`));
    expect(r.stdout).toContain('1 failed');
    expect(r.stderr).toContain('error: 1 check failed: server');
  });

  test('a Laravel Reverb setup (REVERB_* variables only) passes, and its hints name the REVERB_* variables', async ({ project }) => {
    const reverb = { REVERB_APP_ID: server.appId, REVERB_APP_KEY: server.key, REVERB_APP_SECRET: server.secret, REVERB_HOST: server.host, REVERB_SCHEME: 'http' };
    const good = await runMain(['doctor', '--json'], { cwd: project.dir, env: { ...reverb, REVERB_PORT: String(server.port) } });
    expect(good.code).toBe(0);
    const doc = jsonOf('doctor', good.stdout) as { connection: string; checks: Check[] };
    expect(doc.connection).toBe('reverb');
    expect(byName(doc.checks).config).toMatchObject({ status: 'pass', detail: 'no config file; using the REVERB_* environment variables' });

    const port = await freePort();
    const down = await runMain(['doctor', '--json'], { cwd: project.dir, env: { ...reverb, REVERB_PORT: String(port) } });
    expect(down.code).toBe(1);
    expect(byName((jsonOf('doctor', down.stdout) as { checks: Check[] }).checks).server!.hint).toContain('Check the host and port (REVERB_HOST, REVERB_PORT, REVERB_SCHEME)');
  });

  test('fails when the connection cannot deliver (the built-in log connection)', async ({ project }) => {
    const r = await runMain(['doctor', '--json'], { cwd: project.dir });
    expect(r.code).toBe(1);
    const doc = jsonOf('doctor', r.stdout) as { connection: string; checks: Check[] };
    expect(doc.connection).toBe('log');
    const checks = byName(doc.checks);
    expect(checks.config!.status).toBe('warn');
    expect(checks.connection).toMatchObject({ status: 'fail', detail: expect.stringContaining('uses the log driver') });
    expect(checks.server!.status).toBe('skip');
  });

  test('a config that does not load fails the config check and skips what needs it', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.json'), '{"connections": ');
    const r = await runMain(['doctor', '--json'], { cwd: project.dir });
    expect(r.code).toBe(1);
    const doc = jsonOf('doctor', r.stdout) as { checks: Check[] };
    expect(doc).not.toHaveProperty('connection');
    expect(doc.checks.map((c) => [c.name, c.status])).toEqual([
      ['config', 'fail'],
      ['connection', 'skip'],
      ['server', 'skip'],
      ['clock', 'skip'],
      ['credentials', 'skip'],
      ['websocket', 'skip'],
      ['roundtrip', 'skip'],
      ['auth-route', 'skip'],
    ]);
  });

  test('Ctrl-C while a check waits on a silent server stops at once with the checks that finished', async () => {
    const silent = await faultServer(() => {}); // never answers
    try {
      const stop = new AbortController();
      setTimeout(() => stop.abort('SIGINT'), 300);
      const r = await runMain(['doctor', '--json', '--timeout', '10s'], { env: silent.env, signal: stop.signal });
      expect(r.code).toBe(130);
      expect(r.ms).toBeLessThan(3000);
      const doc = jsonOf('doctor', r.stdout) as { checks: Check[] };
      expect(doc).toMatchObject({ ok: false, error: { code: 'interrupted', exitCode: 130 } });
      expect(doc.checks.map((c) => c.name)).toEqual(['config', 'connection']);
    } finally {
      await silent.close();
    }
  });

  test('--timeout bounds each check: a silent server fails the server check after it', async () => {
    const silent = await faultServer(() => {});
    try {
      const r = await runMain(['doctor', '--json', '--timeout', '300ms'], { env: silent.env });
      expect(r.code).toBe(1);
      expect(r.ms).toBeLessThan(3000);
      const checks = byName((jsonOf('doctor', r.stdout) as { checks: Check[] }).checks);
      expect(checks.server).toMatchObject({ status: 'fail', detail: expect.stringContaining('no answer within 300 ms') });
    } finally {
      await silent.close();
    }
  });

  test('the process: exit 1 and one JSON object on stdout when a check fails', async () => {
    const port = await freePort();
    const r = await runCli(['doctor', '--json'], { env: { ...server.env, PUSHER_PORT: String(port) }, timeoutMs: 10_000 });
    expect(r.code).toBe(1);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(jsonOf('doctor', r.stdout)).toMatchObject({ ok: false, error: { code: 'checks_failed' } });
    expect(r.stderr).toMatch(/^error: 1 check failed: server/);
  });
});

/**
 * `broadcast doctor` against a real soketi: a good setup passes every check with a measured round trip;
 * a wrong secret and an unreachable server fail (quickly), and no secret is ever printed.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { runCli, tempProject } from '../helpers/cli.js';
import { freePort, type SoketiServer } from '../helpers/soketi.js';

const server = inject('soketi') as SoketiServer;

interface Check {
  name: string;
  status: string;
  detail: string;
  hint?: string;
  latencyMs?: number;
}
const byName = (checks: Check[]) => Object.fromEntries(checks.map((c) => [c.name, c]));

describe('doctor', () => {
  it('passes every check on a good setup (PUSHER_* variables only) and reports the round-trip latency', async () => {
    const project = await tempProject();
    try {
      const r = await runCli(['doctor', '--json'], { cwd: project.dir, env: server.env });
      expect(r.code).toBe(0);
      const doc = JSON.parse(r.stdout) as { checks: Check[]; ok: boolean };
      expect(doc.ok).toBe(true);
      expect(doc.checks.map((c) => c.name)).toEqual(['config', 'connection', 'server', 'credentials', 'websocket', 'roundtrip', 'auth-route']);
      expect(doc.checks.every((c) => c.status === 'pass')).toBe(true);
      const checks = byName(doc.checks);
      expect(checks.config!.detail).toContain('PUSHER_*');
      expect(checks.roundtrip!.latencyMs).toBeGreaterThanOrEqual(0);
      expect(checks.roundtrip!.detail).toMatch(/came back in \d+ ms/);
      expect(checks['auth-route']!.detail).toContain('POST /broadcasting/authorize');
      expect(r.stdout + r.stderr).not.toContain(server.secret);
    } finally {
      await project.cleanup();
    }
  });

  it('reads a config file, prints a readable report and never the secret', async () => {
    const project = await tempProject();
    try {
      const connection = { driver: 'pusher', appId: server.appId, key: server.key, secret: server.secret, host: server.host, port: server.port, scheme: 'http' };
      await writeFile(path.join(project.dir, '.broadcastrc.json'), JSON.stringify({ default: 'local', connections: { local: connection }, auth: { route: '/pusher/auth' } }));
      const r = await runCli(['doctor'], { cwd: project.dir });
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/✓ config\s+loaded .broadcastrc.json/);
      expect(r.stdout).toMatch(/✓ connection\s+"local": http:\/\/127.0.0.1:\d+/);
      expect(r.stdout).toMatch(/✓ roundtrip\s+an event on a private test channel came back in \d+ ms/);
      expect(r.stdout).toMatch(/✓ auth-route\s+POST \/pusher\/auth \(from config\)/);
      expect(r.stdout).toContain('7 passed');
      expect(r.stdout + r.stderr).not.toContain(server.secret);
    } finally {
      await project.cleanup();
    }
  });

  it('fails on a wrong secret: the signed API call and the private subscription are refused', async () => {
    const wrong = 'definitely-not-the-secret';
    const r = await runCli(['doctor', '--json'], { env: { ...server.env, PUSHER_APP_SECRET: wrong } });
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { checks: Check[]; ok: boolean };
    expect(doc.ok).toBe(false);
    const checks = byName(doc.checks);
    expect(checks.server!.status).toBe('pass');
    expect(checks.credentials).toMatchObject({ status: 'fail', detail: expect.stringContaining('rejected the credentials') });
    expect(checks.credentials!.hint).toContain('PUSHER_APP_SECRET');
    expect(checks.websocket).toMatchObject({ status: 'fail', detail: expect.stringContaining('refused the subscription') });
    expect(checks.roundtrip!.status).toBe('skip');
    expect(r.stdout + r.stderr).not.toContain(wrong);
  });

  it('fails quickly on an unreachable server and skips the checks that need it', async () => {
    const port = await freePort();
    const r = await runCli(['doctor'], { env: { ...server.env, PUSHER_PORT: String(port) }, timeoutMs: 10_000 });
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(5000);
    expect(r.stdout).toMatch(new RegExp(`✗ server\\s+http://127.0.0.1:${port}: connection refused`));
    expect(r.stdout).toMatch(/hint: Is the server running\?/);
    for (const name of ['credentials', 'websocket', 'roundtrip']) expect(r.stdout).toMatch(new RegExp(`- ${name}\\s+skipped`));
    expect(r.stdout).toContain('1 failed');
  });

  it('fails when the connection cannot deliver (the built-in log connection)', async () => {
    const project = await tempProject();
    try {
      const r = await runCli(['doctor', '--json'], { cwd: project.dir });
      expect(r.code).toBe(1);
      const checks = byName((JSON.parse(r.stdout) as { checks: Check[] }).checks);
      expect(checks.config!.status).toBe('warn');
      expect(checks.connection).toMatchObject({ status: 'fail', detail: expect.stringContaining('uses the log driver') });
      expect(checks.server!.status).toBe('skip');
    } finally {
      await project.cleanup();
    }
  });
});

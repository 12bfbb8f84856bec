/**
 * The built binary as a user runs it: exit codes, stdout/stderr and JSON for good and bad input.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli, tempProject } from '../helpers/cli.js';
import { freePort, type SoketiServer } from '../helpers/soketi.js';
import { listen, settle, type Listener } from '../helpers/listener.js';

const server = inject('soketi') as SoketiServer;
const uid = () => Math.random().toString(36).slice(2, 10);

describe('emit with no configuration', () => {
  it('uses the built-in log connection in an empty directory and says nothing was delivered', async () => {
    const project = await tempProject();
    try {
      const r = await runCli(['emit', 'orders', 'order.shipped', '--data', '{"id":42}'], { cwd: project.dir });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('order.shipped → orders');
      expect(r.stdout).toContain('{"id":42}');
      expect(r.stderr).toContain('nothing was delivered');
      expect(r.stderr).toContain('PUSHER_APP_ID');
    } finally {
      await project.cleanup();
    }
  });

  it('prints one JSON document with --json', async () => {
    const r = await runCli(['emit', 'a,b', 'e', '--json', '--data', '[1,2]']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, driver: 'log', delivered: false, channels: ['a', 'b'], data: [1, 2] });
  });
});

describe('bad input exits 2, names the problem and sends nothing', () => {
  let listener: Listener;
  const channel = `guarded-${uid()}`;
  beforeAll(async () => {
    listener = await listen(server);
    await listener.subscribe(channel);
  });
  afterAll(async () => {
    await settle(300);
    // None of the bad invocations below delivered anything.
    expect(listener.received).toHaveLength(0);
    listener.disconnect();
  });

  it.each([
    [['emit', channel, 'e', '--data', '{"id":'], /Invalid JSON in --data/],
    [['emit', `${channel},bad name`, 'e'], /Invalid channel name "bad name": it contains " "/],
    [['emit', `${channel},${'x'.repeat(165)}`, 'e'], /165 characters long; the limit is 164/],
    [['emit', `${channel},`, 'e'], /Empty entry in the channel list/],
    [['emit', channel, 'e'.repeat(201)], /event name: it is 201 characters long/],
    [['emit', channel, 'e', '--data', JSON.stringify({ blob: 'x'.repeat(11_000) })], /bytes; the limit for this connection is 10240 bytes/],
    [['emit', channel, 'e', '--socket-id', 'abc'], /Invalid socket id "abc"/],
    [['emit', channel, 'e', '--data', '@missing.json'], /Cannot read --data file missing.json: no such file/],
    [['emit', 'NoSuchEvent'], /"NoSuchEvent" is not a registered event/],
    [['emit', channel, 'e', '--connection', 'prod'], /Unknown connection "prod"/],
    [['emit'], /Missing <target>/],
    [['emit', channel, 'e', '--bogus'], /unknown option '--bogus'/],
  ])('%j', async (args, message) => {
    const r = await runCli(args as string[], { env: server.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('an unknown connection lists the known ones', async () => {
    const r = await runCli(['emit', channel, 'e', '--connection', 'prod'], { env: server.env });
    expect(r.stderr).toContain('Known connections: log, null, pusher');
  });

  it('missing credentials name the variables to set', async () => {
    const r = await runCli(['emit', channel, 'e'], { env: { PUSHER_APP_KEY: 'k', PUSHER_HOST: '127.0.0.1' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('missing appId, secret');
    expect(r.stderr).toContain('PUSHER_APP_ID, PUSHER_APP_SECRET');
  });

  it('--json failures print {"ok":false} with the same exit code', async () => {
    const r = await runCli(['emit', 'bad name', 'e', '--json'], { env: server.env });
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ ok: false, error: { code: 'invalid', exitCode: 2 } });
    expect(doc.error.message).toContain('bad name');
  });

  it('--dry-run validates and prints the plan without sending', async () => {
    const r = await runCli(['emit', channel, 'e', '--dry-run', '--json', '--data', '{"a":1}'], { env: server.env });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, dryRun: true, delivered: false, channels: [channel], requests: 1, bytes: 7 });
  });
});

describe('server failures exit 1 with an actionable message', () => {
  it('a wrong secret: credentials rejected, and the secret is not printed', async () => {
    const secret = 'definitely-wrong-secret';
    const r = await runCli(['emit', 'x', 'e', '--json'], { env: { ...server.env, PUSHER_APP_SECRET: secret } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/rejected the credentials \(HTTP 401\)/);
    expect(r.stderr).toContain('PUSHER_APP_SECRET');
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { code: 'delivery', exitCode: 1 } });
    expect(r.stdout + r.stderr).not.toContain(secret);
  });

  it('an unreachable server: names host and port, within seconds', async () => {
    const port = await freePort();
    const r = await runCli(['emit', 'x', 'e', '--retries', '1'], { env: { ...server.env, PUSHER_PORT: String(port) } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Could not reach the server at http://127.0.0.1:${port}: connection refused`);
    expect(r.ms).toBeLessThan(10_000);
  });

  it('a payload the server refuses as too large', async () => {
    const r = await runCli(['emit', 'x', 'e', '--data', JSON.stringify({ blob: 'x'.repeat(120_000) })], {
      env: server.env,
      cwd: await configWith({ connections: { big: { driver: 'pusher', appId: server.appId, key: server.key, secret: server.secret, host: '127.0.0.1', port: server.port, scheme: 'http', maxPayloadKb: 500 } }, default: 'big' }),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/too large|HTTP 413/);
  });
});

async function configWith(config: object): Promise<string> {
  const project = await tempProject();
  await writeFile(path.join(project.dir, 'broadcast.config.json'), JSON.stringify(config));
  return project.dir;
}

describe('a project with broadcast.config.ts', () => {
  it('emits a registered event class by name to its own channel', async () => {
    const project = await tempProject();
    const id = uid();
    await mkdir(path.join(project.dir, 'src/events'), { recursive: true });
    await writeFile(
      path.join(project.dir, 'broadcast.config.ts'),
      `import { defineConfig } from 'pusher-broadcast';
export default defineConfig({ eventsDir: 'src/events' });
`,
    );
    await writeFile(
      path.join(project.dir, 'src/events/OrderShipped.ts'),
      `import { CanBroadcast, PrivateChannel } from 'pusher-broadcast';
export class OrderShipped extends CanBroadcast {
  declare orderId: string;
  broadcastOn() { return new PrivateChannel(\`orders.\${this.orderId}\`); }
  override broadcastAs() { return 'order.shipped'; }
}
`,
    );
    const listener = await listen(server);
    await listener.subscribe(`private-orders.${id}`);
    try {
      const r = await runCli(['emit', 'OrderShipped', '--data', JSON.stringify({ orderId: id }), '--json'], { cwd: project.dir, env: server.env });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ event: 'order.shipped', channels: [`private-orders.${id}`] });
      const [got] = await listener.waitFor(1, (e) => e.channel === `private-orders.${id}`);
      expect(got).toMatchObject({ event: 'order.shipped', data: { orderId: id } });

      const typo = await runCli(['emit', 'OrderShiped'], { cwd: project.dir, env: server.env });
      expect(typo.code).toBe(2);
      expect(typo.stderr).toContain('did you mean OrderShipped?');
      expect(typo.stderr).toContain('broadcast emit OrderShiped <event>');
    } finally {
      listener.disconnect();
      await project.cleanup();
    }
  });

  it('a config file that fails to load exits 2 naming the file and the cause', async () => {
    const project = await tempProject();
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), `throw new Error('boom from config');\n`);
    try {
      const r = await runCli(['emit', 'a', 'b'], { cwd: project.dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('Could not load broadcast.config.ts: boom from config');
    } finally {
      await project.cleanup();
    }
  });

  it('--config picks a file explicitly; a missing one is a config error', async () => {
    const dir = await configWith({ default: 'null' });
    const ok = await runCli(['emit', 'a', 'b', '--config', 'broadcast.config.json', '--json'], { cwd: dir });
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, connection: 'null', driver: 'null' });
    const missing = await runCli(['emit', 'a', 'b', '--config', 'nope.ts'], { cwd: dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('Could not load');
    expect(missing.stderr).toContain('nope.ts');
  });
});

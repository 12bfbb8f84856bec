/**
 * `broadcast config`: the resolved configuration with the source of each value, secrets masked; a connection
 * that cannot be used is a `config` error (exit 2) with the rest of the answer beside it. The connection in use:
 * its timeout, retries and payload limit, its server profile and limits; REVERB_* and BROADCAST_DRIVER. Also what only the real
 * binary shows: configs using `import.meta.resolve` or top-level `await`, and many CLIs started at once right
 * after a config change, all sharing the transpile cache.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../helpers/cli.js';
import { describe, expect, inject, test } from '../helpers/fixtures.js';
import { listen } from '../helpers/listener.js';
import { runMain } from '../helpers/main.js';
import { jsonOf } from '../helpers/schema.js';
import type { SoketiServer } from '../helpers/soketi.js';

const SECRET = 'config-test-secret-4711';
const server = inject('soketi') as SoketiServer;

const CONFIG = `import { defineConfig } from 'pusher-broadcast';

export default defineConfig({
  default: 'staging',
  connections: {
    staging: { driver: 'pusher', appId: '7', key: 'staging-key', secret: '${SECRET}', host: '127.0.0.1', port: 6001, scheme: 'http' },
    quiet: { driver: 'null' },
  },
  eventsDir: 'app/events',
  auth: { route: '/api/auth', middleware: ['web'] },
  channels: { 'orders.{orderId}': () => true },
});
`;

describe('broadcast config', () => {
  test('--json: each value with its source, secrets masked', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), CONFIG);
    const r = await runMain(['config', '--json'], { cwd: project.dir, env: { PUSHER_APP_KEY: 'from-env' } });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain(SECRET);
    const view = jsonOf('config', r.stdout);
    expect(view).toMatchObject({
      ok: true,
      configFile: path.join(project.dir, 'broadcast.config.ts'),
      connection: { name: 'staging', source: 'config' },
      eventsDir: { value: 'app/events', source: 'config' },
      auth: { route: { value: '/api/auth', source: 'config' }, middleware: ['web'] },
      channels: ['orders.{orderId}'],
      events: [],
    });
    expect(view.connections.staging).toMatchObject({
      appId: { value: '7', source: 'config' },
      secret: { value: `[set, ${SECRET.length} characters]`, source: 'config' },
      port: { value: 6001, source: 'config' },
    });
    expect(view.connections.staging.host).toEqual({ value: '127.0.0.1', source: 'config', from: 'connections.staging.host in broadcast.config.ts' });
    // PUSHER_* build the `pusher` connection; the built-in ones are always there.
    expect(view.connections.pusher).toEqual({ driver: { value: 'pusher', source: 'default' }, key: { value: 'from-env', source: 'env', from: 'PUSHER_APP_KEY' } });
    expect(Object.keys(view.connections).sort()).toEqual(['log', 'null', 'pusher', 'quiet', 'staging']);
  });

  test('for a person: the file, the connection in use, and each field with its source', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), CONFIG);
    const r = await runMain(['config', '--connection', 'quiet'], { cwd: project.dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^config file {3}.*broadcast\.config\.ts$/m);
    expect(r.stdout).toMatch(/^connection {4}quiet {2}\(from flag\)$/m);
    expect(r.stdout).toMatch(/^quiet {2}\(in use\)$/m);
    expect(r.stdout).toMatch(/^ {2}secret +\[set, 23 characters\] +config$/m);
    expect(r.stdout).toMatch(/^ {2}maxPayloadKb +10 +default \(the pusher server's\)$/m);
    expect(r.stdout).toMatch(/^channel rules orders\.\{orderId\}$/m);
    expect(r.stdout).not.toContain(SECRET);
  });

  test('no config file: environment and defaults', async ({ project }) => {
    const r = await runMain(['config', '--json'], { cwd: project.dir });
    expect(r.code).toBe(0);
    expect(jsonOf('config', r.stdout)).toMatchObject({ ok: true, configFile: null, connection: { name: 'log', source: 'default' } });
  });

  test('a connection that cannot be used: a config error, exit 2, with the rest of the answer', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), CONFIG);
    const unknown = await runMain(['config', '--json', '--connection', 'prod'], { cwd: project.dir });
    expect(unknown.code).toBe(2);
    const view = jsonOf('config', unknown.stdout);
    expect(view).toMatchObject({
      ok: false,
      connection: { name: 'prod' },
      error: { code: 'config', message: 'Unknown connection "prod" (from --connection)', hint: 'Known connections: log, null, staging, quiet', exitCode: 2 },
    });
    expect(view.connection.source).toBeUndefined();
    expect(Object.keys(view.connections)).toContain('staging');

    const incomplete = await runMain(['config', '--json'], { cwd: project.dir, env: { BROADCAST_CONNECTION: 'pusher', PUSHER_APP_KEY: 'k' } });
    expect(incomplete.code).toBe(2);
    expect(jsonOf('config', incomplete.stdout)).toMatchObject({ ok: false, connection: { name: 'pusher' }, error: { code: 'config', message: 'Connection "pusher" is missing appId, secret' } });

    const text = await runMain(['config', '--connection', 'prod'], { cwd: project.dir });
    expect(text.code).toBe(2);
    expect(text.stdout).toMatch(/^connection {4}prod {2}\(cannot be used\)$/m);
    expect(text.stderr).toBe('error: Unknown connection "prod" (from --connection)\n  hint: Known connections: log, null, staging, quiet\n');
  });

  test('a config that cannot be loaded: a config error naming the file', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.json'), `{"connections": {"p": {"secret": ${SECRET}}}}`);
    const r = await runMain(['config', '--json'], { cwd: project.dir });
    expect(r.code).toBe(2);
    expect(jsonOf('config', r.stdout)).toEqual({
      ok: false,
      error: {
        code: 'config',
        message: 'Could not load broadcast.config.json: Unexpected character (JSON syntax error at line 1, column 34)',
        details: { file: 'broadcast.config.json', line: 1, column: 34, kind: 'JSON syntax error' },
        exitCode: 2,
      },
    });
    expect(r.stdout + r.stderr).not.toContain(SECRET);
  });
});

describe('what the connection in use will do: timeout, retries, payload limit, server profile and limits', () => {
  const TIMED = `export default {
  default: 'staging',
  connections: {
    staging: { driver: 'pusher', appId: '7', key: 'k', secret: '${SECRET}', host: '127.0.0.1', scheme: 'http', timeout: 2500 },
    local: { driver: 'pusher', appId: '7', key: 'k', secret: '${SECRET}', host: '127.0.0.1', server: 'soketi', maxPayloadKb: 64, limits: { channelNameLength: 250 } },
  },
};
`;

  test('each value from the flag, else the environment, else the config, else the default, with where it came from', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), TIMED);
    const plain = jsonOf('config', (await runMain(['config', '--json'], { cwd: project.dir })).stdout);
    expect(plain.effective).toEqual({
      server: { value: 'pusher', source: 'default', from: expect.stringMatching(/^127\.0\.0\.1 is not a Pusher Channels host: set server to "soketi" or "reverb"/) },
      timeout: { value: 2500, source: 'config', from: 'connections.staging.timeout in broadcast.config.ts' },
      retries: { value: 4, source: 'default' },
      maxPayloadKb: { value: 10, source: 'default', from: "the pusher server's" },
      channelNameLength: { value: 164, source: 'default', from: "the pusher server's" },
      eventNameLength: { value: 200, source: 'default', from: "the pusher server's" },
      channelsPerTrigger: { value: 100, source: 'default', from: "the pusher server's" },
      eventsPerBatch: { value: 10, source: 'default', from: "the pusher server's" },
      requestBytes: { value: null, source: 'default', from: "the pusher server's" },
    });
    const env = { BROADCAST_MAX_PAYLOAD_KB: '100' };
    const fromEnv = jsonOf('config', (await runMain(['config', '--json'], { cwd: project.dir, env })).stdout);
    expect(fromEnv.effective.maxPayloadKb).toEqual({ value: 100, source: 'env', from: 'BROADCAST_MAX_PAYLOAD_KB' });
    const flags = ['config', '--json', '--timeout', '3s', '--retries', '1', '--max-payload-kb', '50'];
    const fromFlags = jsonOf('config', (await runMain(flags, { cwd: project.dir, env })).stdout);
    expect(fromFlags.effective).toMatchObject({
      timeout: { value: 3000, source: 'flag', from: '--timeout' },
      retries: { value: 1, source: 'flag', from: '--retries' },
      maxPayloadKb: { value: 50, source: 'flag', from: '--max-payload-kb' },
    });
    const text = await runMain(['config', '--timeout', '3s'], { cwd: project.dir });
    expect(text.stdout).toMatch(/^ {2}timeout +3s +flag --timeout$/m);
    expect(text.stdout).toMatch(/^ {2}retries +4 +default$/m);
    expect(text.stdout).toMatch(/^ {2}maxPayloadKb +10 +default \(the pusher server's\)$/m);
  });

  test("a connection's server profile sets its limits, and its own maxPayloadKb and limits override them", async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), TIMED);
    const view = jsonOf('config', (await runMain(['config', '--json', '--connection', 'local'], { cwd: project.dir })).stdout);
    expect(view.effective).toMatchObject({
      server: { value: 'soketi', source: 'config', from: 'connections.local.server in broadcast.config.ts' },
      maxPayloadKb: { value: 64, source: 'config', from: 'connections.local.maxPayloadKb in broadcast.config.ts' },
      channelNameLength: { value: 250, source: 'config', from: 'connections.local.limits in broadcast.config.ts' },
      eventNameLength: { value: 200, source: 'default', from: "the soketi server's" },
    });
    const reverb = jsonOf('config', (await runMain(['config', '--json'], { cwd: project.dir, env: { BROADCAST_SERVER: 'reverb' } })).stdout);
    expect(reverb.effective).toMatchObject({
      server: { value: 'reverb', source: 'env', from: 'BROADCAST_SERVER' },
      maxPayloadKb: { value: 9, source: 'default', from: "the reverb server's" },
      requestBytes: { value: 10_000, source: 'default', from: "the reverb server's" },
    });
    // What is checked before sending follows the profile: 9.5 KB is too much for Reverb, fine for Pusher Channels.
    const data = JSON.stringify({ blob: 'x'.repeat(9_500) });
    const refused = await runMain(['emit', 'orders', 'e', '--data', data, '--dry-run'], { cwd: project.dir, env: { BROADCAST_SERVER: 'reverb' } });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('the limit for this connection is 9216 bytes (9 KB)');
    expect((await runMain(['emit', 'orders', 'e', '--data', data, '--dry-run'], { cwd: project.dir })).code).toBe(0);
  });

  test('BROADCAST_SERVER=soketi against a real soketi: 50 KB events are delivered, refused by default', async ({ uid }) => {
    const data = JSON.stringify({ blob: 'x'.repeat(50_000) });
    const channel = `profile-${uid}`;
    const to = await listen(server);
    try {
      await to.subscribe(channel);
      const capped = await runMain(['emit', channel, 'big', '--data', data, '--json'], { env: server.env });
      expect(capped.code).toBe(2);
      const soketi = await runMain(['emit', channel, 'big', '--data', data, '--json'], { env: { ...server.env, BROADCAST_SERVER: 'soketi' } });
      expect(soketi.code, soketi.stderr).toBe(0);
      expect(jsonOf('emit', soketi.stdout)).toMatchObject({ delivered: true });
      expect((await to.waitFor(1))[0]!.event).toBe('big');
    } finally {
      to.disconnect();
    }
  });
});

describe("Reverb's environment (REVERB_*)", () => {
  const REVERB_SECRET = 'reverb-secret-9081';
  const reverbEnv = () => ({
    REVERB_APP_ID: server.appId,
    REVERB_APP_KEY: server.key,
    REVERB_APP_SECRET: server.secret,
    REVERB_HOST: '127.0.0.1',
    REVERB_PORT: String(server.port),
    REVERB_SCHEME: 'http',
  });

  test('defines the "reverb" connection: config shows where each value came from, and events arrive', async ({ uid }) => {
    const env = reverbEnv();
    const view = jsonOf('config', (await runMain(['config', '--json'], { env })).stdout);
    expect(view.connection).toEqual({ name: 'reverb', source: 'default', from: 'a "reverb" connection exists' });
    expect(view.connections.reverb).toMatchObject({
      appId: { value: server.appId, source: 'env', from: 'REVERB_APP_ID' },
      secret: { value: `[set, ${server.secret.length} characters]`, source: 'env', from: 'REVERB_APP_SECRET' },
      port: { value: server.port, source: 'env', from: 'REVERB_PORT' },
    });
    expect(view.effective.server).toEqual({ value: 'reverb', source: 'default', from: 'the "reverb" connection' });
    // soketi speaks the same protocol as Reverb: the connection really sends.
    const channel = `reverb-${uid}`;
    const to = await listen(server);
    try {
      await to.subscribe(channel);
      const r = await runMain(['emit', channel, 'from.reverb', '--json'], { env });
      expect(r.code, r.stderr).toBe(0);
      expect(jsonOf('emit', r.stdout)).toMatchObject({ connection: 'reverb', delivered: true });
      expect((await to.waitFor(1))[0]!.event).toBe('from.reverb');
    } finally {
      to.disconnect();
    }
  });

  test('BROADCAST_CONNECTION picks between pusher and reverb; BROADCAST_DRIVER is read when it is not set, with a note', async () => {
    const env = { ...server.env, ...reverbEnv() };
    expect(jsonOf('config', (await runMain(['config', '--json'], { env })).stdout).connection.name).toBe('pusher');
    expect(jsonOf('config', (await runMain(['config', '--json'], { env: { ...env, BROADCAST_CONNECTION: 'reverb' } })).stdout).connection).toEqual({
      name: 'reverb',
      source: 'env',
      from: 'BROADCAST_CONNECTION',
    });
    const legacy = jsonOf('config', (await runMain(['config', '--json'], { env: { ...env, BROADCAST_DRIVER: 'reverb' } })).stdout);
    expect(legacy.connection).toEqual({ name: 'reverb', source: 'env', from: 'BROADCAST_DRIVER' });
    expect(legacy.notes).toEqual([expect.stringMatching(/^BROADCAST_DRIVER=reverb chose the connection \(Laravel 10 and earlier\)/)]);
    const text = await runMain(['emit', 'orders', 'e', '--dry-run'], { env: { ...env, BROADCAST_DRIVER: 'reverb' } });
    expect(text.code).toBe(0);
    expect(text.stderr).toMatch(/^note: BROADCAST_DRIVER=reverb chose the connection/m);
    const both = jsonOf('config', (await runMain(['config', '--json'], { env: { ...env, BROADCAST_DRIVER: 'reverb', BROADCAST_CONNECTION: 'pusher' } })).stdout);
    expect(both).toMatchObject({ connection: { name: 'pusher' }, notes: [] });
  });

  test('REVERB_APP_SECRET is never printed', async () => {
    const env = { ...reverbEnv(), REVERB_APP_SECRET: REVERB_SECRET };
    const r = await runMain(['emit', REVERB_SECRET, 'e', '--connection', 'log'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('[redacted]');
    const view = await runMain(['config'], { env });
    expect(r.stdout + r.stderr + view.stdout + view.stderr).not.toContain(REVERB_SECRET);
  });
});

describe('configs only jiti itself could load before (through the binary)', () => {
  const cases = [
    {
      name: 'import.meta.resolve',
      file: 'broadcast.config.ts',
      source: "import { defineConfig } from 'pusher-broadcast';\nconst entry: string = import.meta.resolve('pusher-broadcast');\nexport default defineConfig({ eventsDir: entry.startsWith('file://') ? 'resolved' : entry });\n",
      eventsDir: 'resolved',
    },
    {
      name: 'top-level await',
      file: 'broadcast.config.mts',
      source: "const { setTimeout: sleep } = await import('node:timers/promises');\nconst dir: string = await sleep(5, 'awaited');\nexport default { eventsDir: dir };\n",
      eventsDir: 'awaited',
    },
  ];
  test.for(cases)('$name', async ({ file, source, eventsDir }, { project }) => {
    await writeFile(path.join(project.dir, file), source);
    for (const run of ['cold', 'cached']) {
      const r = await runCli(['config', '--json'], { cwd: project.dir });
      expect(r.stderr, run).toBe('');
      expect(r.code, run).toBe(0);
      expect(jsonOf('config', r.stdout).eventsDir, run).toEqual({ value: eventsDir, source: 'config' });
    }
  });
});

describe('many CLIs at once', () => {
  test('20 started together right after each config change all load it', { timeout: 120_000 }, async ({ project }) => {
    const file = path.join(project.dir, 'broadcast.config.ts');
    for (let round = 1; round <= 3; round++) {
      await writeFile(file, `import { defineConfig } from 'pusher-broadcast';\nexport default defineConfig({ eventsDir: 'round-${round}' as string });\n`);
      const runs = await Promise.all(Array.from({ length: 20 }, () => runCli(['config', '--json'], { cwd: project.dir, timeoutMs: 90_000 })));
      for (const r of runs) {
        expect(r.stderr, `round ${round}`).toBe('');
        expect(r.code, `round ${round}`).toBe(0);
        expect(jsonOf('config', r.stdout).eventsDir.value).toBe(`round-${round}`);
      }
    }
  });
});

/**
 * `broadcast config`: the resolved configuration with the source of each value, secrets masked; a connection
 * that cannot be used is a `config` error (exit 2) with the rest of the answer beside it. Also what only the real
 * binary shows: configs using `import.meta.resolve` or top-level `await`, and many CLIs started at once right
 * after a config change, all sharing the transpile cache.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../helpers/cli.js';
import { describe, expect, test } from '../helpers/fixtures.js';
import { runMain } from '../helpers/main.js';
import { jsonOf } from '../helpers/schema.js';

const SECRET = 'config-test-secret-4711';

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
    // PUSHER_* build the `pusher` connection; the built-in ones are always there.
    expect(view.connections.pusher).toEqual({ driver: { value: 'pusher', source: 'default' }, key: { value: 'from-env', source: 'env' } });
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
    expect(jsonOf('config', r.stdout)).toEqual({ ok: false, error: { code: 'config', message: expect.stringMatching(/^Could not load broadcast\.config\.json: /), exitCode: 2 } });
    expect(r.stdout + r.stderr).not.toContain(SECRET);
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

/**
 * `broadcast init` in throwaway folders: what it writes, that the result loads and works at once, and that
 * it never overwrites a config without --force.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { BIN, ROOT, cleanEnv, runCli } from '../helpers/cli.js';
import { describe, expect, inject, test } from '../helpers/fixtures.js';
import { listen } from '../helpers/listener.js';
import { runMain } from '../helpers/main.js';
import { jsonOf } from '../helpers/schema.js';
import { LOCAL_SOKETI } from '../../src/cli/scaffold.js';
import type { SoketiServer } from '../helpers/soketi.js';
import { openTerminal } from '../helpers/terminal.js';

const server = inject('soketi') as SoketiServer;
const exec = promisify(execFile);

describe('init in a fresh folder', () => {
  test('writes broadcast.config.ts and .env.example that `broadcast config` reads, and that type-check (built binary)', async ({ project }) => {
    const r = await runCli(['init', '--yes'], { cwd: project.dir });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('created broadcast.config.ts');
    expect(r.stdout).toContain('created .env.example');
    expect(r.stdout).toContain(`${LOCAL_SOKETI.join('\n')}\n`);
    // The fixture links the package without npm's .bin, so `npx broadcast` would not find it: the path it is.
    expect(r.stdout).toContain(`check the config:     node ${BIN} config\n`);
    const config = await readFile(path.join(project.dir, 'broadcast.config.ts'), 'utf8');
    expect(config).toContain("import type { BroadcastConfig } from 'pusher-broadcast';");
    expect(config).not.toMatch(/^import (?!type )/m);
    const env = await readFile(path.join(project.dir, '.env.example'), 'utf8');
    for (const name of ['PUSHER_APP_ID', 'PUSHER_APP_KEY', 'PUSHER_APP_SECRET', 'PUSHER_HOST', 'PUSHER_PORT', 'PUSHER_SCHEME']) {
      expect(env).toMatch(new RegExp(`^${name}=`, 'm'));
    }

    const shown = await runMain(['config', '--json'], { cwd: project.dir });
    expect(shown.code).toBe(0);
    const view = JSON.parse(shown.stdout);
    expect(view.configFile).toBe(path.join(project.dir, 'broadcast.config.ts'));
    expect(view.connection).toEqual({ name: 'pusher', source: 'config', from: '"default" in broadcast.config.ts' });
    expect(view.connections.pusher).toMatchObject({
      driver: { value: 'pusher', source: 'config' },
      appId: { value: 'app-id', source: 'config' },
      key: { value: 'app-key', source: 'config' },
      secret: { value: '[set, 10 characters]', source: 'config' },
      host: { value: '127.0.0.1', source: 'config' },
      port: { value: 6001, source: 'config' },
      scheme: { value: 'http', source: 'config' },
    });
    expect(view.eventsDir).toEqual({ value: 'src/events', source: 'config' });
    expect(view.auth.route).toEqual({ value: '/broadcasting/authorize', source: 'config' });

    await mkdir(path.join(project.dir, 'node_modules/@types'), { recursive: true });
    await symlink(path.join(ROOT, 'node_modules/@types/node'), path.join(project.dir, 'node_modules/@types/node'), 'dir');
    const tsc = path.join(ROOT, 'node_modules/.bin/tsc');
    const args = ['--strict', '--noEmit', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', 'broadcast.config.ts'];
    const checked = await exec(tsc, args, { cwd: project.dir }).then(() => '', (e: { stdout: string }) => e.stdout || 'tsc failed');
    expect(checked).toBe('');
  });

  test('works at once: with PUSHER_* set, make:event and emit deliver through the written config', async ({ project, uid }) => {
    const listener = await listen(server);
    try {
      expect((await runMain(['init', '--yes'], { cwd: project.dir })).code).toBe(0);
      expect((await runMain(['make:event', 'Hello', '--public', '--channel', `hello-${uid}`], { cwd: project.dir })).code).toBe(0);
      await listener.subscribe(`hello-${uid}`);
      const r = await runMain(['emit', 'Hello', '--data', '{"who":"world"}'], { cwd: project.dir, env: server.env });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const [got] = await listener.waitFor(1, (e) => e.channel === `hello-${uid}`);
      expect(got).toEqual({ channel: `hello-${uid}`, event: 'Hello', data: { who: 'world' } });
    } finally {
      listener.disconnect();
    }
  });

  test('without a terminal it never prompts: it takes the soketi defaults, and --json says what it wrote', async ({ project }) => {
    const r = await runMain(['init', '--json'], { cwd: project.dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(jsonOf('init', r.stdout)).toEqual({
      ok: true,
      files: [
        { file: 'broadcast.config.ts', written: true, overwritten: false },
        { file: '.env.example', written: true, overwritten: false },
      ],
      server: 'soketi',
      connection: { appId: 'app-id', key: 'app-key', host: '127.0.0.1', port: 6001, scheme: 'http' },
      eventsDir: 'src/events',
      authRoute: '/broadcasting/authorize',
      packageInstalled: true,
      cli: `node ${BIN}`,
    });
  });

  test('without a terminal and without --yes it says it took the defaults', async ({ project }) => {
    const r = await runMain(['init'], { cwd: project.dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('no terminal to ask in: using the defaults for a local soketi');
    expect(r.stdout).toContain('created broadcast.config.ts');
  });

  test('--config writes elsewhere, and the next steps name it', async ({ project }) => {
    const r = await runMain(['--config', 'config/broadcast.config.ts', 'init', '--yes'], { cwd: project.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('created config/broadcast.config.ts');
    expect(r.stdout).toContain('created config/.env.example');
    expect(r.stdout).toContain(`check the config:     node ${BIN} --config config/broadcast.config.ts config\n`);
    expect(r.stdout).toContain(`create an event:      node ${BIN} --config config/broadcast.config.ts make:event OrderShipped\n`);
    expect(await readFile(path.join(project.dir, 'config/broadcast.config.ts'), 'utf8')).toContain('defineConfig');
  });

  test('in an application without the package (run from a clone): the config loads, and every next step runs as printed (built binary)', async ({ project }) => {
    await rm(path.join(project.dir, 'node_modules'), { recursive: true });
    const r = await runCli(['init', '--yes'], { cwd: project.dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('warning: pusher-broadcast is not installed in this application. The config loads without it');
    expect(r.stderr).toContain(`    npm install --save-dev ${ROOT}\n`);

    const shown = await runMain(['config', '--json'], { cwd: project.dir });
    expect(shown.stderr).toBe('');
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ configFile: path.join(project.dir, 'broadcast.config.ts'), connection: { name: 'pusher', source: 'config' } });

    const steps = r.stdout.slice(r.stdout.indexOf('next:\n') + 'next:\n'.length).trim().split('\n');
    expect(steps.map((line) => line.replace(/:.*/, '').trim())).toEqual(['check the config', 'create an event']);
    for (const step of steps) {
      const command = step.replace(/^[^:]+:\s+/, '');
      const ran = await exec('sh', ['-c', command], { cwd: project.dir, env: cleanEnv() }).then(
        () => 0,
        (e: { code: number; stderr: string }) => `${command}: exit ${e.code}: ${e.stderr}`,
      );
      expect(ran).toBe(0);
    }
    expect(await readFile(path.join(project.dir, 'src/events/OrderShipped.ts'), 'utf8')).toContain('class OrderShipped');

    const json = await runMain(['init', '--yes', '--force', '--json'], { cwd: project.dir });
    expect(jsonOf('init', json.stdout)).toMatchObject({ ok: true, packageInstalled: false, cli: `node ${BIN}`, install: `npm install --save-dev ${ROOT}` });
  });

  test('where npm installed the package, the next steps use npx broadcast', async ({ project }) => {
    await mkdir(path.join(project.dir, 'node_modules/.bin'));
    await symlink('../pusher-broadcast/bin/broadcast.js', path.join(project.dir, 'node_modules/.bin/broadcast'));
    const r = await runMain(['init', '--yes'], { cwd: project.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('check the config:     npx broadcast config\n');
    expect(r.stdout).toContain('create an event:      npx broadcast make:event OrderShipped\n');
    const checked = await exec('sh', ['-c', 'npx broadcast config'], { cwd: project.dir, env: cleanEnv() }).then(() => 0, (e: { code: number }) => e.code);
    expect(checked).toBe(0);
  });

  test('the local-soketi instructions it prints are the ones docs/scaffolding.md shows', async () => {
    const docs = await readFile(path.join(ROOT, 'docs/scaffolding.md'), 'utf8');
    expect(docs).toContain(`\n${LOCAL_SOKETI.join('\n')}\n`);
  });
});

describe('init refuses to overwrite', () => {
  test('an existing broadcast.config.ts without --force (exit 2, unchanged); --force replaces it', async ({ project }) => {
    const file = path.join(project.dir, 'broadcast.config.ts');
    await writeFile(file, 'export default {};\n');
    await writeFile(path.join(project.dir, '.env.example'), 'MINE=1\n');
    const r = await runCli(['init', '--yes', '--json'], { cwd: project.dir });
    expect(r.code).toBe(2);
    expect(jsonOf('init', r.stdout)).toMatchObject({ ok: false, error: { code: 'usage', message: 'broadcast.config.ts already exists; nothing was written', exitCode: 2 } });
    expect(r.stderr).toContain('Use --force to overwrite it');
    expect(await readFile(file, 'utf8')).toBe('export default {};\n');
    expect(await readFile(path.join(project.dir, '.env.example'), 'utf8')).toBe('MINE=1\n');

    const forced = await runMain(['init', '--yes', '--force'], { cwd: project.dir });
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain('overwrote broadcast.config.ts');
    expect(forced.stdout).toContain('overwrote .env.example');
    expect(await readFile(file, 'utf8')).toContain('defineConfig');
  });

  test('keeps an existing .env.example when writing a new config', async ({ project }) => {
    await writeFile(path.join(project.dir, '.env.example'), 'MINE=1\n');
    const r = await runMain(['init', '--yes', '--json'], { cwd: project.dir });
    expect(r.code).toBe(0);
    expect(jsonOf('init', r.stdout).files[1]).toEqual({ file: '.env.example', written: false, overwritten: false });
    const human = await runMain(['init', '--yes', '--force'], { cwd: project.dir });
    expect(human.stdout).toContain('overwrote .env.example');
    await writeFile(path.join(project.dir, '.env.example'), 'MINE=1\n');
    await rm(path.join(project.dir, 'broadcast.config.ts'));
    const kept = await runMain(['init', '--yes'], { cwd: project.dir });
    expect(kept.stdout).toContain('kept the existing .env.example');
    expect(await readFile(path.join(project.dir, '.env.example'), 'utf8')).toBe('MINE=1\n');
  });

  test('with --connection, which it would ignore (exit 2, nothing written)', async ({ project }) => {
    const r = await runMain(['init', '--yes', '--connection', 'log', '--json'], { cwd: project.dir });
    expect(r.code).toBe(2);
    expect(jsonOf('init', r.stdout)).toMatchObject({ ok: false, error: { code: 'usage', message: 'init uses no connection: --connection "log" would be ignored', exitCode: 2 } });
    expect((await readdir(project.dir)).sort()).toEqual(['node_modules', 'package.json']);
  });

  test('when another config file would be read instead (exit 2, even with --force)', async ({ project }) => {
    await writeFile(path.join(project.dir, '.broadcastrc.json'), '{}');
    const r = await runMain(['init', '--yes', '--force', '--json'], { cwd: project.dir });
    expect(r.code).toBe(2);
    expect(jsonOf('init', r.stdout)).toMatchObject({ ok: false, error: { code: 'usage', exitCode: 2 } });
    expect(r.stderr).toContain('.broadcastrc.json already configures broadcast here');
    expect((await readdir(project.dir)).sort()).toEqual(['.broadcastrc.json', 'node_modules', 'package.json']);
  });
});

describe('init in a terminal (tmux)', () => {
  test('asks for the server and connection details; the answers end up in the config', async ({ project }) => {
    const term = await openTerminal(`${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} init`, { cwd: project.dir, env: cleanEnv() });
    try {
      await term.waitFor(/Server[\s\S]*❯ soketi/);
      await term.send('Down', 'Down');
      await term.waitFor(/❯ Pusher Channels/);
      await term.send('Enter');
      await term.waitFor(/Cluster \(mt1\)/);
      await term.type('eu');
      await term.send('Enter');
      await term.waitFor(/App ID \(app-id\)/);
      await term.type('12345');
      await term.send('Enter');
      await term.waitFor(/App key \(app-key\)/);
      await term.send('Enter');
      await term.waitFor(/Folder for event classes \(src\/events\)/);
      await term.send('Enter');
      const screen = await term.waitFor(/EXIT=\d+/);
      expect(screen).toContain('EXIT=0');
      expect(screen).toContain('created broadcast.config.ts');
      expect(screen).toContain('Set PUSHER_APP_SECRET in the environment');
    } finally {
      await term.close();
    }
    const config = await readFile(path.join(project.dir, 'broadcast.config.ts'), 'utf8');
    expect(config).toContain("cluster: process.env.PUSHER_APP_CLUSTER ?? 'eu',");
    expect(config).toContain("secret: process.env.PUSHER_APP_SECRET ?? '',");
    const r = await runMain(['config', '--json'], { cwd: project.dir, env: { PUSHER_APP_SECRET: 'from-the-environment' } });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).connections.pusher).toMatchObject({
      appId: { value: '12345', source: 'config' },
      cluster: { value: 'eu', source: 'config' },
      secret: { value: '[set, 20 characters]', source: 'env' },
    });
  });

  test('Ctrl+C at a question stops with exit 130 and writes nothing', async ({ project }) => {
    const term = await openTerminal(`${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} init`, { cwd: project.dir, env: cleanEnv() });
    try {
      await term.waitFor(/Server[\s\S]*❯ soketi/);
      await term.send('C-c');
      const screen = await term.waitFor(/EXIT=\d+/);
      expect(screen).toContain('EXIT=130');
      expect(screen).toContain('error: cancelled; nothing was written');
    } finally {
      await term.close();
    }
    expect((await readdir(project.dir)).sort()).toEqual(['node_modules', 'package.json']);
  });
});

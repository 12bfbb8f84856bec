/**
 * `broadcast init` in throwaway folders: what it writes, that the result loads and works at once, and that
 * it never overwrites a config without --force.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { BIN, ROOT, cleanEnv, runCli, tempProject } from '../helpers/cli.js';
import { listen } from '../helpers/listener.js';
import type { SoketiServer } from '../helpers/soketi.js';
import { openTerminal } from '../helpers/terminal.js';

const server = inject('soketi') as SoketiServer;
const exec = promisify(execFile);

describe('init in a fresh folder', () => {
  it('writes broadcast.config.ts and .env.example that `broadcast config` reads, and that type-check', async () => {
    const p = await tempProject();
    try {
      const r = await runCli(['init', '--yes'], { cwd: p.dir });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('created broadcast.config.ts');
      expect(r.stdout).toContain('created .env.example');
      expect(r.stdout).toContain('npx @soketi/soketi start');
      const config = await readFile(path.join(p.dir, 'broadcast.config.ts'), 'utf8');
      expect(config).toContain("import { defineConfig } from 'pusher-broadcast';");
      const env = await readFile(path.join(p.dir, '.env.example'), 'utf8');
      for (const name of ['PUSHER_APP_ID', 'PUSHER_APP_KEY', 'PUSHER_APP_SECRET', 'PUSHER_HOST', 'PUSHER_PORT', 'PUSHER_SCHEME']) {
        expect(env).toMatch(new RegExp(`^${name}=`, 'm'));
      }

      const shown = await runCli(['config', '--json'], { cwd: p.dir });
      expect(shown.code).toBe(0);
      const view = JSON.parse(shown.stdout);
      expect(view.configFile).toBe(path.join(p.dir, 'broadcast.config.ts'));
      expect(view.connection).toEqual({ name: 'pusher', source: 'config' });
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

      await mkdir(path.join(p.dir, 'node_modules/@types'), { recursive: true });
      await symlink(path.join(ROOT, 'node_modules/@types/node'), path.join(p.dir, 'node_modules/@types/node'), 'dir');
      const tsc = path.join(ROOT, 'node_modules/.bin/tsc');
      const args = ['--strict', '--noEmit', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', 'broadcast.config.ts'];
      const checked = await exec(tsc, args, { cwd: p.dir }).then(() => '', (e: { stdout: string }) => e.stdout || 'tsc failed');
      expect(checked).toBe('');
    } finally {
      await p.cleanup();
    }
  });

  it('works at once: with PUSHER_* set, make:event and emit deliver through the written config', async () => {
    const p = await tempProject();
    const listener = await listen(server);
    const id = Math.random().toString(36).slice(2, 10);
    try {
      expect((await runCli(['init', '--yes'], { cwd: p.dir })).code).toBe(0);
      expect((await runCli(['make:event', 'Hello', '--public', '--channel', `hello-${id}`], { cwd: p.dir })).code).toBe(0);
      await listener.subscribe(`hello-${id}`);
      const r = await runCli(['emit', 'Hello', '--data', '{"who":"world"}'], { cwd: p.dir, env: server.env });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const [got] = await listener.waitFor(1, (e) => e.channel === `hello-${id}`);
      expect(got).toEqual({ channel: `hello-${id}`, event: 'Hello', data: { who: 'world' } });
    } finally {
      listener.disconnect();
      await p.cleanup();
    }
  });

  it('without a terminal it never prompts: it takes the soketi defaults and says so', async () => {
    const p = await tempProject();
    try {
      const r = await runCli(['init', '--json'], { cwd: p.dir, timeoutMs: 10_000 });
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({
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
      });
      const plain = await tempProject();
      try {
        const noted = await runCli(['init'], { cwd: plain.dir, timeoutMs: 10_000 });
        expect(noted.code).toBe(0);
        expect(noted.stderr).toContain('no terminal to ask in: using the defaults for a local soketi');
      } finally {
        await plain.cleanup();
      }
    } finally {
      await p.cleanup();
    }
  });
});

describe('init refuses to overwrite', () => {
  it('an existing broadcast.config.ts without --force (exit 2, unchanged); --force replaces it', async () => {
    const p = await tempProject();
    try {
      const file = path.join(p.dir, 'broadcast.config.ts');
      await writeFile(file, 'export default {};\n');
      await writeFile(path.join(p.dir, '.env.example'), 'MINE=1\n');
      const r = await runCli(['init', '--yes', '--json'], { cwd: p.dir });
      expect(r.code).toBe(2);
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { code: 'usage', message: 'broadcast.config.ts already exists; nothing was written' } });
      expect(r.stderr).toContain('Use --force to overwrite it');
      expect(await readFile(file, 'utf8')).toBe('export default {};\n');
      expect(await readFile(path.join(p.dir, '.env.example'), 'utf8')).toBe('MINE=1\n');

      const forced = await runCli(['init', '--yes', '--force'], { cwd: p.dir });
      expect(forced.code).toBe(0);
      expect(forced.stdout).toContain('overwrote broadcast.config.ts');
      expect(forced.stdout).toContain('overwrote .env.example');
      expect(await readFile(file, 'utf8')).toContain('defineConfig');
    } finally {
      await p.cleanup();
    }
  });

  it('keeps an existing .env.example when writing a new config', async () => {
    const p = await tempProject();
    try {
      await writeFile(path.join(p.dir, '.env.example'), 'MINE=1\n');
      const r = await runCli(['init', '--yes'], { cwd: p.dir });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('kept the existing .env.example');
      expect(await readFile(path.join(p.dir, '.env.example'), 'utf8')).toBe('MINE=1\n');
    } finally {
      await p.cleanup();
    }
  });

  it('when another config file would be read instead (exit 2, even with --force)', async () => {
    const p = await tempProject();
    try {
      await writeFile(path.join(p.dir, '.broadcastrc.json'), '{}');
      const r = await runCli(['init', '--yes', '--force'], { cwd: p.dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('.broadcastrc.json already configures broadcast here');
      expect((await readdir(p.dir)).sort()).toEqual(['.broadcastrc.json', 'node_modules', 'package.json']);
    } finally {
      await p.cleanup();
    }
  });
});

describe('init in a terminal (tmux)', () => {
  it('asks for the server and connection details; the answers end up in the config', async () => {
    const p = await tempProject();
    const term = await openTerminal(`${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} init`, { cwd: p.dir, env: cleanEnv() });
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
      expect(screen).toContain('export PUSHER_APP_SECRET=');
    } finally {
      await term.close();
    }
    try {
      const config = await readFile(path.join(p.dir, 'broadcast.config.ts'), 'utf8');
      expect(config).toContain("cluster: process.env.PUSHER_APP_CLUSTER ?? 'eu',");
      expect(config).toContain("secret: process.env.PUSHER_APP_SECRET ?? '',");
      const r = await runCli(['config', '--json'], { cwd: p.dir, env: { PUSHER_APP_SECRET: 'from-the-environment' } });
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).connections.pusher).toMatchObject({
        appId: { value: '12345', source: 'config' },
        cluster: { value: 'eu', source: 'config' },
        secret: { value: '[set, 20 characters]', source: 'env' },
      });
    } finally {
      await p.cleanup();
    }
  });
});

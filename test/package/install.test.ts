/**
 * The package as a user gets it: `npm pack`, then `npm install <tarball>` into a fresh application folder
 * (the dependencies from npm's cache where it has them, as the README's "before it is published" route), then the
 * CLI and the library used from there.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, ROOT } from '../helpers/cli.js';

const npm = (args: string[], cwd: string) =>
  spawnSync('npm', args, { cwd, encoding: 'utf8', env: cleanEnv({ npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' }) });

describe('npm pack, then npm install <tarball> in an application', () => {
  let work: string;
  let app: string;
  let tarball: string;
  let files: string[];

  beforeAll(() => {
    work = mkdtempSync(path.join(tmpdir(), 'broadcast-pack-'));
    // The build is current (npm test builds first); --ignore-scripts skips `prepare` rebuilding it.
    const packed = npm(['pack', '--json', '--ignore-scripts', '--pack-destination', work], ROOT);
    expect(packed.status, packed.stderr).toBe(0);
    const [info] = JSON.parse(packed.stdout) as [{ filename: string; files: { path: string }[] }];
    tarball = path.join(work, info.filename);
    files = info.files.map((f) => f.path);
    app = path.join(work, 'app');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'my-app', version: '1.0.0', private: true, type: 'module' }));
    // --prefer-offline: every tarball from npm's cache (filled by the project's own npm ci); only metadata the cache lacks is asked for.
    const installed = npm(['install', tarball, '--prefer-offline', '--no-audit', '--ignore-scripts'], app);
    expect(installed.status, installed.stderr).toBe(0);
  }, 120_000);

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('the tarball has the licence, the build, the schemas and every local file the README links to', () => {
    for (const file of ['LICENSE', 'README.md', 'CHANGELOG.md', 'package.json', 'bin/broadcast.js', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'schemas/error.json']) {
      expect(files).toContain(file);
    }
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const links = [...readme.matchAll(/\]\((?!https?:|#|mailto:)([^)#\s]+)/g)].map((m) => path.normalize(m[1]!));
    expect(links.length).toBeGreaterThan(0);
    for (const link of links) expect(files, `README links to ${link}`).toContain(link);
    expect(files.some((f) => f.startsWith('test/') || f.startsWith('src/'))).toBe(false);
  });

  const cli = (args: string[]) => spawnSync('npx', ['--no-install', 'broadcast', ...args], { cwd: app, encoding: 'utf8', env: cleanEnv() });

  it('npx broadcast init --yes, config and emit work in the application', () => {
    const init = cli(['init', '--yes']);
    expect(init.status, init.stderr).toBe(0);
    expect(existsSync(path.join(app, 'broadcast.config.ts'))).toBe(true);
    // npm linked the binary: the next steps use it by name, and say nothing about installing.
    expect(init.stdout).toContain('check the config:     npx broadcast config\n');
    expect(init.stderr).not.toContain('not installed');

    const config = cli(['config', '--json']);
    expect(config.status, config.stderr).toBe(0);
    expect(JSON.parse(config.stdout)).toMatchObject({ configFile: path.join(app, 'broadcast.config.ts') });

    const emit = cli(['emit', 'orders', 'order.shipped', '--data', '{"id":42}', '--connection', 'log', '--json']);
    expect(emit.status, emit.stderr).toBe(0);
    expect(JSON.parse(emit.stdout)).toMatchObject({ ok: true, driver: 'log', delivered: false, event: 'order.shipped', channels: ['orders'] });
  });

  it('a TypeScript file in the application imports the library and type-checks', () => {
    writeFileSync(
      path.join(app, 'server.ts'),
      [
        "import { Broadcast, CanBroadcast, PrivateChannel, createAuthHandler, defineConfig } from 'pusher-broadcast';",
        "const config = defineConfig({ default: 'log', connections: { log: { driver: 'log' } } });",
        'class OrderShipped extends CanBroadcast {',
        '  constructor(readonly orderId: number) { super(); }',
        '  broadcastOn() { return new PrivateChannel(`orders.${this.orderId}`); }',
        '}',
        'const broadcast = new Broadcast(config);',
        'export const handler = createAuthHandler(broadcast, { user: () => ({ id: 1 }) });',
        'export const sent: Promise<{ delivered: boolean }> = broadcast.channel(new OrderShipped(1));',
        '',
      ].join('\n'),
    );
    writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', noEmit: true, types: ['node'], typeRoots: [path.join(ROOT, 'node_modules/@types')] },
        files: ['server.ts'],
      }),
    );
    const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: app, encoding: 'utf8' });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  });

  it('require() gets a clear error naming import()', () => {
    const r = spawnSync(process.execPath, ['-e', "require('pusher-broadcast')"], { cwd: app, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('pusher-broadcast is an ES module and cannot be loaded with require()');
  });
});

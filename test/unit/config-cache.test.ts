/**
 * The transpile cache (src/config/cache.ts, plugged into jiti's public `transform` option): used when valid,
 * replaced when a file changes, private (0700 folder, 0600 entries), never jiti's own readable fsCache, and
 * never able to break a load (a bad entry falls back to jiti alone). Plus the `defineConfig` shortcut.
 */
import { chmod, mkdir, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { cacheDirFor } from '../../src/config/cache.js';
import { loadConfig, onlyDefineConfig } from '../../src/config/load.js';
import { test } from '../helpers/fixtures.js';

const cacheDir = (dir: string) => path.join(dir, 'node_modules/.cache/broadcast/transpiled');
const entries = async (dir: string) => (await readdir(cacheDir(dir)).catch(() => [] as string[])).sort();
const config = (body: string) => `import { defineConfig } from 'pusher-broadcast';\nexport default defineConfig(${body});\n`;

describe('the transpile cache', () => {
  test('caches a broadcast.config.ts privately, and replaces the entry when the file changes', async ({ project }) => {
    const file = path.join(project.dir, 'broadcast.config.ts');
    expect(cacheDirFor(file)).toBe(cacheDir(project.dir));
    await writeFile(file, config("{ default: 'log' as const, eventsDir: 'one' }"));
    expect((await loadConfig({ cwd: project.dir })).config).toEqual({ default: 'log', eventsDir: 'one' });
    const first = await entries(project.dir);
    expect(first).toHaveLength(1);
    expect((await stat(cacheDir(project.dir))).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(cacheDir(project.dir), first[0]!))).mode & 0o777).toBe(0o600);
    expect((await loadConfig({ cwd: project.dir })).config).toEqual({ default: 'log', eventsDir: 'one' });
    expect(await entries(project.dir)).toEqual(first);

    // New content (the same size): a new entry replaces the old one.
    await writeFile(file, config("{ default: 'log' as const, eventsDir: 'two' }"));
    expect((await loadConfig({ cwd: project.dir })).config).toEqual({ default: 'log', eventsDir: 'two' });
    const second = await entries(project.dir);
    expect(second).toHaveLength(1);
    expect(second).not.toEqual(first);
    // jiti's own fsCache (which writes readable files) stays off.
    await expect(stat(path.join(project.dir, 'node_modules/.cache/jiti'))).rejects.toThrow(/ENOENT/);
  });

  test('temporary files of writers that died are removed once old, those being written are left', async ({ project }) => {
    const file = path.join(project.dir, 'broadcast.config.ts');
    await writeFile(file, config("{ eventsDir: 'one' }"));
    await loadConfig({ cwd: project.dir });
    const [entry] = await entries(project.dir);
    const temporary = (name: string) => path.join(cacheDir(project.dir), `${entry}.${name}.tmp`);
    await writeFile(temporary('dead'), 'x');
    await utimes(temporary('dead'), new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
    await writeFile(temporary('writing'), 'x');
    await writeFile(file, config("{ eventsDir: 'two' }"));
    await loadConfig({ cwd: project.dir });
    const after = await entries(project.dir);
    expect(after).toContain(path.basename(temporary('writing')));
    expect(after).not.toContain(path.basename(temporary('dead')));
    expect(after.filter((name) => name.endsWith('.js'))).toHaveLength(1);
  });

  test('runs the config on every load, so values from the environment are current', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), config('{ eventsDir: process.env.CACHE_TEST_DIR as string }'));
    try {
      process.env.CACHE_TEST_DIR = 'first';
      expect((await loadConfig({ cwd: project.dir })).config.eventsDir).toBe('first');
      process.env.CACHE_TEST_DIR = 'second';
      expect((await loadConfig({ cwd: project.dir })).config.eventsDir).toBe('second');
    } finally {
      delete process.env.CACHE_TEST_DIR;
    }
  });

  test('a config that imports a local file sees that file\'s changes (each file has its own entry)', async ({ project }) => {
    await writeFile(path.join(project.dir, 'dir.ts'), "export const dir: string = 'a';\n");
    await writeFile(
      path.join(project.dir, 'broadcast.config.ts'),
      "import { defineConfig } from 'pusher-broadcast';\nimport { dir } from './dir';\nexport default defineConfig({ eventsDir: dir });\n",
    );
    expect((await loadConfig({ cwd: project.dir })).config.eventsDir).toBe('a');
    expect(await entries(project.dir)).toHaveLength(2);
    await writeFile(path.join(project.dir, 'dir.ts'), "export const dir: string = 'b';\n");
    expect((await loadConfig({ cwd: project.dir })).config.eventsDir).toBe('b');
  });

  test('a damaged entry cannot break a load: jiti alone loads the file', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), config("{ eventsDir: 'real' }"));
    await loadConfig({ cwd: project.dir });
    const [entry] = await entries(project.dir);
    await writeFile(path.join(cacheDir(project.dir), entry!), 'this is { not JavaScript');
    expect((await loadConfig({ cwd: project.dir })).config.eventsDir).toBe('real');
  });

  test('entries in a folder others can write to are never read; the folder is made private again', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), config("{ eventsDir: 'real' }"));
    await loadConfig({ cwd: project.dir });
    const [entry] = await entries(project.dir);
    // As if someone else had replaced the entry in a folder opened up to them.
    await chmod(cacheDir(project.dir), 0o777);
    await writeFile(path.join(cacheDir(project.dir), entry!), 'exports.default = { eventsDir: "planted" };');
    expect((await loadConfig({ cwd: project.dir })).config.eventsDir).toBe('real');
    expect((await stat(cacheDir(project.dir))).mode & 0o777).toBe(0o700);
  });

  test('reports an error in a config with the file name, cached or not', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), "throw new Error('boom');\nexport default {};\n");
    for (let run = 0; run < 2; run++) {
      await expect(loadConfig({ cwd: project.dir })).rejects.toThrow(/^Could not load broadcast\.config\.ts: boom \(Error at line 1\)$/);
    }
  });

  test('a syntax error is reported without the file\'s text', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), "export default { secret: 'Sx9-not-echoed' ;\n");
    const error = await loadConfig({ cwd: project.dir }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/^Could not load broadcast\.config\.ts: /);
    expect((error as Error).message).not.toContain('Sx9-not-echoed');
    expect(String((error as Error).cause)).not.toContain('Sx9-not-echoed');
  });

  test('no node_modules above the file: no cache, the file still loads', async ({ project }) => {
    const outside = `${project.dir}-no-modules`;
    await mkdir(outside, { recursive: true });
    try {
      await writeFile(path.join(outside, 'package.json'), '{}');
      await writeFile(path.join(outside, 'broadcast.config.mts'), "const n: number = 1;\nexport default { eventsDir: `e${n}` };\n");
      expect(cacheDirFor(path.join(outside, 'broadcast.config.mts'))).toBeUndefined();
      expect((await loadConfig({ cwd: outside })).config.eventsDir).toBe('e1');
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });
});

describe('the defineConfig shortcut', () => {
  test('a config using more of the library than defineConfig gets the real package', async ({ project }) => {
    await writeFile(
      path.join(project.dir, 'broadcast.config.ts'),
      "import { defineConfig, ValidationError } from 'pusher-broadcast';\nexport default defineConfig({ eventsDir: ValidationError.name });\n",
    );
    expect((await loadConfig({ cwd: project.dir })).config.eventsDir).toBe('ValidationError');
  });

  test('is taken only for a lone `import { defineConfig }` and no local imports', () => {
    const define = "import { defineConfig } from 'pusher-broadcast';\n";
    expect(onlyDefineConfig(`${define}export default defineConfig({});`)).toBe(true);
    expect(onlyDefineConfig(`import type { BroadcastConfig } from "pusher-broadcast";\n${define}import path from 'node:path';\nimport 'dotenv/config';`)).toBe(true);
    expect(onlyDefineConfig(`${define}const x = await import('node:os');`)).toBe(true);
    expect(onlyDefineConfig('export default {};')).toBe(false);
    expect(onlyDefineConfig("import { defineConfig, PrivateChannel } from 'pusher-broadcast';")).toBe(false);
    expect(onlyDefineConfig(`${define}import * as pb from 'pusher-broadcast';`)).toBe(false);
    expect(onlyDefineConfig(`${define}const pb = await import('pusher-broadcast');`)).toBe(false);
    expect(onlyDefineConfig(`${define}import { rules } from './rules';`)).toBe(false);
    expect(onlyDefineConfig(`${define}export * from '../shared.js';`)).toBe(false);
    expect(onlyDefineConfig(`${define}const r = require('./rules.cjs');`)).toBe(false);
    expect(onlyDefineConfig(`${define}const m = await import(process.env.RULES!);`)).toBe(false);
    expect(onlyDefineConfig(`${define}const m = await import(\`./\${name}.js\`);`)).toBe(false);
  });
});

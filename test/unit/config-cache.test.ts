/**
 * The transpile cache (src/config/cache.ts): plain ES modules of self-contained configs, which warm runs import
 * without loading jiti or the transpiler, and what jiti transpiles for the rest (its public `transform`
 * option). Used when valid, replaced when a file changes, private (0700 folder, 0600 entries), never jiti's own
 * readable fsCache, and never able to break a load (a bad entry falls back to jiti alone). Plus the
 * `defineConfig` shortcut.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect } from 'vitest';
import { cacheDirFor } from '../../src/config/cache.js';
import { loadConfig, onlyDefineConfig, selfContained } from '../../src/config/load.js';
import { ROOT } from '../helpers/cli.js';
import { test } from '../helpers/fixtures.js';

const cacheDir = (dir: string) => path.join(dir, 'node_modules/.cache/broadcast/transpiled');
const entries = async (dir: string) => (await readdir(cacheDir(dir)).catch(() => [] as string[])).sort();
const config = (body: string) => `import { defineConfig } from 'pusher-broadcast';\nexport default defineConfig(${body});\n`;
const ofKind = (names: string[], extension: string) => names.filter((name) => path.extname(name) === extension);

/**
 * Loads the project's config in a new Node.js process through the built package, as the CLI does (each CLI run
 * is a new process; within one, only the first load of a config imports its cached module). Tells what it got,
 * or the error's message, and which of jiti and sucrase that process ran code of (reading sucrase's
 * package.json for its version does not count).
 */
async function loadInProcess(dir: string): Promise<{ config?: Record<string, unknown>; error?: string; loaded: string[] }> {
  const script = `
    import { createRequire } from 'node:module';
    const { loadConfig } = await import(${JSON.stringify(path.join(ROOT, 'dist/index.js'))});
    const result = await loadConfig({ cwd: ${JSON.stringify(dir)} }).then(({ config }) => ({ config }), (error) => ({ error: error.message }));
    const loaded = Object.keys(createRequire(import.meta.url).cache).map((file) => /node_modules[\\\\/](jiti|sucrase)[\\\\/].*\\.[cm]?js$/.exec(file)?.[1]);
    console.log(JSON.stringify({ ...result, loaded: [...new Set(loaded.filter(Boolean))].sort() }));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: dir });
  return JSON.parse(stdout) as { config?: Record<string, unknown>; error?: string; loaded: string[] };
}

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
    expect(await loadInProcess(project.dir)).toEqual({ config: { default: 'log', eventsDir: 'one' }, loaded: [] });
    expect(await entries(project.dir)).toEqual(first);

    // New content (the same size): a new entry replaces the old one.
    await writeFile(file, config("{ default: 'log' as const, eventsDir: 'two' }"));
    expect(await loadInProcess(project.dir)).toEqual({ config: { default: 'log', eventsDir: 'two' }, loaded: ['sucrase'] });
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
    expect(ofKind(after, '.mjs')).toHaveLength(1);
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
    expect(await loadInProcess(project.dir)).toEqual({ config: { eventsDir: 'real' }, loaded: ['jiti'] });
    // And jiti's own entries: a config with a local import goes through them.
    await writeFile(path.join(project.dir, 'dir.ts'), "export const dir = 'local';\n");
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), `import { dir } from './dir';\n${config('{ eventsDir: dir }')}`);
    await loadConfig({ cwd: project.dir });
    for (const name of ofKind(await entries(project.dir), '.js')) await writeFile(path.join(cacheDir(project.dir), name), 'this is { not JavaScript');
    expect((await loadInProcess(project.dir)).config).toEqual({ eventsDir: 'local' });
  });

  test('entries in a folder others can write to are never read; the folder is made private again', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), config("{ eventsDir: 'real' }"));
    await loadConfig({ cwd: project.dir });
    const [entry] = await entries(project.dir);
    // As if someone else had replaced the entry in a folder opened up to them.
    await chmod(cacheDir(project.dir), 0o777);
    await writeFile(path.join(cacheDir(project.dir), entry!), 'export default { eventsDir: "planted" };');
    expect((await loadInProcess(project.dir)).config).toEqual({ eventsDir: 'real' });
    expect((await stat(cacheDir(project.dir))).mode & 0o777).toBe(0o700);
  });

  test('reports an error in a config with the file name, cached or not', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), "throw new Error('boom');\nexport default {};\n");
    await expect(loadConfig({ cwd: project.dir })).rejects.toThrow(/^Could not load broadcast\.config\.ts: boom \(Error at line 1\)$/);
    expect((await loadInProcess(project.dir)).error).toMatch(/^Could not load broadcast\.config\.ts: boom \(Error at line 1\)$/);
  });

  test("jiti's path too: an error the config's own code throws is reported, and the config ran once", async ({ project }) => {
    // A local import keeps this config off the plain-module path: jiti loads it, through the transpile cache.
    const log = path.join(project.dir, 'runs.log');
    await writeFile(path.join(project.dir, 'part.ts'), "export const part = 'x';\n");
    await writeFile(
      path.join(project.dir, 'broadcast.config.ts'),
      `import { appendFileSync } from 'node:fs';\nimport { part } from './part';\nappendFileSync(${JSON.stringify(log)}, 'ran\\n');\nconst fail = (): never => { throw new Error('boom ' + part); };\nexport default { eventsDir: fail() };\n`,
    );
    for (const runs of ['ran\n', 'ran\nran\n']) {
      // Cold (the entry is written) and warm (the entry is read back): each load runs the config once.
      await expect(loadConfig({ cwd: project.dir })).rejects.toThrow(/^Could not load broadcast\.config\.ts: boom x \(Error at line 4\)$/);
      expect(await readFile(log, 'utf8')).toBe(runs);
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

describe('the plain-module fast path', () => {
  test('a warm run imports the cached module and loads neither jiti nor the transpiler', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), config("{ default: 'log' as const, eventsDir: 'fast' as string }"));
    const cold = await loadInProcess(project.dir);
    expect(cold).toEqual({ config: { default: 'log', eventsDir: 'fast' }, loaded: ['sucrase'] });
    const warm = await loadInProcess(project.dir);
    expect(warm).toEqual({ config: { default: 'log', eventsDir: 'fast' }, loaded: [] });
    // A config that is not self-contained still loads through jiti.
    await writeFile(path.join(project.dir, 'dir.ts'), "export const dir: string = 'local';\n");
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), `import { dir } from './dir';\n${config('{ eventsDir: dir }')}`);
    expect(await loadInProcess(project.dir)).toEqual({ config: { eventsDir: 'local' }, loaded: ['jiti'] });
  });

  test('the cached module is plain ES, with a lone defineConfig import made local so the library is not loaded', async ({ project }) => {
    const source = `import type { BroadcastConfig } from 'pusher-broadcast';\n${config("{ eventsDir: 'typed' as string } satisfies BroadcastConfig")}`;
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), source);
    expect((await loadConfig({ cwd: project.dir })).config).toEqual({ eventsDir: 'typed' });
    const [entry, ...others] = await entries(project.dir);
    expect(others).toEqual([]);
    expect(entry).toMatch(/\.mjs$/);
    const code = await readFile(path.join(cacheDir(project.dir), entry!), 'utf8');
    expect(code).not.toMatch(/['"]pusher-broadcast['"]/);
    expect(code).not.toMatch(/satisfies|as string/);
    // Line numbers are kept, so an error's line is the config's.
    expect(code.split('\n')).toHaveLength(source.split('\n').length);

    await writeFile(path.join(project.dir, 'broadcast.config.ts'), "import { defineConfig, PrivateChannel } from 'pusher-broadcast';\nexport default defineConfig({ eventsDir: new PrivateChannel('x').name });\n");
    expect((await loadConfig({ cwd: project.dir })).config.eventsDir).toBe('private-x');
    const [real] = await entries(project.dir);
    expect(await readFile(path.join(cacheDir(project.dir), real!), 'utf8')).toContain("from 'pusher-broadcast'");
  });

  test("packages resolve from the project's own node_modules", async ({ project }) => {
    const pkg = path.join(project.dir, 'node_modules/config-helper');
    await mkdir(pkg, { recursive: true });
    await writeFile(path.join(pkg, 'package.json'), JSON.stringify({ name: 'config-helper', type: 'module', exports: { '.': './index.js' } }));
    await writeFile(path.join(pkg, 'index.js'), "export const eventsDir = 'from-the-project';\n");
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), "import { eventsDir } from 'config-helper';\nexport default { eventsDir };\n");
    for (let run = 0; run < 2; run++) expect(await loadInProcess(project.dir)).toEqual({ config: { eventsDir: 'from-the-project' }, loaded: run === 0 ? ['sucrase'] : [] });
    expect(ofKind(await entries(project.dir), '.mjs')).toHaveLength(1);
  });

  test("an error thrown by the config's code is the config's: reported, and the config ran once", async ({ project }) => {
    const log = path.join(project.dir, 'runs.log');
    await writeFile(
      path.join(project.dir, 'broadcast.config.ts'),
      `import { appendFileSync } from 'node:fs';\nappendFileSync(${JSON.stringify(log)}, 'ran\\n');\nconst fail = (): never => { throw new Error('boom'); };\nexport default { eventsDir: fail() };\n`,
    );
    // Line 3 of the config, on the jiti path (in process) and from the cached module (a fresh process) alike.
    await expect(loadConfig({ cwd: project.dir })).rejects.toThrow(/^Could not load broadcast\.config\.ts: boom \(Error at line 3\)$/);
    expect(await readFile(log, 'utf8')).toBe('ran\n');
    expect(await loadInProcess(project.dir)).toEqual({ error: 'Could not load broadcast.config.ts: boom (Error at line 3)', loaded: [] });
    expect(await readFile(log, 'utf8')).toBe('ran\nran\n');
  });

  test('a module Node.js cannot link as ES falls back to jiti before the config runs, so it runs once', async ({ project }) => {
    // A package that exports only for `require`: Node.js cannot import it from an ES module, jiti can.
    const pkg = path.join(project.dir, 'node_modules/require-only');
    await mkdir(pkg, { recursive: true });
    await writeFile(path.join(pkg, 'package.json'), JSON.stringify({ name: 'require-only', exports: { require: './index.cjs' } }));
    await writeFile(path.join(pkg, 'index.cjs'), "module.exports = { eventsDir: 'required' };\n");
    const log = path.join(project.dir, 'runs.log');
    await writeFile(
      path.join(project.dir, 'broadcast.config.ts'),
      `import { appendFileSync } from 'node:fs';\nimport helper from 'require-only';\nappendFileSync(${JSON.stringify(log)}, 'ran\\n');\nexport default { eventsDir: helper.eventsDir as string };\n`,
    );
    expect(await loadInProcess(project.dir)).toEqual({ config: { eventsDir: 'required' }, loaded: ['jiti', 'sucrase'] });
    expect(await readFile(log, 'utf8')).toBe('ran\n');
    // Both entries are kept: the next run fails to link the plain module again (cheaply) and uses jiti's entry.
    expect((await entries(project.dir)).map((name) => path.extname(name)).sort()).toEqual(['.js', '.mjs']);
    expect(await loadInProcess(project.dir)).toEqual({ config: { eventsDir: 'required' }, loaded: ['jiti'] });
    expect(await readFile(log, 'utf8')).toBe('ran\nran\n');
  });

  test('a config that stops being self-contained leaves no plain module of its old text behind', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), config("{ eventsDir: 'one' }"));
    await loadConfig({ cwd: project.dir });
    expect(ofKind(await entries(project.dir), '.mjs')).toHaveLength(1);
    await writeFile(path.join(project.dir, 'dir.ts'), "export const dir = 'two';\n");
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), `import { dir } from './dir';\n${config('{ eventsDir: dir }')}`);
    expect((await loadConfig({ cwd: project.dir })).config.eventsDir).toBe('two');
    expect(ofKind(await entries(project.dir), '.mjs')).toEqual([]);
  });

  test('is taken only by ES module configs that import nothing but packages, statically', () => {
    const ok = (source: string, file = 'broadcast.config.ts') => selfContained(file, source);
    expect(ok(config('{}'))).toBe(true);
    expect(ok("import os from 'node:os';\nimport 'dotenv/config';\nimport { x } from '@scope/pkg/sub';\nexport default { x };", 'broadcast.config.mjs')).toBe(true);
    expect(ok('export default {};', 'broadcast.config.cts')).toBe(false);
    expect(ok('module.exports = {};', 'broadcast.config.js')).toBe(false);
    expect(ok("import { rules } from './rules';\nexport default { rules };")).toBe(false);
    expect(ok("import rules from '/abs/rules.js';\nexport default { rules };")).toBe(false);
    expect(ok("import rules from '#rules';\nexport default { rules };")).toBe(false);
    expect(ok("import rules from 'file:///rules.js';\nexport default { rules };")).toBe(false);
    expect(ok("export * from '../shared.js';")).toBe(false);
    expect(ok("export default { dir: import.meta.dirname };")).toBe(false);
    expect(ok('export default { dir: __dirname };')).toBe(false);
    expect(ok('export default { file: __filename };')).toBe(false);
    expect(ok("const r = require('rules');\nexport default r;")).toBe(false);
    expect(ok("const m = await import('node:os');\nexport default {};")).toBe(false);
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

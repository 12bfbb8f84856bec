/**
 * The start-up path of config loading: the quick search (same results as cosmiconfig) and the cache of
 * transpiled config files (used when valid, replaced when the file changes, skipped when it cannot be right).
 */
import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inlineDefineConfig } from '../../src/config/cache.js';
import { loadConfig } from '../../src/config/load.js';
import { tempProject } from '../helpers/cli.js';

let project: Awaited<ReturnType<typeof tempProject>>;
beforeEach(async () => {
  project = await tempProject();
});
afterEach(async () => {
  await project.cleanup();
});

const cacheDir = () => path.join(project.dir, 'node_modules/.cache/broadcast');
const cached = async () => (await readdir(cacheDir()).catch(() => [] as string[])).sort();
const config = (body: string) => `import { defineConfig } from 'pusher-broadcast';\nexport default defineConfig(${body});\n`;

describe('the config cache', () => {
  it('caches a broadcast.config.ts, and reloads it when the file changes', async () => {
    const file = path.join(project.dir, 'broadcast.config.ts');
    await writeFile(file, config("{ default: 'log' as const, eventsDir: 'one' }"));
    expect((await loadConfig({ cwd: project.dir })).config).toEqual({ default: 'log', eventsDir: 'one' });
    const first = await cached();
    expect(first).toHaveLength(1);
    expect(first[0]).toMatch(/\.mjs$/);
    expect((await loadConfig({ cwd: project.dir })).config).toEqual({ default: 'log', eventsDir: 'one' });
    expect(await cached()).toEqual(first);

    // Same size, new content and time: a new entry replaces the old one.
    await writeFile(file, config("{ default: 'log' as const, eventsDir: 'two' }"));
    await utimes(file, new Date(), new Date(Date.now() + 5000));
    expect((await loadConfig({ cwd: project.dir })).config).toEqual({ default: 'log', eventsDir: 'two' });
    const second = await cached();
    expect(second).toHaveLength(1);
    expect(second).not.toEqual(first);
  });

  it('runs the config on every load, so values from the environment are current', async () => {
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), config('{ eventsDir: process.env.CACHE_TEST_DIR as string }'));
    process.env.CACHE_TEST_DIR = 'first';
    expect((await loadConfig({ cwd: project.dir })).config.eventsDir).toBe('first');
    process.env.CACHE_TEST_DIR = 'second';
    expect((await loadConfig({ cwd: project.dir })).config.eventsDir).toBe('second');
    delete process.env.CACHE_TEST_DIR;
  });

  it('does not cache a config that imports a local file, so changes to that file are seen', async () => {
    await writeFile(path.join(project.dir, 'dir.ts'), "export const dir: string = 'a';\n");
    await writeFile(
      path.join(project.dir, 'broadcast.config.ts'),
      "import { defineConfig } from 'pusher-broadcast';\nimport { dir } from './dir';\nexport default defineConfig({ eventsDir: dir });\n",
    );
    expect((await loadConfig({ cwd: project.dir })).config.eventsDir).toBe('a');
    expect((await cached()).every((f) => f.endsWith('.skip'))).toBe(true);
    await writeFile(path.join(project.dir, 'dir.ts'), "export const dir: string = 'b';\n");
    expect((await loadConfig({ cwd: project.dir })).config.eventsDir).toBe('b');
  });

  it('keeps the library import when the config uses more than defineConfig', () => {
    const simple = 'var _pb = await jitiImport("pusher-broadcast");var x = (0, _pb.defineConfig)({});';
    expect(inlineDefineConfig(simple)).toContain('var _pb = { defineConfig: (config) => config };');
    const more = 'var _pb = await jitiImport("pusher-broadcast");var x = (0, _pb.defineConfig)({ c: new _pb.PrivateChannel("a") });';
    expect(inlineDefineConfig(more)).toBe(more);
  });

  it('reports an error in a cached config with the file name', async () => {
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), "throw new Error('boom');\nexport default {};\n");
    await expect(loadConfig({ cwd: project.dir })).rejects.toThrow(/Could not load .*broadcast.config.ts: boom/);
  });
});

describe('the quick search finds what cosmiconfig would', () => {
  it('an rc file comes before broadcast.config.ts', async () => {
    await writeFile(path.join(project.dir, '.broadcastrc.json'), '{"eventsDir":"rc"}');
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), config("{ eventsDir: 'ts' }"));
    expect((await loadConfig({ cwd: project.dir })).config.eventsDir).toBe('rc');
  });

  it('a "broadcast" key in package.json comes first', async () => {
    await writeFile(path.join(project.dir, 'package.json'), JSON.stringify({ name: 'app', type: 'module', broadcast: { eventsDir: 'pkg' } }));
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), config("{ eventsDir: 'ts' }"));
    expect((await loadConfig({ cwd: project.dir })).config.eventsDir).toBe('pkg');
  });

  it('an empty config file is skipped for the next one; a subfolder finds the project config', async () => {
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), '\n');
    await writeFile(path.join(project.dir, 'broadcast.config.mjs'), "export default { eventsDir: 'mjs' };\n");
    await mkdir(path.join(project.dir, 'src/deep'), { recursive: true });
    const loaded = await loadConfig({ cwd: path.join(project.dir, 'src/deep') });
    expect(loaded.config.eventsDir).toBe('mjs');
    expect(loaded.filepath).toBe(path.join(project.dir, 'broadcast.config.mjs'));
  });

  it('stops at the project root (the folder with package.json)', async () => {
    const inner = path.join(project.dir, 'packages/app');
    await mkdir(inner, { recursive: true });
    await writeFile(path.join(inner, 'package.json'), '{"name":"inner"}');
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), config("{ eventsDir: 'outer' }"));
    expect(await loadConfig({ cwd: inner })).toEqual({ config: {}, filepath: undefined });
  });

  it('--config loads the named file; a missing one is an error', async () => {
    await writeFile(path.join(project.dir, 'other.config.ts'), config("{ eventsDir: 'named' }"));
    expect((await loadConfig({ cwd: project.dir, configPath: 'other.config.ts' })).config.eventsDir).toBe('named');
    await expect(loadConfig({ cwd: project.dir, configPath: 'missing.ts' })).rejects.toThrow(/missing.ts: the file does not exist/);
  });
});

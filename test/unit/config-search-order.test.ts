/**
 * The config search (src/config/search.ts), the only one there is: which file wins among the 12 search places,
 * what is passed over (a package.json without a "broadcast" key, blank files) and what is not (a script that
 * exports no config), a config in a parent folder, the
 * project boundary (the nearest package.json), and no config at all. Every kind of file is really loaded.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, SEARCH_PLACES } from '../../src/config/load.js';
import { tempProject } from '../helpers/cli.js';

const SCRIPT = /\.(ts|mts|cts|js|mjs|cjs)$/;

/** The config each file holds: it names its own place, so that the winner can be told apart. */
const valueFor = (place: string) => ({ default: place, eventsDir: `events-from-${place}` });

/** A file for `place` in that place's own format. */
function fileFor(place: string): string {
  const value = valueFor(place);
  if (place === 'package.json') return JSON.stringify({ name: 'app', private: true, broadcast: value });
  if (place.endsWith('.json')) return JSON.stringify(value);
  if (!SCRIPT.test(place)) return `default: "${place}"\neventsDir: "events-from-${place}"\n`; // YAML
  if (place.endsWith('.cjs')) return `module.exports = ${JSON.stringify(value)};\n`;
  if (place.endsWith('.cts')) return `const config: { default: string; eventsDir: string } = ${JSON.stringify(value)};\nmodule.exports = config;\n`;
  if (place.endsWith('.ts') || place.endsWith('.mts')) {
    return `import { defineConfig } from 'pusher-broadcast';\nexport default defineConfig(${JSON.stringify(value)} satisfies { default: string });\n`;
  }
  return `export default ${JSON.stringify(value)};\n`;
}

let project: Awaited<ReturnType<typeof tempProject>>;
const dir = (name: string) => path.join(project.dir, name);
const place = (index: number) => dir(`place-${String(index).padStart(2, '0')}`);

beforeAll(async () => {
  // The root holds package.json (no "broadcast" key) and node_modules/pusher-broadcast, so no search leaves it.
  project = await tempProject();
  const write = async (at: string, files: Record<string, string>) => {
    await mkdir(at, { recursive: true });
    await Promise.all(Object.entries(files).map(([name, text]) => writeFile(path.join(at, name), text)));
  };
  const plainPkg = JSON.stringify({ name: 'inner', private: true });
  await Promise.all([
    // Place i holds its own file and every later one: the first must win.
    ...SEARCH_PLACES.map((_, i) => write(place(i), Object.fromEntries(SEARCH_PLACES.slice(i).map((p) => [p, fileFor(p)])))),
    write(dir('pkg-no-key-script'), { 'package.json': plainPkg, 'broadcast.config.mjs': fileFor('broadcast.config.mjs') }),
    write(dir('pkg-no-key-rc'), { 'package.json': plainPkg, '.broadcastrc': fileFor('.broadcastrc') }),
    write(dir('pkg-null-key'), { 'package.json': JSON.stringify({ name: 'x', broadcast: null }), '.broadcastrc.json': fileFor('.broadcastrc.json') }),
    // Blank files everywhere but the last place: each is passed over for the next.
    write(dir('all-blank'), Object.fromEntries(SEARCH_PLACES.slice(1).map((p, i, all) => [p, i === all.length - 1 ? fileFor(p) : ' \n']))),
    // A script that exports nothing is refused (beside a JSON config that would otherwise be used).
    write(dir('exports-nothing'), { 'broadcast.config.ts': 'export const unrelated = 1;\n', 'broadcast.config.json': fileFor('broadcast.config.json') }),
    write(dir('parent/packages/app/src'), {}),
    write(dir('parent'), { 'broadcast.config.ts': fileFor('broadcast.config.ts') }),
    write(dir('parent-rc/src/deep'), {}),
    write(dir('parent-rc'), { '.broadcastrc.yml': fileFor('.broadcastrc.yml') }),
    // A config above the nearest package.json (or package.yaml) is outside the project: not found.
    write(dir('bounded/app/src'), {}),
    write(dir('bounded'), { 'broadcast.config.mjs': fileFor('broadcast.config.mjs') }),
    write(dir('bounded/app'), { 'package.json': plainPkg }),
    write(dir('bounded-yaml/app'), { 'package.yaml': 'name: inner\n' }),
    write(dir('bounded-yaml'), { 'broadcast.config.json': fileFor('broadcast.config.json') }),
    write(dir('none-own-root'), { 'package.json': plainPkg }),
    write(dir('none/a/b'), {}),
    // A folder named like a search place is not a file.
    write(dir('folder-place/broadcast.config.ts'), {}),
    write(dir('folder-place'), { 'broadcast.config.cjs': fileFor('broadcast.config.cjs') }),
  ]);
});

afterAll(async () => {
  await project?.cleanup();
});

describe('the config search', () => {
  it('lists the 12 search places in their order', () => {
    expect(SEARCH_PLACES).toEqual([
      'package.json',
      '.broadcastrc',
      '.broadcastrc.json',
      '.broadcastrc.yaml',
      '.broadcastrc.yml',
      'broadcast.config.ts',
      'broadcast.config.mts',
      'broadcast.config.cts',
      'broadcast.config.js',
      'broadcast.config.mjs',
      'broadcast.config.cjs',
      'broadcast.config.json',
    ]);
  });

  it.each(SEARCH_PLACES.map((name, index) => ({ name, index })))('$name wins over every later search place', async ({ name, index }) => {
    const loaded = await loadConfig({ cwd: place(index) });
    expect(loaded.filepath).toBe(path.join(place(index), name));
    expect(loaded.config).toEqual(valueFor(name));
  });

  it('a package.json without a "broadcast" key (or with null) is passed over for the next place', async () => {
    expect((await loadConfig({ cwd: dir('pkg-no-key-script') })).filepath).toBe(path.join(dir('pkg-no-key-script'), 'broadcast.config.mjs'));
    expect((await loadConfig({ cwd: dir('pkg-no-key-rc') })).config).toEqual(valueFor('.broadcastrc'));
    expect((await loadConfig({ cwd: dir('pkg-null-key') })).config).toEqual(valueFor('.broadcastrc.json'));
  });

  it('blank files are passed over for the next place; a script that exports no config is refused, not passed over', async () => {
    const last = SEARCH_PLACES[SEARCH_PLACES.length - 1]!;
    expect((await loadConfig({ cwd: dir('all-blank') })).filepath).toBe(path.join(dir('all-blank'), last));
    // Someone wrote that script as the config: the mistake is reported rather than another file used.
    await expect(loadConfig({ cwd: dir('exports-nothing') })).rejects.toThrow(
      /^broadcast\.config\.ts must export a config object: export default defineConfig\(\{ … \}\); it exports none \(an ES module needs a default export\)$/,
    );
  });

  it('a folder with a search place\'s name is not a config file', async () => {
    expect((await loadConfig({ cwd: dir('folder-place') })).config).toEqual(valueFor('broadcast.config.cjs'));
  });

  it('a config in a parent folder is found from a subfolder, up to the project root', async () => {
    const ts = await loadConfig({ cwd: dir('parent/packages/app/src') });
    expect(ts).toEqual({ filepath: path.join(dir('parent'), 'broadcast.config.ts'), config: valueFor('broadcast.config.ts') });
    const rc = await loadConfig({ cwd: dir('parent-rc/src/deep') });
    expect(rc).toEqual({ filepath: path.join(dir('parent-rc'), '.broadcastrc.yml'), config: valueFor('.broadcastrc.yml') });
  });

  it('a config above the nearest package.json or package.yaml is not found (search strategy "project")', async () => {
    expect(await loadConfig({ cwd: dir('bounded/app/src') })).toEqual({ config: {} });
    expect(await loadConfig({ cwd: dir('bounded-yaml/app') })).toEqual({ config: {} });
  });

  it('no config at all gives an empty config, with or without package.json in the folder', async () => {
    expect(await loadConfig({ cwd: dir('none-own-root') })).toEqual({ config: {} });
    expect(await loadConfig({ cwd: dir('none/a/b') })).toEqual({ config: {} });
  });

  it('--config loads the named file, whatever its name; a blank one is an empty config', async () => {
    const named = path.join(project.dir, 'other.config.ts');
    await writeFile(named, fileFor('broadcast.config.ts'));
    expect(await loadConfig({ cwd: project.dir, configPath: 'other.config.ts' })).toEqual({ filepath: named, config: valueFor('broadcast.config.ts') });
    await writeFile(path.join(project.dir, 'blank.json'), '\n');
    expect(await loadConfig({ cwd: project.dir, configPath: 'blank.json' })).toEqual({ filepath: path.join(project.dir, 'blank.json'), config: {} });
    await expect(loadConfig({ cwd: project.dir, configPath: 'missing.ts' })).rejects.toThrow(/^Could not load missing\.ts: the file does not exist$/);
  });

  it('$import merges other config files under the file\'s own values', async () => {
    const at = dir('imports');
    await mkdir(at, { recursive: true });
    await writeFile(path.join(at, 'base.json'), JSON.stringify({ default: 'base', auth: { route: '/base', middleware: ['web'] } }));
    await writeFile(path.join(at, '.broadcastrc.json'), JSON.stringify({ $import: './base.json', auth: { route: '/own' } }));
    expect((await loadConfig({ cwd: at })).config).toEqual({ default: 'base', auth: { route: '/own', middleware: ['web'] } });
  });
});

describe('CommonJS configs', () => {
  it('load with their own "default" field (the connection name) as config, with or without the transpile cache', async () => {
    // Without node_modules there is no cache and jiti alone loads the file; in the project, through the cache.
    const bare = await mkdtemp(path.join(tmpdir(), 'broadcast-cjs-'));
    try {
      for (const at of [bare, project.dir]) {
        for (const name of ['plain.cjs', 'typed.cts']) {
          const file = path.join(at, name);
          await writeFile(file, "module.exports = { default: 'log', eventsDir: 'cjs-events' };\n");
          const loaded = await loadConfig({ cwd: at, configPath: file });
          expect(loaded.config, `${name} in ${at === bare ? 'a folder without node_modules' : 'a project'}`).toEqual({ default: 'log', eventsDir: 'cjs-events' });
        }
      }
    } finally {
      await rm(bare, { recursive: true, force: true });
    }
  });
});

/**
 * Guards the start-up search (`quickLoad` in config-cache.ts), which repeats cosmiconfig's search order
 * so that most runs never load cosmiconfig: for every search place, and for the project boundary, the CLI's
 * loader must pick the same file, with the same value, as cosmiconfig's own `search()` given the options
 * load-config.ts really passes (captured from the call, not copied).
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, SEARCH_PLACES } from '../../src/config/load.js';
import { tempProject } from '../helpers/cli.js';

type Cosmiconfig = typeof import('cosmiconfig');
type Options = NonNullable<Parameters<Cosmiconfig['cosmiconfig']>[1]>;

// The same CommonJS module object load-config.ts gets with require(), so wrapping its export is seen there.
const cosmiconfigModule = createRequire(import.meta.url)('cosmiconfig') as Cosmiconfig;
const realCosmiconfig = cosmiconfigModule.cosmiconfig;
const calls: { moduleName: string; options: Options | undefined }[] = [];

const SCRIPT = /\.(ts|mts|cts|js|mjs|cjs)$/;

/** A file for `place` whose config names the place, so that the winner can be told apart. */
function fileFor(place: string): string {
  const value = { default: place, eventsDir: `events-from-${place}` };
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
let reference: ReturnType<Cosmiconfig['cosmiconfig']>;
const dirs = {
  place: (index: number) => path.join(project.dir, `place-${String(index).padStart(2, '0')}`),
  get pkgNoKeyScript() { return path.join(project.dir, 'pkg-no-key-script'); },
  get pkgNoKeyRc() { return path.join(project.dir, 'pkg-no-key-rc'); },
  get allEmpty() { return path.join(project.dir, 'all-empty'); },
  get parent() { return path.join(project.dir, 'parent'); },
  get parentRc() { return path.join(project.dir, 'parent-rc'); },
  get bounded() { return path.join(project.dir, 'bounded'); },
  get noneOwnRoot() { return path.join(project.dir, 'none-own-root'); },
  get noneDeep() { return path.join(project.dir, 'none/a/b'); },
};

beforeAll(async () => {
  // The root holds package.json (no "broadcast" key) and node_modules/pusher-broadcast, so no search
  // leaves it, and script configs take the real start-up path (the transpile cache).
  project = await tempProject();
  const write = async (dir: string, files: Record<string, string>) => {
    await mkdir(dir, { recursive: true });
    await Promise.all(Object.entries(files).map(([name, text]) => writeFile(path.join(dir, name), text)));
  };
  const plainPkg = JSON.stringify({ name: 'inner', private: true });
  await Promise.all([
    // Place i holds its own file and every later one: the first must win.
    ...SEARCH_PLACES.map((_, i) => write(dirs.place(i), Object.fromEntries(SEARCH_PLACES.slice(i).map((p) => [p, fileFor(p)])))),
    write(dirs.pkgNoKeyScript, { 'package.json': plainPkg, 'broadcast.config.mjs': fileFor('broadcast.config.mjs') }),
    write(dirs.pkgNoKeyRc, { 'package.json': plainPkg, '.broadcastrc': fileFor('.broadcastrc') }),
    // Blank files everywhere but the last place: each is skipped for the next.
    write(dirs.allEmpty, Object.fromEntries(SEARCH_PLACES.slice(1).map((p, i, all) => [p, i === all.length - 1 ? fileFor(p) : ' \n']))),
    write(path.join(dirs.parent, 'packages/app/src'), {}),
    write(dirs.parent, { 'broadcast.config.ts': fileFor('broadcast.config.ts') }),
    write(path.join(dirs.parentRc, 'src/deep'), {}),
    write(dirs.parentRc, { '.broadcastrc.yml': fileFor('.broadcastrc.yml') }),
    // A config above the nearest package.json is outside the project: not found.
    write(path.join(dirs.bounded, 'app/src'), {}),
    write(dirs.bounded, { 'broadcast.config.mjs': fileFor('broadcast.config.mjs') }),
    write(path.join(dirs.bounded, 'app'), { 'package.json': plainPkg }),
    write(dirs.noneOwnRoot, { 'package.json': plainPkg }),
    write(dirs.noneDeep, {}),
  ]);

  // Record what load-config.ts passes to cosmiconfig; a non-script config makes it hand over.
  cosmiconfigModule.cosmiconfig = ((moduleName: string, options?: Options) => {
    calls.push({ moduleName, options });
    return realCosmiconfig(moduleName, options);
  }) as Cosmiconfig['cosmiconfig'];
  await loadConfig({ cwd: dirs.place(0) });
  expect(calls).toHaveLength(1);
  const { moduleName, options } = calls[0]!;
  expect(moduleName).toBe('broadcast');
  expect(options?.searchPlaces).toEqual(SEARCH_PLACES);
  reference = realCosmiconfig(moduleName, options);
});

afterAll(async () => {
  cosmiconfigModule.cosmiconfig = realCosmiconfig;
  await project?.cleanup();
});

/** Loads from `cwd` with both; asserts they agree and returns what the CLI got (and whether it asked cosmiconfig). */
async function bothFrom(cwd: string) {
  const expected = await reference.search(cwd);
  const before = calls.length;
  const loaded = await loadConfig({ cwd });
  const viaCosmiconfig = calls.length > before;
  expect(loaded.filepath).toBe(expected?.filepath);
  expect(loaded.config).toEqual(expected ? expected.config : {});
  return { ...loaded, viaCosmiconfig };
}

describe('the CLI finds the same config file as cosmiconfig', () => {
  it.each(SEARCH_PLACES.map((place, index) => ({ place, index })))(
    '$place wins over every later search place',
    async ({ place, index }) => {
      const { filepath, config, viaCosmiconfig } = await bothFrom(dirs.place(index));
      expect(filepath).toBe(path.join(dirs.place(index), place));
      expect(config).toEqual({ default: place, eventsDir: `events-from-${place}` });
      // Script configs are decided by the quick search itself (that is the start-up saving).
      expect(viaCosmiconfig).toBe(!SCRIPT.test(place));
    },
  );

  it('a package.json without a "broadcast" key is skipped for the next place', async () => {
    const script = await bothFrom(dirs.pkgNoKeyScript);
    expect(script.filepath).toBe(path.join(dirs.pkgNoKeyScript, 'broadcast.config.mjs'));
    expect(script.viaCosmiconfig).toBe(false);
    const rc = await bothFrom(dirs.pkgNoKeyRc);
    expect(rc.filepath).toBe(path.join(dirs.pkgNoKeyRc, '.broadcastrc'));
  });

  it('blank files are skipped for the next place', async () => {
    const last = SEARCH_PLACES[SEARCH_PLACES.length - 1]!;
    const { filepath } = await bothFrom(dirs.allEmpty);
    expect(filepath).toBe(path.join(dirs.allEmpty, last));
  });

  it('a config in a parent folder is found from a subfolder, up to the project root', async () => {
    const ts = await bothFrom(path.join(dirs.parent, 'packages/app/src'));
    expect(ts.filepath).toBe(path.join(dirs.parent, 'broadcast.config.ts'));
    expect(ts.viaCosmiconfig).toBe(false);
    const rc = await bothFrom(path.join(dirs.parentRc, 'src/deep'));
    expect(rc.filepath).toBe(path.join(dirs.parentRc, '.broadcastrc.yml'));
  });

  it('a config above the nearest package.json is not found (search strategy "project")', async () => {
    const loaded = await bothFrom(path.join(dirs.bounded, 'app/src'));
    expect(loaded).toEqual({ config: {}, filepath: undefined, viaCosmiconfig: false });
  });

  it('no config at all gives an empty config, with or without package.json in the folder', async () => {
    for (const cwd of [dirs.noneOwnRoot, dirs.noneDeep]) {
      const loaded = await bothFrom(cwd);
      expect(loaded).toEqual({ config: {}, filepath: undefined, viaCosmiconfig: false });
    }
  });
});

describe('CommonJS configs', () => {
  it('load with their own "default" field (the connection name) as config, with or without the transpile cache', async () => {
    // Without node_modules the cache is not used and jiti loads the file; with it, the cached module does.
    const bare = await mkdtemp(path.join(tmpdir(), 'broadcast-cjs-'));
    for (const dir of [bare, project.dir]) {
      for (const name of ['plain.cjs', 'typed.cts']) {
        const file = path.join(dir, name);
        await writeFile(file, "module.exports = { default: 'log', eventsDir: 'cjs-events' };\n");
        const loaded = await loadConfig({ cwd: dir, configPath: file });
        expect(loaded.config, `${name} in ${dir === bare ? 'a folder without node_modules' : 'a project'}`).toEqual({ default: 'log', eventsDir: 'cjs-events' });
      }
    }
  });
});

/**
 * A disk cache of transpiled config files, so that `broadcast.config.ts` is loaded with a plain `import()`
 * instead of through jiti (whose load and transform cost 40-65 ms) on every run but the first after a change.
 *
 * - The cache lives in `node_modules/.cache/broadcast/` of the nearest `node_modules` above the config
 *   (so package imports in the cached module resolve exactly as they do from the config itself). No
 *   `node_modules`, no cache.
 * - An entry is keyed by the config's absolute path, size, mtime, ctime and inode: any change to the file
 *   makes a new key (the old entry is deleted). The module is re-executed on every run, so values read
 *   from `process.env` or computed at load time are always current.
 * - Only self-contained configs are cached: those that import packages and Node.js built-ins only. A config
 *   that imports a relative file (whose changes this key would not see), requires a package, or imports
 *   something computed is marked "not cacheable" and keeps loading through jiti.
 * - Any problem with the cache itself (read-only folder, …) silently falls back to jiti.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** Bump when the generated module changes shape. */
const FORMAT = 'v2';
const require = createRequire(import.meta.url);
let loads = 0;

/** The cache folder for a config file, or undefined when there is no node_modules above it. */
export function cacheDirFor(filepath: string): string | undefined {
  for (let dir = path.dirname(filepath); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules');
    try {
      if (statSync(candidate).isDirectory()) return path.join(candidate, '.cache', 'broadcast');
    } catch {
      // keep looking upwards
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

/**
 * Imports a config file through the cache. Resolves with its CommonJS-style exports (`{ default, … }`, as
 * jiti gives them), or undefined when it cannot be cached (the caller then loads it with jiti).
 */
export async function importCachedConfig(filepath: string): Promise<Record<string, unknown> | undefined> {
  const entry = cacheEntry(filepath);
  if (!entry) return undefined;
  const { dir, prefix, key } = entry;
  const moduleFile = path.join(dir, `${prefix}-${key}.mjs`);
  const skipFile = path.join(dir, `${prefix}-${key}.skip`);
  if (exists(skipFile)) return undefined;
  if (!exists(moduleFile)) {
    const generated = generate(filepath, entry.stats);
    if (generated === undefined) return undefined;
    try {
      mkdirSync(dir, { recursive: true });
      removeEntries(dir, prefix);
      const target = generated === null ? skipFile : moduleFile;
      const temporary = `${target}.${process.pid}.tmp`;
      // Owner-only: a config may hold credentials.
      writeFileSync(temporary, generated ?? '', { mode: 0o600 });
      renameSync(temporary, target);
    } catch {
      return undefined;
    }
    if (generated === null) return undefined;
  }
  // A fresh URL each time within one process, so the config runs again as it would through jiti.
  const url = `${pathToFileURL(moduleFile).href}${loads++ === 0 ? '' : `?load=${loads}`}`;
  return ((await import(url)) as { exportsOfConfig: Record<string, unknown> }).exportsOfConfig;
}

interface Entry {
  dir: string;
  prefix: string;
  key: string;
  stats: { size: number; mtimeMs: number };
}

function cacheEntry(filepath: string): Entry | undefined {
  let stats;
  try {
    stats = statSync(filepath);
  } catch {
    return undefined;
  }
  const dir = cacheDirFor(filepath);
  if (!dir) return undefined;
  const hash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);
  return {
    dir,
    prefix: hash(filepath),
    key: hash([FORMAT, filepath, stats.size, stats.mtimeMs, stats.ctimeMs, stats.ino].join('\0')),
    stats,
  };
}

function exists(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch {
    return false;
  }
}

function removeEntries(dir: string, prefix: string): void {
  for (const name of readdirSync(dir)) {
    if (name.startsWith(`${prefix}-`)) {
      try {
        unlinkSync(path.join(dir, name));
      } catch {
        // another process may have removed it
      }
    }
  }
}

const BUILTINS = new Set(builtinModules);
const isBuiltin = (specifier: string) => specifier.startsWith('node:') || BUILTINS.has(specifier.split('/')[0]!);
const isBare = (specifier: string) => !/^(\.|\/|[a-zA-Z]:|file:|data:)/.test(specifier);

/**
 * The cached module's source; null when the config cannot be cached; undefined when it could not be
 * transformed (jiti will then report the problem itself).
 */
function generate(filepath: string, stats: { size: number; mtimeMs: number }): string | null | undefined {
  let source: string;
  let code: string;
  try {
    source = readFileSync(filepath, 'utf8');
    const { createJiti } = require('jiti') as typeof import('jiti');
    const jiti = createJiti(filepath, { interopDefault: false, moduleCache: false, fsCache: false });
    code = jiti.transform({ source, filename: filepath, ts: /\.[cm]?tsx?$/.test(filepath), async: true, interopDefault: false });
    // The file changed while it was read: do not cache what may be a mix.
    const after = statSync(filepath);
    if (after.size !== stats.size || after.mtimeMs !== stats.mtimeMs) return undefined;
  } catch {
    return undefined;
  }
  if (code.includes('__JITI_ERROR__')) return undefined;
  // Every import must be a package or a built-in (jitiImport), every require a built-in, all literal.
  const calls = code.matchAll(/\b(jitiImport|require)\s*\(\s*(?:"([^"\\]*)"|'([^'\\]*)'|`([^`\\$]*)`)?/g);
  for (const [, fn, double, single, template] of calls) {
    const specifier = double ?? single ?? template;
    if (specifier === undefined || !isBare(specifier)) return null;
    if (fn === 'require' && !isBuiltin(specifier)) return null;
  }
  code = inlineDefineConfig(code);
  return [
    `// Generated by pusher-broadcast from ${JSON.stringify(filepath)} (${stats.size} bytes). Safe to delete.`,
    "import { createRequire as __broadcastCreateRequire } from 'node:module';",
    `const __filename = ${JSON.stringify(filepath)};`,
    `const __dirname = ${JSON.stringify(path.dirname(filepath))};`,
    'const require = __broadcastCreateRequire(__filename);',
    'const module = { exports: {} };',
    'const jitiImport = (specifier) => import(specifier);',
    'await (async function (exports, require, module, __filename, __dirname, jitiImport) {',
    code,
    '}).call(module.exports, module.exports, require, module, __filename, __dirname, jitiImport);',
    // A named export: loaders that apply default-export interop (vitest's) leave it alone.
    'export const exportsOfConfig = module.exports;',
    '',
  ].join('\n');
}

/**
 * A config that takes only `defineConfig` from this package (the usual case) gets it inline: it is the
 * identity function (see config.ts), and importing the package index would load the whole library (~3 ms).
 */
export function inlineDefineConfig(code: string): string {
  const match = /\bvar (\w+) = await jitiImport\("pusher-broadcast"\);/.exec(code);
  if (!match) return code;
  const id = match[1]!;
  const uses = code.split(id).length - 1;
  const defineUses = code.match(new RegExp(`\\b${id}\\.defineConfig\\b`, 'g'))?.length ?? 0;
  if (uses !== defineUses + 1) return code;
  return code.replace(match[0], `var ${id} = { defineConfig: (config) => config };`);
}

/** What a quick search found: as cosmiconfig would report it. */
export interface QuickResult {
  config: unknown;
  filepath: string;
  isEmpty?: boolean;
}

const SCRIPT = /\.(ts|mts|cts|js|mjs|cjs)$/;

/**
 * cosmiconfig's search (strategy `project`: from `cwd` up to the first folder with a package.json), done
 * without loading cosmiconfig (about 8 ms) for the common cases: no config at all (null), or a script
 * config (loaded with `load`). Resolves undefined whenever cosmiconfig must decide: a `broadcast` key in
 * package.json, an rc/YAML/JSON file, `$import`, an empty export, or an unexpected error.
 */
export async function quickLoad(
  cwd: string,
  target: string | undefined,
  searchPlaces: readonly string[],
  load: (filepath: string) => Promise<unknown>,
): Promise<QuickResult | null | undefined> {
  const read = (file: string): string | undefined => {
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR' || code === 'EACCES') return undefined;
      throw error;
    }
  };
  const script = async (file: string): Promise<QuickResult | undefined> => {
    const config = await load(file);
    if (config === undefined || config === null) return undefined;
    if (typeof config === 'object' && Object.prototype.hasOwnProperty.call(config, '$import')) return undefined;
    return { config, filepath: file };
  };
  try {
    if (target !== undefined) {
      if (!SCRIPT.test(target)) return undefined;
      const contents = read(target);
      if (contents === undefined) return undefined;
      if (contents.trim() === '') return { config: undefined, filepath: target, isEmpty: true };
      return await script(target);
    }
    for (let dir = cwd; ; ) {
      for (const place of searchPlaces) {
        const file = path.join(dir, place);
        const contents = read(file);
        if (contents === undefined) continue;
        if (place === 'package.json') {
          let pkg: unknown;
          try {
            pkg = JSON.parse(contents);
          } catch {
            return undefined;
          }
          if ((pkg as Record<string, unknown> | null)?.broadcast != null) return undefined;
          continue;
        }
        if (contents.trim() === '') continue;
        if (!SCRIPT.test(place)) return undefined;
        return await script(file);
      }
      if (exists(path.join(dir, 'package.json')) || exists(path.join(dir, 'package.yaml'))) return null;
      const parent = path.dirname(dir);
      if (parent === dir) return null;
      dir = parent;
    }
  } catch (error) {
    if ((error as Error)?.name === 'ConfigError') throw error;
    return undefined;
  }
}

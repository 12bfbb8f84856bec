/**
 * How a configuration is loaded: search.ts finds the file, this module reads it (JSON, YAML, or a script run
 * with jiti through its public API, which needs no TypeScript compiler API: TypeScript 7 has none) and guard.ts
 * checks what it holds.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../core/errors.js';
import { cachedModule, transpileCache } from './cache.js';
import { checkConfigShape } from './guard.js';
import { defineConfig, type BroadcastConfig } from './schema.js';
import { searchConfig } from './search.js';

export { SEARCH_PLACES } from './search.js';

const require = createRequire(import.meta.url);

export interface LoadedConfig {
  config: BroadcastConfig;
  /** Absolute path of the file it came from; undefined when none was found. */
  filepath?: string;
}

const SCRIPT_EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'];

/**
 * Loads `configPath`, or searches from `cwd` up to the project root (the first folder with a package.json).
 * Returns an empty config when nothing is found.
 */
export async function loadConfig(options: { cwd?: string; configPath?: string } = {}): Promise<LoadedConfig> {
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const load = async (filepath: string, contents: string) => {
    try {
      return await loadFile(filepath, contents);
    } catch (error) {
      throw loadError(error, filepath, cwd);
    }
  };
  let found: { filepath: string; config: unknown } | undefined;
  if (options.configPath) {
    const filepath = path.resolve(cwd, options.configPath);
    let contents: string;
    try {
      contents = readFileSync(filepath, 'utf8');
    } catch (error) {
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      throw loadError(missing ? new Error('the file does not exist') : error, filepath, cwd);
    }
    found = { filepath, config: contents.trim() === '' ? undefined : await load(filepath, contents) };
  } else {
    found = await searchConfig(cwd, load);
  }
  if (!found) return { config: {} };
  const { filepath, config } = found;
  if (config === undefined || config === null) return { config: {}, filepath };
  if (typeof config !== 'object' || Array.isArray(config)) {
    throw new ConfigError(`${displayPath(filepath, cwd)} must export a config object (use defineConfig({...}))`);
  }
  return { config: checkConfigShape(config, displayPath(filepath, cwd)), filepath };
}

/** What one config file holds; undefined or null when nothing. */
async function loadFile(filepath: string, contents: string): Promise<unknown> {
  const extension = path.extname(filepath);
  let config: unknown;
  if (path.basename(filepath) === 'package.json') config = (JSON.parse(contents) as { broadcast?: unknown } | null)?.broadcast;
  else if (SCRIPT_EXTENSIONS.includes(extension)) config = await loadScript(filepath, contents);
  else if (extension === '.json') config = JSON.parse(contents);
  // `.broadcastrc` has no extension: YAML, which reads JSON too.
  else if (extension === '' || extension === '.yaml' || extension === '.yml') config = await parseYaml(filepath, contents);
  else throw new Error(`no loader for ${extension} files; use .ts, .js, .json or .yaml`);
  if (typeof config === 'object' && config !== null && Object.prototype.hasOwnProperty.call(config, '$import')) {
    return loadWithImports(filepath, config);
  }
  return config;
}

async function parseYaml(filepath: string, contents: string): Promise<unknown> {
  // cosmiconfig's YAML loader (js-yaml); cosmiconfig is loaded only for YAML and `$import`.
  const { defaultLoaders } = require('cosmiconfig') as typeof import('cosmiconfig');
  return defaultLoaders['.yaml'](filepath, contents);
}

/**
 * A config with `$import` (a cosmiconfig feature: other config files merged under this one's own values) is
 * loaded again by cosmiconfig, which resolves the imports; this file's own script is not run a second time.
 */
async function loadWithImports(filepath: string, loaded: unknown): Promise<unknown> {
  const { cosmiconfig } = require('cosmiconfig') as typeof import('cosmiconfig');
  const script = async (file: string) => (file === filepath ? loaded : loadScript(file, readFileSync(file, 'utf8')));
  const loaders = Object.fromEntries(SCRIPT_EXTENSIONS.map((extension) => [extension, script]));
  const result = await cosmiconfig('broadcast', { searchStrategy: 'none', cache: false, loaders }).load(filepath);
  return result?.config;
}

/**
 * A script config's export. A self-contained config (see selfContained) runs as a plain ES module from the
 * cache (cache.ts): only its first load after a change transpiles it (sucrase), and warm runs load no
 * transpiler at all. Every other script, and a plain module that could not be made or linked, loads through
 * jiti. There, a config that takes nothing but `defineConfig` from this package (the usual case, `broadcast init`
 * writes one) gets it without loading the whole library (about 25 ms): `defineConfig` is the identity function,
 * and jiti's `virtualModules` hands it over. Only when the file imports no local modules, which might use more
 * of the library; a load that fails this way is retried with the real package.
 */
async function loadScript(filepath: string, contents: string): Promise<unknown> {
  const plain = await importPlainModule(filepath, contents);
  if (plain) return configExport(plain);
  const virtualModules = onlyDefineConfig(contents) ? { 'pusher-broadcast': Object.freeze({ defineConfig }) } : undefined;
  return configExport(await importModule(filepath, { virtualModules }));
}

/** Script kinds that can run as a plain ES module (`.cts`/`.cjs` are CommonJS). */
const PLAIN_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs'];

/**
 * True when a script config can run as a plain ES module from the cache, with the same result as through jiti:
 * it exports with ES syntax and imports nothing but packages and Node.js built-ins, statically (they resolve
 * from the cache in the same `node_modules`; a local file's changes would not be seen, and a `#` import has no
 * package scope there), and uses nothing that depends on where the module is: `import.meta`, `__dirname`,
 * `__filename`, `require(`, `import(`. Textual and cautious: a mention in a comment or string counts too.
 */
export function selfContained(filepath: string, source: string): boolean {
  if (!PLAIN_EXTENSIONS.includes(path.extname(filepath)) || !/\bexport\b/.test(source)) return false;
  if (/\bimport\s*(?:\(|\.\s*meta\b)|\brequire\s*\(|\b__(?:dirname|filename)\b|\bmodule\.exports\b|\bexports\s*\./.test(source)) return false;
  const specifiers = [...source.matchAll(/\b(?:from|import)\s*(['"])([^'"]*)\1/g)].map((m) => m[2]!);
  return specifiers.every((specifier) => specifier.startsWith('node:') || /^[^./#\\][^:\\]*$/.test(specifier));
}

/** The transpiler of plain modules, as the cache key names it; loaded only on a cache miss. */
const TRANSPILER = 'sucrase';

/**
 * Signals that a cached config module began to run: its first statement calls this with its URL. An error
 * before that (a package that cannot be linked as ES, a transpiler mistake Node.js refuses) is not the
 * config's own, and jiti gets to load the file; one after it is, and is reported (running the config twice
 * could repeat what it does).
 */
const STARTED = Symbol.for('pusher-broadcast.configStarted');
const started = new Set<string>();
/**
 * Cached modules this process has imported. Node.js keeps every module it imports for good, so a config loaded
 * again in the same process (a long-running app calling `Broadcast.fromConfig()` more than once) goes through
 * jiti, which runs it afresh and keeps nothing.
 */
const imported = new Set<string>();

/** A self-contained config run as a plain ES module from the cache; undefined when that way is not taken. */
async function importPlainModule(filepath: string, source: string): Promise<Record<string, unknown> | undefined> {
  if (!selfContained(filepath, source)) return undefined;
  let entry: string | undefined;
  try {
    const version = (require(`${TRANSPILER}/package.json`) as { version: string }).version;
    entry = cachedModule(filepath, source, `${TRANSPILER}@${version}`, () => plainModule(filepath, source));
  } catch {
    // no transpiler installed: jiti
  }
  if (!entry || imported.has(entry)) return undefined;
  imported.add(entry);
  const url = pathToFileURL(entry).href;
  (globalThis as Record<symbol, unknown>)[STARTED] ??= (startedUrl: string) => started.add(startedUrl);
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (error) {
    if (started.has(url)) throw error;
    return undefined;
  } finally {
    started.delete(url);
  }
}

/**
 * A self-contained config as a plain ES module: TypeScript types removed (line numbers kept), a lone
 * `import { defineConfig } from 'pusher-broadcast'` replaced by the identity function it is (so the library is
 * not loaded), and the start signal (STARTED) first, on the first line.
 */
function plainModule(filepath: string, source: string): string {
  let code = source;
  if (/\.m?ts$/.test(filepath)) {
    const { transform } = require(TRANSPILER) as typeof import('sucrase');
    // Modern syntax is left as it is: Node.js 20 runs it.
    code = transform(source, { transforms: ['typescript'], disableESTransforms: true, filePath: filepath }).code;
  }
  if (onlyDefineConfig(source)) {
    code = code.replace(DEFINE_CONFIG_IMPORT, (match) => `function defineConfig(config) { return config; }${match.replace(/[^\n]/g, '')}`);
  }
  // A `#!` line may only come first: the signal takes its place.
  return `globalThis[Symbol.for('pusher-broadcast.configStarted')]?.(import.meta.url);${code.replace(/^#![^\n]*/, '')}`;
}

/** `import { defineConfig } from 'pusher-broadcast'`, alone. */
const DEFINE_CONFIG_IMPORT = /\bimport\s*\{\s*defineConfig\s*,?\s*\}\s*from\s*(['"])pusher-broadcast\1/g;

/** True when the source's only use of `pusher-broadcast` is `import { defineConfig }`, and it imports no local file. */
export function onlyDefineConfig(source: string): boolean {
  const count = (pattern: RegExp) => source.match(pattern)?.length ?? 0;
  const mentions = source.split('pusher-broadcast').length - 1;
  const defineImports = count(DEFINE_CONFIG_IMPORT);
  const typeImports = count(/\bimport\s+type\s*\{[^}]*\}\s*from\s*(['"])pusher-broadcast\1/g);
  if (defineImports === 0 || mentions !== defineImports + typeImports) return false;
  const bare = (specifier: string) => !/^(\.|\/|[a-zA-Z]:|file:|data:)/.test(specifier);
  // `… from '…'` and `import '…'`: each names a package; `import(…)` and `require(…)`: each a literal package name.
  const statics = [...source.matchAll(/\b(?:from|import)\s*(['"])([^'"]*)\1/g)].map((m) => m[2]!);
  const calls = [...source.matchAll(/\b(?:import|require)\s*\(\s*([^),]*)/g)].map((m) => /^(['"`])([^'"`$]*)\1\s*$/.exec(m[1]!)?.[2]);
  return statics.every(bare) && calls.every((specifier) => specifier !== undefined && bare(specifier));
}

/**
 * Imports a TypeScript or JavaScript module with jiti, through the transpile cache (cache.ts). On any failure
 * it is loaded again by jiti alone, whose error (if it fails too) is the one reported: the cache can make a load
 * faster, never break it. `virtualModules` are jiti's option of that name, used on the fast path only.
 */
export async function importModule(
  filepath: string,
  options: { virtualModules?: Record<string, unknown> } = {},
): Promise<Record<string, unknown>> {
  const { createJiti } = require('jiti') as typeof import('jiti');
  // No jiti fsCache (it writes transpiled code, secrets included, readable by all); a fresh run on every load.
  const plain = { fsCache: false, moduleCache: false, interopDefault: false } as const;
  const transform = transpileCache(filepath);
  if (transform || options.virtualModules) {
    try {
      const fast = createJiti(filepath, { ...plain, ...(transform ? { transform } : {}), virtualModules: options.virtualModules });
      return await fast.import<Record<string, unknown>>(filepath);
    } catch {
      // Tried again below without the cache and the shortcut.
    }
  }
  return createJiti(filepath, plain).import<Record<string, unknown>>(filepath);
}

/**
 * The config a loaded module exports: an ES module's default export (transpiled ones carry `__esModule`; none:
 * undefined), or a CommonJS module's exports themselves, whose own `default` field is the connection name.
 */
function configExport(mod: Record<string, unknown>): unknown {
  const esModule = Boolean(mod.__esModule) || Object.prototype.toString.call(mod) === '[object Module]';
  return esModule ? mod.default : mod;
}

/** A ConfigError naming the file, with the reason's first line and never the file's text. */
function loadError(error: unknown, filepath: string, cwd: string): ConfigError {
  if (error instanceof ConfigError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const reason = withoutSource(message);
  // The original error when nothing had to be cut from it (its stack helps), else only the safe text.
  const cause = reason === message ? error : new Error(reason);
  return new ConfigError(`Could not load ${displayPath(filepath, cwd)}: ${firstLine(reason)}`, { cause });
}

/** A parse error's message without the quoted source: code frames, `while parsing '…'` and V8's JSON snippets. */
function withoutSource(message: string): string {
  return message
    .split('\n')
    .filter((line) => !/^\s*>?\s*\d+\s*\|/.test(line) && !/^\s*\|/.test(line) && !/^\s*-*\^\s*$/.test(line))
    .join('\n')
    .replace(/ while parsing '.*'/g, '')
    .replace(/,\s*(\.\.\.)?".*is not valid JSON/g, ' (not valid JSON)');
}

function firstLine(message: string): string {
  const lines = message.split('\n').map((l) => l.trim()).filter(Boolean);
  // YAML errors read "YAML Error in <file>:" with the reason on the next line.
  return (lines[0]?.endsWith(':') && lines[1] ? `${lines[0]} ${lines[1]}` : lines[0]) ?? message;
}

/** `file` relative to `cwd` when it is inside it, else absolute. */
export function displayPath(file: string, cwd: string = process.cwd()): string {
  const relative = path.relative(cwd, file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

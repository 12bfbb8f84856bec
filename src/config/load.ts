/**
 * How a configuration is loaded: search.ts finds the file, this module reads it (JSON, YAML, or a script run
 * with jiti through its public API, which needs no TypeScript compiler API: TypeScript 7 has none) and guard.ts
 * checks what it holds. A script is run under a time limit and may not exit the process; whatever goes wrong
 * is a ConfigError naming the file, the line and column and the kind of error, never quoting the file's text.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { formatDuration, parseDuration } from '../core/duration.js';
import { ConfigError } from '../core/errors.js';
import { packageRoot } from '../core/package-root.js';
import { cachedModule, transpileCache } from './cache.js';
import { DEFAULTS } from './defaults.js';
import { checkConfigShape } from './guard.js';
import { defineConfig, rememberConfigFile, type BroadcastConfig, type Env } from './schema.js';
import { searchConfig } from './search.js';

export { SEARCH_PLACES } from './search.js';

const require = createRequire(import.meta.url);

export interface LoadedConfig {
  config: BroadcastConfig;
  /** Absolute path of the file it came from; undefined when none was found. */
  filepath?: string;
}

const SCRIPT_EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'];
/** Every extension a config file can have ('' is `.broadcastrc`, read as YAML). */
const CONFIG_EXTENSIONS = [...SCRIPT_EXTENSIONS, '.json', '.yaml', '.yml', ''];

/** BROADCAST_CONFIG_TIMEOUT: how long loading the config may take (`30s`; a bare number is milliseconds). */
export const CONFIG_TIMEOUT_VAR = 'BROADCAST_CONFIG_TIMEOUT';

export interface LoadConfigOptions {
  cwd?: string;
  /** A file to load instead of searching. */
  configPath?: string;
  /** For BROADCAST_CONFIG_TIMEOUT (default: `process.env`). */
  env?: Env;
}

/**
 * Loads `configPath`, or searches from `cwd` up to the project root (the first folder with a package.json).
 * Returns an empty config when nothing is found.
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const limitMs = loadTimeLimit(options.env ?? process.env);
  const load = async (filepath: string, contents: string) => {
    try {
      return await guarded(displayPath(filepath, cwd), limitMs, () => loadFile(filepath, contents));
    } catch (error) {
      throw loadError(error, filepath, cwd);
    }
  };
  let found: { filepath: string; config: unknown } | undefined;
  if (options.configPath) {
    const filepath = path.resolve(cwd, options.configPath);
    const extension = path.extname(filepath).toLowerCase();
    if (!CONFIG_EXTENSIONS.includes(extension) && path.basename(filepath) !== 'package.json') {
      throw new ConfigError(`${displayPath(filepath, cwd)} cannot be a config file: a config is a .ts, .mts, .cts, .js, .mjs, .cjs, .json, .yaml or .yml file (or .broadcastrc)`, {
        hint: extension === '.ndjson' || extension === '.jsonl' ? 'To send the events of an NDJSON file: broadcast emit --file <path>' : undefined,
      });
    }
    let contents: string;
    try {
      contents = readFileSync(filepath, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new ConfigError(`Could not load ${displayPath(filepath, cwd)}: the file does not exist`);
      throw loadError(error, filepath, cwd);
    }
    found = { filepath, config: contents.trim() === '' ? undefined : await load(filepath, contents) };
  } else {
    found = await searchConfig(cwd, load);
  }
  if (!found) return { config: {} };
  const { filepath, config } = found;
  if (config === undefined || config === null) return { config: {}, filepath };
  const file = displayPath(filepath, cwd);
  if (typeof config !== 'object' || Array.isArray(config)) {
    throw new ConfigError(`${file} must hold a config object, not ${Array.isArray(config) ? 'a list' : `a ${typeof config}`}`);
  }
  const checked = checkConfigShape(config, file);
  rememberConfigFile(checked, file);
  return { config: checked, filepath };
}

/** The load time limit: BROADCAST_CONFIG_TIMEOUT, else DEFAULTS.configTimeoutMs. */
function loadTimeLimit(env: Env): number {
  const value = env[CONFIG_TIMEOUT_VAR]?.trim();
  if (!value) return DEFAULTS.configTimeoutMs;
  try {
    return parseDuration(value, CONFIG_TIMEOUT_VAR, 'ms');
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
}

/** What one config file holds; undefined or null when nothing (a script must export an object). */
async function loadFile(filepath: string, contents: string): Promise<unknown> {
  const extension = path.extname(filepath).toLowerCase();
  let config: unknown;
  if (path.basename(filepath) === 'package.json') config = (parseJson(contents) as { broadcast?: unknown } | null)?.broadcast;
  else if (SCRIPT_EXTENSIONS.includes(extension)) {
    config = await loadScript(filepath, contents);
    // Someone wrote this file as the config: exporting nothing is a mistake to report, not a reason to look on.
    if (typeof config !== 'object' || config === null || Array.isArray(config)) {
      const what = config === undefined ? 'exports none (an ES module needs a default export)' : `exports ${config === null ? 'null' : Array.isArray(config) ? 'a list' : `a ${typeof config}`}`;
      throw new NoConfigExport(`must export a config object: export default defineConfig({ … }); it ${what}`);
    }
  } else if (extension === '.json') config = parseJson(contents);
  // `.broadcastrc` has no extension: YAML, which reads JSON too.
  else if (extension === '' || extension === '.yaml' || extension === '.yml') config = await parseYaml(filepath, contents);
  else throw new Error(`no loader for ${extension} files; use .ts, .js, .json or .yaml`);
  if (typeof config === 'object' && config !== null && Object.prototype.hasOwnProperty.call(config, '$import')) {
    return loadWithImports(filepath, config);
  }
  return config;
}

/**
 * Runs `work` (loading `file`) under the load time limit, with `process.exit` refused while it runs: a config
 * that exits would end the command with its exit code, a silent success. A top-level `await` that never settles
 * is reported when the limit passes with the process idle, or at once when nothing else is left to run (the
 * event loop drains).
 */
async function guarded<T>(file: string, limitMs: number, work: () => Promise<T>): Promise<T> {
  let exitCalled = false;
  const release = refuseExit(() => {
    exitCalled = true;
    return exitRefused(file);
  });
  let timer: NodeJS.Timeout | undefined;
  let drained: (() => void) | undefined;
  const stuck = new Promise<never>((_, reject) => {
    const hint = `A top-level await in it (or in a module it imports) may never settle. If it needs more time, raise the limit: ${CONFIG_TIMEOUT_VAR}=30s`;
    // The limit counts waiting, not working: a load still compiling on a machine busy with other processes (twenty
    // CLIs started at once) gets another period while this process keeps using the CPU.
    let cpu = process.cpuUsage();
    const check = () => {
      const spent = process.cpuUsage(cpu);
      cpu = process.cpuUsage();
      // An await that never settles leaves the process idle (well under 1% of a core); a load that is working,
      // even starved by other processes, uses more than 2% of the period.
      if ((spent.user + spent.system) / 1000 > limitMs * 0.02) timer = setTimeout(check, limitMs).unref();
      else reject(new ConfigError(`${file} did not finish loading within ${formatDuration(limitMs)}`, { hint }));
    };
    // unref: the timer alone must not keep the process running, so that a drained event loop is seen below.
    timer = setTimeout(check, limitMs).unref();
    drained = () => reject(new ConfigError(`${file} never finishes loading: a top-level await in it (or in a module it imports) never settles`));
    onDrain(drained);
  });
  try {
    const result = await Promise.race([work(), stuck]);
    if (exitCalled) throw exitRefused(file);
    return result;
  } finally {
    clearTimeout(timer);
    offDrain(drained!);
    release();
  }
}

/** Loads waiting for the event loop to drain: one `beforeExit` listener serves them all, however many run at once. */
const drains = new Set<() => void>();
const drainAll = () => drains.forEach((drain) => drain());

function onDrain(drain: () => void): void {
  if (drains.size === 0) process.on('beforeExit', drainAll);
  drains.add(drain);
}

function offDrain(drain: () => void): void {
  drains.delete(drain);
  if (drains.size === 0) process.off('beforeExit', drainAll);
}

function exitRefused(file: string): ConfigError {
  return new ConfigError(`${file} called process.exit() while loading; a config must not end the process`, {
    hint: 'Throw an error instead: it is reported with the file and line',
  });
}

/** Loads in progress that refuse `process.exit`, innermost last; the real `process.exit` while any is. */
const exitGuards: (() => ConfigError)[] = [];
let realExit: typeof process.exit | undefined;

/** Makes `process.exit` throw what `refusal` returns until the returned function is called. */
function refuseExit(refusal: () => ConfigError): () => void {
  if (exitGuards.length === 0) {
    realExit = process.exit;
    process.exit = ((): never => {
      throw exitGuards[exitGuards.length - 1]!();
    }) as typeof process.exit;
  }
  exitGuards.push(refusal);
  return () => {
    exitGuards.splice(exitGuards.lastIndexOf(refusal), 1);
    if (exitGuards.length === 0 && realExit) {
      process.exit = realExit;
      realExit = undefined;
    }
  };
}

/** A script config that exports no object (loadError names the file). */
class NoConfigExport extends Error {}

/** A load failure located in a file, with its kind; its reason quotes none of the file's text. */
class LocatedError extends Error {
  constructor(
    readonly kind: string,
    readonly reason: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`${kind} at line ${line}, column ${column}: ${reason}`);
  }
}

/** JSON.parse, with a failure located by line and column; the reason never quotes the text (V8's does). */
function parseJson(contents: string): unknown {
  try {
    return JSON.parse(contents);
  } catch (error) {
    const message = (error as Error).message;
    const reason = message
      .replace(/^Unexpected token\b.*$/s, 'Unexpected character')
      .replace(/^Unexpected non-whitespace character after JSON.*$/s, 'Unexpected text after the JSON value')
      .replace(/ in JSON at position \d+.*$/s, '')
      .replace(/,\s*(\.\.\.)?".*is not valid JSON$/s, '');
    const offset = jsonErrorOffset(contents) ?? Number(/at position (\d+)/.exec(message)?.[1] ?? NaN);
    if (!Number.isFinite(offset)) throw new Error(`JSON syntax error: ${reason}`);
    const { line, column } = lineAndColumn(contents, offset);
    throw new LocatedError('JSON syntax error', reason, line, column);
  }
}

/** 1-based line and column of `offset` in `text`. */
function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  return { line: before.split('\n').length, column: offset - before.lastIndexOf('\n') };
}

/**
 * Where the first syntax error of `text` is, as JSON (V8's messages do not always say); undefined when none is
 * found, or the text nests too deeply to look.
 */
function jsonErrorOffset(text: string): number | undefined {
  let i = 0;
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const check = (ok: boolean) => {
    if (!ok) throw i;
  };
  const space = () => {
    while (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r') i++;
  };
  const string = () => {
    check(text[i] === '"');
    for (i++; ; ) {
      const c = text[i];
      check(c !== undefined && c >= ' ');
      i++;
      if (c === '"') return;
      if (c === '\\') {
        if (text[i] === 'u') check(/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5)));
        else check(text[i] !== undefined && '"\\/bfnrt'.includes(text[i]!));
        i += text[i] === 'u' ? 5 : 1;
      }
    }
  };
  const value = (depth: number): void => {
    if (depth > 1000) throw 'too deep';
    space();
    const open = text[i];
    if (open === '{' || open === '[') {
      const close = open === '{' ? '}' : ']';
      i++;
      space();
      if (text[i] === close) return void i++;
      for (;;) {
        if (open === '{') {
          space();
          string();
          space();
          check(text[i] === ':');
          i++;
        }
        value(depth + 1);
        space();
        if (text[i] === ',') {
          i++;
          continue;
        }
        check(text[i] === close);
        return void i++;
      }
    }
    if (open === '"') return string();
    for (const word of ['true', 'false', 'null']) if (text.startsWith(word, i)) return void (i += word.length);
    NUMBER.lastIndex = i;
    check(NUMBER.test(text));
    i = NUMBER.lastIndex;
  };
  try {
    value(0);
    space();
    check(i === text.length);
    return undefined;
  } catch (at) {
    return typeof at === 'number' ? at : undefined;
  }
}

async function parseYaml(filepath: string, contents: string): Promise<unknown> {
  // cosmiconfig's YAML loader (js-yaml); cosmiconfig is loaded only for YAML and `$import`.
  const { defaultLoaders } = require('cosmiconfig') as typeof import('cosmiconfig');
  try {
    return await defaultLoaders['.yaml'](filepath, contents);
  } catch (error) {
    const { reason, mark } = error as { reason?: unknown; mark?: { line?: unknown; column?: unknown } };
    if (typeof reason !== 'string' || typeof mark?.line !== 'number' || typeof mark.column !== 'number') throw error;
    throw new LocatedError('YAML syntax error', yamlReason(reason), mark.line + 1, mark.column + 1);
  }
}

/**
 * js-yaml's reason without the text it quotes: an unquoted value starting with `*` or `!` (a secret can) is read
 * as an alias or a tag, and the error would show it.
 */
function yamlReason(reason: string): string {
  if (reason.startsWith('unidentified alias')) return 'unknown alias: a value starting with * is read as a YAML alias (quote the value)';
  if (reason.startsWith('unknown tag') || reason.includes('!<')) return 'unknown tag: a value starting with ! is read as a YAML tag (quote the value)';
  return reason.replace(/"[^"]*"|'[^']*'|!<[^>]*>/g, '…');
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
 * Signals that a cached config module began to run: its first statement calls this with its URL (a plain
 * module) or its path (jiti's transform, cache.ts). An error
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
    const id = path.resolve(filepath);
    (globalThis as Record<symbol, unknown>)[STARTED] ??= (startedId: string) => started.add(startedId);
    try {
      const fast = createJiti(filepath, { ...plain, ...(transform ? { transform } : {}), virtualModules: options.virtualModules });
      return await fast.import<Record<string, unknown>>(filepath);
    } catch (error) {
      // The config's own code failed (its start signal ran, see cache.ts): reported, not run a second time.
      if (started.has(id)) throw error;
      // Else the cache or the shortcut failed: tried again below without them.
    } finally {
      started.delete(id);
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

/**
 * A ConfigError naming the file, with where in it the error is and its kind, and never the file's text: parse
 * errors of JSON, YAML and scripts (line and column), and errors a script throws while it runs (the line of the
 * first stack frame outside node_modules, which may be a module the config imports). `details` hold the same for
 * JSON output.
 */
function loadError(error: unknown, filepath: string, cwd: string): ConfigError {
  if (error instanceof ConfigError) return error;
  const file = displayPath(filepath, cwd);
  if (error instanceof NoConfigExport) return new ConfigError(`${file} ${error.message}`);
  const located = locate(error, filepath);
  if (located) {
    const other = located.file !== filepath ? `${displayPath(located.file, cwd)} ` : '';
    const column = located.column ? `, column ${located.column}` : '';
    const at = located.line ? ` at ${other}line ${located.line}${column}` : other ? ` in ${other.trim()}` : '';
    return new ConfigError(`Could not load ${file}: ${located.reason} (${located.kind}${at})`, {
      cause: new Error(located.reason),
      details: { file: displayPath(located.file, cwd), ...(located.line ? { line: located.line } : {}), ...(located.column ? { column: located.column } : {}), kind: located.kind },
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  const reason = withoutSource(message);
  // The original error when nothing had to be cut from it (its stack helps), else only the safe text.
  const cause = reason === message ? error : new Error(reason);
  return new ConfigError(`Could not load ${file}: ${firstLine(reason)}`, { cause });
}

/** This package's own code (src/ when tests run it, dist/ when built): never where a config's error is. */
const ownCode = () => ['src', 'dist'].map((dir) => path.join(packageRoot(), dir) + path.sep);

/** Where a load error happened and what it was, when that can be told. */
function locate(error: unknown, filepath: string): { file: string; line?: number; column?: number; kind: string; reason: string } | undefined {
  if (error instanceof LocatedError) return { file: filepath, line: error.line, column: error.column, kind: error.kind, reason: error.reason };
  if (!(error instanceof Error)) return undefined;
  // jiti's parse errors read `ParseError: <reason>` and, on a later line, `<file>:<line>:<column>` (Babel's
  // position: the column counts from 0).
  const parse = /^(?:\w*Error: )?ParseError: (.*?)\s*\n\s*(.+):(\d+):(\d+)\s*$/s.exec(error.message);
  if (parse) {
    return { file: parse[2]!, line: Number(parse[3]), column: Number(parse[4]) + 1, kind: 'SyntaxError', reason: firstLine(withoutSource(parse[1]!)) };
  }
  if (error.name === 'SyntaxError' || !SCRIPT_EXTENSIONS.includes(path.extname(filepath).toLowerCase())) return undefined;
  // An error the script threw while running: its first frame in a file of the user's (not in node_modules, not
  // node's own, not this package's code).
  for (const line of (error.stack ?? '').split('\n').slice(1)) {
    // Node's own frames (node:internal/…) name no file of the user's.
    if (/\bnode:/.test(line)) continue;
    const frame = /\(?((?:file:\/\/)?(?:\/|[A-Za-z]:[\\/])[^()]*?):(\d+):(\d+)\)?\s*$/.exec(line);
    if (!frame) continue;
    let file = frame[1]!.startsWith('file://') ? fileURLToPath(frame[1]!.replace(/\?.*$/, '')) : frame[1]!;
    // The config run from the transpile cache: sucrase keeps its lines, so the line is the config's.
    if (/[\\/]\.cache[\\/]broadcast[\\/]transpiled[\\/]/.test(file)) file = filepath;
    else if (/[\\/]node_modules[\\/]/.test(file) || ownCode().some((dir) => file.startsWith(dir))) continue;
    // The line is the file's (jiti keeps lines); the column is the transpiled code's, so it is not shown.
    return { file, line: Number(frame[2]), kind: error.name || 'Error', reason: firstLine(withoutSource(error.message)) };
  }
  return { file: filepath, kind: error.name || 'Error', reason: firstLine(withoutSource(error.message)) };
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

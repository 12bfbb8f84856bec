/**
 * Finds and loads the project's configuration with cosmiconfig (module name `broadcast`). TypeScript files
 * are loaded with jiti, which needs no TypeScript compiler API (TypeScript 7 has none; see README).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { ConfigError } from '../core/errors.js';
import type { BroadcastConfig } from './schema.js';
import { checkConfigShape } from './guard.js';

export interface LoadedConfig {
  config: BroadcastConfig;
  /** Absolute path of the file it came from; undefined when none was found. */
  filepath?: string;
}

export const SEARCH_PLACES = [
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
];

/** Imports a TypeScript or JavaScript module with jiti (transpiled output is cached on disk). */
export async function importModule(filepath: string): Promise<Record<string, unknown>> {
  const { createJiti } = createRequire(import.meta.url)('jiti') as typeof import('jiti');
  const jiti = createJiti(filepath, { interopDefault: false, moduleCache: false });
  return (await jiti.import(filepath)) as Record<string, unknown>;
}

async function loadScript(filepath: string): Promise<unknown> {
  try {
    // Through the transpile cache when the config is self-contained (see cache.ts), else jiti.
    const { importCachedConfig } = await import('./cache.js');
    return configExport((await importCachedConfig(filepath)) ?? (await importModule(filepath)));
  } catch (error) {
    throw new ConfigError(`Could not load ${displayPath(filepath)}: ${firstLine(error)}`, { cause: error });
  }
}

/**
 * The config a loaded module exports: an ES module's default export (transpiled ones carry `__esModule`), or a
 * CommonJS module's exports themselves, whose own `default` field is the connection name, not an export.
 */
function configExport(mod: Record<string, unknown>): unknown {
  const esModule = Boolean(mod.__esModule) || Object.prototype.toString.call(mod) === '[object Module]';
  return esModule && 'default' in mod ? mod.default : mod;
}

/**
 * Loads `configPath`, or searches from `cwd` up to the project root (the first folder with a package.json).
 * Returns an empty config when nothing is found.
 */
export async function loadConfig(options: { cwd?: string; configPath?: string } = {}): Promise<LoadedConfig> {
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const target = options.configPath ? path.resolve(cwd, options.configPath) : undefined;
  // Start-up: no config, or a script config, is found without cosmiconfig (same order and rules).
  const { quickLoad } = await import('./cache.js');
  let result = await quickLoad(cwd, target, SEARCH_PLACES, loadScript);
  if (result === undefined) {
    // require(), not import(): Node parses a CommonJS package imported as ESM for its exports (~10 ms here).
    const { cosmiconfig } = createRequire(import.meta.url)('cosmiconfig') as typeof import('cosmiconfig');
    try {
      // Inside the try: creating the explorer already reads package.json (for a meta config).
      const explorer = cosmiconfig('broadcast', {
        searchPlaces: SEARCH_PLACES,
        searchStrategy: 'project',
        cache: false,
        loaders: { '.ts': loadScript, '.mts': loadScript, '.cts': loadScript, '.js': loadScript, '.mjs': loadScript, '.cjs': loadScript },
      });
      result = target ? await explorer.load(target) : await explorer.search(cwd);
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      const file = target ?? (error as { filepath?: string }).filepath ?? 'the config file';
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new ConfigError(`Could not load ${displayPath(file, cwd)}: the file does not exist`, { cause: error });
      }
      // JSON and YAML parse errors quote the file around the error, and config files hold secrets.
      const reason = withoutSource(error instanceof Error ? error.message : String(error));
      throw new ConfigError(`Could not load ${displayPath(file, cwd)}: ${firstLine(reason)}`, { cause: new Error(reason) });
    }
  }
  if (!result || result.isEmpty) return { config: {}, filepath: result?.filepath };
  const config = result.config;
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new ConfigError(`${displayPath(result.filepath, cwd)} must export a config object (use defineConfig({...}))`);
  }
  return { config: checkConfigShape(config, displayPath(result.filepath, cwd)), filepath: result.filepath };
}

/** A parse error's message without the quoted source: code frames, `while parsing '…'` and V8's JSON snippets. */
export function withoutSource(message: string): string {
  return message
    .split('\n')
    .filter((line) => !/^\s*>?\s*\d+\s*\|/.test(line) && !/^\s*\|/.test(line) && !/^\s*-*\^\s*$/.test(line))
    .join('\n')
    .replace(/ while parsing '.*'/g, '')
    .replace(/,\s*(\.\.\.)?".*is not valid JSON/g, ' (not valid JSON)');
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const lines = message.split('\n').map((l) => l.trim()).filter(Boolean);
  // cosmiconfig's parse errors read "YAML Error in <file>:" with the reason on the next line.
  return (lines[0]?.endsWith(':') && lines[1] ? `${lines[0]} ${lines[1]}` : lines[0]) ?? message;
}

export function displayPath(file: string, cwd: string = process.cwd()): string {
  const relative = path.relative(cwd, file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

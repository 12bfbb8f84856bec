/**
 * Finds and loads the project's configuration with cosmiconfig (module name `broadcast`). TypeScript files
 * are loaded with jiti, which needs no TypeScript compiler API (TypeScript 7 has none; see README).
 */
import path from 'node:path';
import { ConfigError } from './errors.js';
import type { BroadcastConfig } from './config.js';

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
  const { createJiti } = await import('jiti');
  const jiti = createJiti(filepath, { interopDefault: false, moduleCache: false });
  return (await jiti.import(filepath)) as Record<string, unknown>;
}

async function loadScript(filepath: string): Promise<unknown> {
  try {
    const mod = await importModule(filepath);
    return 'default' in mod ? mod.default : mod;
  } catch (error) {
    throw new ConfigError(`Could not load ${displayPath(filepath)}: ${firstLine(error)}`, { cause: error });
  }
}

/**
 * Loads `configPath`, or searches from `cwd` up to the project root (the first folder with a package.json).
 * Returns an empty config when nothing is found.
 */
export async function loadConfig(options: { cwd?: string; configPath?: string } = {}): Promise<LoadedConfig> {
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const { cosmiconfig } = await import('cosmiconfig');
  const explorer = cosmiconfig('broadcast', {
    searchPlaces: SEARCH_PLACES,
    searchStrategy: 'project',
    cache: false,
    loaders: { '.ts': loadScript, '.mts': loadScript, '.cts': loadScript, '.js': loadScript, '.mjs': loadScript, '.cjs': loadScript },
  });
  const target = options.configPath ? path.resolve(cwd, options.configPath) : undefined;
  let result;
  try {
    result = target ? await explorer.load(target) : await explorer.search(cwd);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const file = target ?? (error as { filepath?: string }).filepath ?? 'the config file';
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'the file does not exist' : firstLine(error);
    throw new ConfigError(`Could not load ${displayPath(file, cwd)}: ${reason}`, { cause: error });
  }
  if (!result || result.isEmpty) return { config: {}, filepath: result?.filepath };
  const config = result.config;
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new ConfigError(`${displayPath(result.filepath, cwd)} must export a config object (use defineConfig({...}))`);
  }
  return { config: config as BroadcastConfig, filepath: result.filepath };
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0] ?? message;
}

export function displayPath(file: string, cwd: string = process.cwd()): string {
  const relative = path.relative(cwd, file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

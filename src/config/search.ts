/**
 * Where the configuration is: the one search every command and `loadConfig` use. From the starting folder up
 * to the project root (the first folder holding a package.json or package.yaml), each folder's SEARCH_PLACES
 * in order; the first place that holds a config wins. A blank file, a package.json without a "broadcast" key,
 * or a file that loads as nothing (a YAML or JSON `null`) is passed over for the next place; a script that
 * exports no config is refused by load.ts (someone wrote it as the config). This is cosmiconfig's
 * search with the strategy "project", which earlier versions used; what each file holds is load.ts's business.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Where a config may be, in the order they are tried in each folder. */
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
] as const;

/** What one file holds, given its text; undefined or null when it holds no config (the search goes on). */
export type LoadFile = (filepath: string, contents: string) => Promise<unknown>;

export interface Found {
  /** Absolute path of the file the config came from. */
  filepath: string;
  config: unknown;
}

/** Searches from `cwd` (see above); resolves undefined when no place holds a config. */
export async function searchConfig(cwd: string, load: LoadFile): Promise<Found | undefined> {
  for (let dir = path.resolve(cwd); ; ) {
    for (const place of SEARCH_PLACES) {
      const filepath = path.join(dir, place);
      const contents = readIfFile(filepath);
      if (contents === undefined || contents.trim() === '') continue;
      const config = await load(filepath, contents);
      if (config !== undefined && config !== null) return { filepath, config };
    }
    if (existsSync(path.join(dir, 'package.json')) || existsSync(path.join(dir, 'package.yaml'))) return undefined;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** The file's text, or undefined when there is no readable file there (other errors are thrown). */
function readIfFile(filepath: string): string | undefined {
  try {
    return readFileSync(filepath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR' || code === 'EACCES') return undefined;
    throw error;
  }
}

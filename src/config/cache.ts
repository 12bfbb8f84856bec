/**
 * A private disk cache of what jiti transpiles (a TypeScript config, the event classes of `eventsDir`), plugged
 * into jiti through its public `transform` option: Babel (about 100 ms with its loading) then runs only on the
 * first load after a file changes. jiti still runs the module, every time, so values read from `process.env`
 * are always current, and imports, `import.meta` and top-level `await` behave exactly as jiti makes them.
 *
 * - Where: `.cache/broadcast/transpiled/` in the nearest `node_modules` above the file. No `node_modules`, no
 *   cache (jiti's own fsCache is never used: it writes readable files into node_modules/.cache/jiti or /tmp).
 * - The folder is the user's alone (0700) and each entry 0600: a config may hold credentials.
 * - Key: jiti's version, the transform options (file name included) and a hash of the source. jiti's output
 *   depends on nothing else, so an entry is never stale; entries of a file's older versions are pruned.
 * - Entries are written to a temporary file and renamed into place, and read whole into memory, so any number
 *   of processes can share the cache: each one sees an entry complete or not at all (a miss), never half.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { TransformOptions, TransformResult } from 'jiti';

/** Bump when what is stored changes shape. */
const FORMAT = '1';
const require = createRequire(import.meta.url);

/** The cache folder for a module file; undefined when there is no node_modules above it. */
export function cacheDirFor(filepath: string): string | undefined {
  for (let dir = path.dirname(path.resolve(filepath)); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules');
    try {
      if (statSync(candidate).isDirectory()) return path.join(candidate, '.cache', 'broadcast', 'transpiled');
    } catch {
      // keep looking upwards
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** For jiti's `transform` option: the cached output, or jiti's own transform (then stored). */
export type CachedTransform = (options: TransformOptions) => TransformResult;

/** A transpile cache for the modules loaded from `filepath`; undefined when it has no cache folder. */
export function transpileCache(filepath: string): CachedTransform | undefined {
  const dir = cacheDirFor(filepath);
  if (!dir) return undefined;
  const { createJiti } = require('jiti') as typeof import('jiti');
  const version = (require('jiti/package.json') as { version: string }).version;
  let plain: ReturnType<typeof createJiti> | undefined;
  let usable: boolean | undefined;
  return (options) => {
    const { source, ...settings } = options;
    const prefix = hash(String(options.filename));
    const entry = path.join(dir, `${prefix}-${hash(version, FORMAT, JSON.stringify(settings), source)}.js`);
    usable ??= privateFolder(dir, false);
    if (usable) {
      try {
        return { code: readFileSync(entry, 'utf8') };
      } catch {
        // a miss: transpile below
      }
    }
    // jiti's public transform, by an instance without this hook (and without jiti's fsCache).
    plain ??= createJiti(filepath, { fsCache: false, moduleCache: false });
    const code = plain.transform(options);
    usable ||= privateFolder(dir, true);
    if (usable) store(entry, code, prefix);
    return { code };
  };
}

// node:crypto through require: jiti has loaded it by now, and a static import would cost every run ~2 ms.
const crypto = () => require('node:crypto') as typeof import('node:crypto');
const hash = (...parts: string[]) => crypto().createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 24);

/**
 * True when `dir` is a folder only this user can enter (0700), never a link or someone else's. With `create`,
 * makes it so first: creates it, or narrows the mode of the user's own folder.
 */
function privateFolder(dir: string, create: boolean): boolean {
  try {
    if (create) {
      // Only the last folder is private: node_modules/.cache is shared by other tools.
      mkdirSync(path.dirname(dir), { recursive: true });
      try {
        mkdirSync(dir, { mode: 0o700 });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
    const stats = lstatSync(dir);
    if (!stats.isDirectory()) return false;
    if (process.platform === 'win32') return true;
    if (stats.uid !== process.getuid?.()) return false;
    if ((stats.mode & 0o077) === 0) return true;
    if (!create) return false;
    chmodSync(dir, 0o700);
    return true;
  } catch {
    return false;
  }
}

/** Writes an entry atomically (0600), then removes the file's older entries. Failures only cost a miss later. */
function store(entry: string, code: string, prefix: string): void {
  const temporary = `${entry}.${process.pid}.${crypto().randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(temporary, code, { mode: 0o600, flag: 'wx' });
    renameSync(temporary, entry);
  } catch {
    remove(temporary);
    return;
  }
  // Safe while other processes use the cache: readers hold an entry's text, not the file. Temporary files are
  // left a minute for their writers; older ones are from writers that died.
  const dir = path.dirname(entry);
  try {
    for (const name of readdirSync(dir)) {
      if (!name.startsWith(`${prefix}-`) || name === path.basename(entry)) continue;
      const file = path.join(dir, name);
      if (name.endsWith('.js') || (name.endsWith('.tmp') && ageMs(file) > 60_000)) remove(file);
    }
  } catch {
    // nothing to prune
  }
}

function ageMs(file: string): number {
  try {
    return Date.now() - statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function remove(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

/**
 * A private disk cache of transpiled modules, of two kinds:
 *
 * - Plain ES modules (`.mjs`) of self-contained configs (load.ts decides which), written by a transpiler on the
 *   first load after a change and then run with a bare `import()`: warm runs load neither jiti nor the
 *   transpiler (jiti alone costs about 13 ms).
 * - What jiti transpiles for everything else (a config with local imports, the event classes of `eventsDir`),
 *   plugged into jiti through its public `transform` option: Babel (about 100 ms with its loading) then runs
 *   only on the first load after a file changes.
 *
 * Either way the module itself runs on every load, so values read from `process.env` are always current.
 *
 * - Where: `.cache/broadcast/transpiled/` in the nearest `node_modules` above the file, so that a cached module
 *   imports packages from that same `node_modules`. No `node_modules`, no cache (jiti's own fsCache is never
 *   used: it writes readable files into node_modules/.cache/jiti or /tmp).
 * - The folder is the user's alone (0700) and each entry 0600: a config may hold credentials.
 * - Key: the file's path, a hash of its source, and what made the entry (transpiler and version, options).
 *   The output depends on nothing else, so an entry is never stale; entries of a file's older versions are
 *   pruned.
 * - Entries are written to a temporary file and renamed into place, so any number of processes can share the
 *   cache: each one sees an entry complete or not at all (a miss), never half.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { TransformOptions, TransformResult } from 'jiti';

/** Bump when what is stored changes shape. */
const FORMAT = '2';
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
    const entry = entryPath(dir, String(options.filename), source, `jiti@${version}`, JSON.stringify(settings), '.js');
    usable ??= privateFolder(dir, false);
    if (usable) {
      try {
        return { code: signalled(readFileSync(entry, 'utf8'), String(options.filename), filepath) };
      } catch {
        // a miss: transpile below
      }
    }
    // jiti's public transform, by an instance without this hook (and without jiti's fsCache).
    plain ??= createJiti(filepath, { fsCache: false, moduleCache: false });
    const code = plain.transform(options);
    usable ||= privateFolder(dir, true);
    if (usable) store(entry, code);
    return { code: signalled(code, String(options.filename), filepath) };
  };
}

/**
 * The config file's transpiled code with the start signal (load.ts) as its first statement, after a "use strict"
 * directive and on the same line (line numbers are kept); other modules' code as it is. The stored entry has no
 * signal: it is added to what is read back, too.
 */
function signalled(code: string, filename: string, filepath: string): string {
  if (path.resolve(filename) !== path.resolve(filepath)) return code;
  const signal = `globalThis[Symbol.for('pusher-broadcast.configStarted')]?.(${JSON.stringify(path.resolve(filepath))});`;
  const directive = /^(["'])use strict\1;/.exec(code)?.[0] ?? '';
  return `${directive}${signal}${code.slice(directive.length)}`;
}

/**
 * The cached plain ES module made from `filepath` (whose text is `source`) by `maker` (its name and version):
 * its path, after `make` built and stored it on a miss. Undefined when there is no private cache folder, or
 * `make` throws or returns undefined, or the entry cannot be written: the caller then loads the file another way.
 */
export function cachedModule(filepath: string, source: string, maker: string, make: () => string | undefined): string | undefined {
  const dir = cacheDirFor(filepath);
  if (!dir) return undefined;
  const entry = entryPath(dir, filepath, source, maker, '', '.mjs');
  if (privateFolder(dir, false)) {
    try {
      if (statSync(entry).isFile()) return entry;
    } catch {
      // a miss: build it below
    }
  }
  let code: string | undefined;
  try {
    code = make();
  } catch {
    return undefined;
  }
  if (code === undefined || !privateFolder(dir, true)) return undefined;
  return store(entry, code) ? entry : undefined;
}

/**
 * `<file>-<source>-<maker>.<kind>`, each a hash: the first two parts tell which entries are of a file's older
 * versions (pruned by store()), the last which made it (the format, the transpiler's version, its options).
 */
function entryPath(dir: string, filename: string, source: string, maker: string, settings: string, extension: string): string {
  return path.join(dir, `${hash(filename)}-${hash(source)}-${hash(FORMAT, maker, settings)}${extension}`);
}

// node:crypto through require: loaded only when a script config is, not by every run.
const crypto = () => require('node:crypto') as typeof import('node:crypto');
const hash = (...parts: string[]): string => crypto().createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 24);

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

/**
 * Writes an entry atomically (0600), then removes the file's other entries, except the other kind's entry of
 * the same source (a config can have both when its plain module failed to load and jiti loaded it). Failures
 * only cost a miss later; false when the entry was not written.
 */
function store(entry: string, code: string): boolean {
  const temporary = `${entry}.${process.pid}.${crypto().randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(temporary, code, { mode: 0o600, flag: 'wx' });
    renameSync(temporary, entry);
  } catch {
    remove(temporary);
    return false;
  }
  // Safe while other processes use the cache: readers hold an entry's text or an imported module, not the
  // file. Temporary files are left a minute for their writers; older ones are from writers that died.
  const dir = path.dirname(entry);
  const name = path.basename(entry);
  const [file, source] = name.split('-');
  const extension = path.extname(name);
  try {
    for (const other of readdirSync(dir)) {
      if (!other.startsWith(`${file}-`) || other === name) continue;
      const full = path.join(dir, other);
      if (other.endsWith('.tmp')) {
        if (ageMs(full) > 60_000) remove(full);
      } else if (!other.startsWith(`${file}-${source}-`) || path.extname(other) === extension) {
        remove(full);
      }
    }
  } catch {
    // nothing to prune
  }
  return true;
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

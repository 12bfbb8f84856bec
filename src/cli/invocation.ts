/**
 * How printed next steps run this CLI from the user's folder: `npx broadcast` where npm finds this package's
 * binary there, else `node <path>/bin/broadcast.js` (the copy that is running). init and make:event print it.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../core/package-root.js';

/** The command that runs this CLI from `cwd`, ready to paste into a POSIX shell. */
export function cliCommand(cwd: string): string {
  return localBin(cwd) ? 'npx broadcast' : `node ${shellQuote(path.join(packageRoot(), 'bin', 'broadcast.js'))}`;
}

/**
 * Whether `npx broadcast` in `cwd` runs this package's binary: npm looks in the node_modules/.bin of the
 * nearest folder above `cwd` that has a package.json or a node_modules (its local prefix).
 */
function localBin(cwd: string): boolean {
  let prefix = cwd;
  for (let dir = cwd; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) || existsSync(path.join(dir, 'node_modules'))) {
      prefix = dir;
      break;
    }
    if (path.dirname(dir) === dir) break;
  }
  try {
    const bin = realpathSync(path.join(prefix, 'node_modules', '.bin', 'broadcast'));
    const pkg = JSON.parse(readFileSync(path.join(path.dirname(bin), '..', 'package.json'), 'utf8')) as { name?: unknown };
    return pkg.name === 'pusher-broadcast';
  } catch {
    return false;
  }
}

/** A word for a POSIX shell: as is when it holds nothing the shell would interpret, else in single quotes. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * This package's own folder (the one holding its package.json), wherever the running module sits in it:
 * src/… when the tests run the sources, dist/… or dist/chunks/… when the build runs. Found by walking up from
 * this module, so the build may place modules at any depth.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

export function packageRoot(): string {
  if (root !== undefined) return root;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return (root = dir);
}

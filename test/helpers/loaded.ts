/**
 * Which modules a Node.js process loads: runs `node <args>` with a resolve hook that writes down every module
 * URL it resolves, in order. For tests that keep start-up and imports lean (library-import, startup-modules).
 */
import { spawnSync, type SpawnSyncOptions, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export function runLoggingModules(args: string[], options: SpawnSyncOptions = {}): { result: SpawnSyncReturns<string>; loaded: string[] } {
  const dir = mkdtempSync(path.join(tmpdir(), 'broadcast-loaded-'));
  try {
    const log = path.join(dir, 'loaded.txt');
    const hooks = path.join(dir, 'hooks.mjs');
    writeFileSync(
      hooks,
      `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, result.url + '\\n');
  return result;
}
`,
    );
    writeFileSync(log, '');
    const register = `data:text/javascript,import { register } from 'node:module'; register(${JSON.stringify(pathToFileURL(hooks).href)});`;
    const result = spawnSync(process.execPath, ['--import', register, ...args], { cwd: dir, ...options, encoding: 'utf8' });
    return { result, loaded: readFileSync(log, 'utf8').split('\n').filter(Boolean) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

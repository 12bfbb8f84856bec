/**
 * What a run of the CLI loads, from the build (dist/): scripts/build.mjs bundles the CLI so that `--help`
 * loads its entry and the small `base` chunk only, and `emit` adds the CLI's shared chunk, the send path
 * (`core`) and its own command, but never the rest of the library (`lib`: auth handlers, subscriber, webhooks,
 * bulk sending). Each file a run loads costs start-up time (docs/benchmarks.md); this keeps the budget from
 * creeping up unnoticed when a module moves or an import is added.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';
import { BIN, ROOT, cleanEnv } from '../helpers/cli.js';

/** The files of this package's build that a run of the CLI with `args` loads, as `dist/…` paths, in order. */
function loadedBy(args: string[]): string[] {
  const dir = mkdtempSync(path.join(tmpdir(), 'broadcast-startup-'));
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
  const r = spawnSync(process.execPath, ['--import', register, BIN, ...args], { cwd: dir, env: cleanEnv({ CI: '' }), encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const dist = pathToFileURL(path.join(ROOT, 'dist')).href;
  const files = readFileSync(log, 'utf8').split('\n').filter((url) => url.startsWith(dist));
  // Chunk names carry a content hash: keep the name.
  return [...new Set(files.map((url) => `dist${url.slice(dist.length)}`.replace(/-[\w-]{8}\.js$/, '.js')))];
}

it('--help loads the CLI entry and the base chunk, nothing of the library', () => {
  expect(loadedBy(['--help']).sort()).toEqual(['dist/chunks/base.js', 'dist/chunks/rolldown-runtime.js', 'dist/cli/main.js']);
});

it('emit loads the send path (core) and its command, not the rest of the library', () => {
  const loaded = loadedBy(['emit', 'orders', 'order.shipped', '--data', '{"id":1}', '--connection', 'log']);
  expect(loaded.sort()).toEqual(['dist/chunks/base.js', 'dist/chunks/cli.js', 'dist/chunks/core.js', 'dist/chunks/emit.js', 'dist/chunks/rolldown-runtime.js', 'dist/cli/main.js']);
});

/**
 * What a run of the CLI loads, from the build (dist/): scripts/build.mjs bundles the CLI so that `--help`
 * loads its entry and the small `base` chunk only, and `emit` adds the CLI's shared chunk, the send path
 * (`core`) and its own command, but never the rest of the library (`lib`: auth handlers, subscriber, webhooks,
 * bulk sending). Each file a run loads costs start-up time (docs/benchmarks.md); this keeps the budget from
 * creeping up unnoticed when a module moves or an import is added.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';
import { BIN, ROOT, cleanEnv } from '../helpers/cli.js';
import { runLoggingModules } from '../helpers/loaded.js';

/** The files of this package's build that a run of the CLI with `args` loads, as `dist/…` paths. */
function loadedBy(args: string[]): string[] {
  const { result, loaded } = runLoggingModules([BIN, ...args], { env: cleanEnv({ CI: '' }) });
  expect(result.status, result.stderr).toBe(0);
  const dist = pathToFileURL(path.join(ROOT, 'dist')).href;
  // Chunk names carry a content hash: keep the name.
  return [...new Set(loaded.filter((url) => url.startsWith(dist)).map((url) => `dist${url.slice(dist.length)}`.replace(/-[\w-]{8}\.js$/, '.js')))];
}

it('--help loads the CLI entry and the base chunk, nothing of the library', () => {
  expect(loadedBy(['--help']).sort()).toEqual(['dist/chunks/base.js', 'dist/chunks/rolldown-runtime.js', 'dist/cli/main.js']);
});

it('emit loads the send path (core) and its command, not the rest of the library', () => {
  const loaded = loadedBy(['emit', 'orders', 'order.shipped', '--data', '{"id":1}', '--connection', 'log']);
  expect(loaded.sort()).toEqual(['dist/chunks/base.js', 'dist/chunks/cli.js', 'dist/chunks/core.js', 'dist/chunks/emit.js', 'dist/chunks/rolldown-runtime.js', 'dist/cli/main.js']);
});

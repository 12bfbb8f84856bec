#!/usr/bin/env node
/**
 * `npm run build`: runs `tsc -p tsconfig.json`, which checks src/ and compiles it file by file into .build/
 * (emptied first, so no file of a deleted module is left), then makes dist/, the folder the package ships:
 * - rolldown bundles the two entries, the library (dist/index.js) and the CLI (dist/cli/main.js), and every
 *   module they import, into a few files under dist/chunks/. A CLI run then loads about five files instead of
 *   about forty, which is most of its start-up time (see docs/benchmarks.md). The library and the CLI share
 *   their chunks, so a config or an event class that imports 'pusher-broadcast' meets the very classes the
 *   CLI uses.
 * - Chunks: `base` holds what the program needs before any command runs (defaults, durations, redaction);
 *   `cli` what every command needs (output, context, input); `core` what sending an event needs (the
 *   Broadcast facade, config, transport, signing); `lib` the rest of the library (auth handlers, subscriber,
 *   webhooks, bulk sending); each command (src/cli/commands/) stays a chunk of its own, loaded when it runs.
 * - commander is bundled into the CLI entry (its licence is kept in dist/cli/main.js); every other dependency
 *   stays an import of the installed package.
 * - The declarations of the library (.d.ts) and the CommonJS stub (require.cjs) are copied as tsc wrote them.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { rolldown } from 'rolldown';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUILD = path.join(ROOT, '.build');
const DIST = path.join(ROOT, 'dist');
const BUNDLED = new Set(['commander']);

const dir = (name) => new RegExp(`[\\\\/]\\.build[\\\\/]${name.replace(/\//g, '[\\\\/]')}`);
const CLI = dir('cli/');
const BASE = ['config/defaults.js', 'core/duration.js', 'core/package-root.js', 'webhook/defaults.js', 'cli/redact.js'].map(dir);
const CLI_SHARED = ['cli/io.js', 'cli/context.js', 'cli/input.js', 'cli/command.js'].map(dir);
const SEND_PATH = ['core/', 'config/', 'transport/', 'auth/(sign|authorize|rules|routes|users)\\.js'].map(dir);
const OWN = dir('');

/**
 * commander loads node:child_process when it loads, for executable subcommands (`git-style` commands in files of
 * their own), which this CLI does not have. Loading it when first used instead saves about 2 ms of every run.
 * The build fails if commander's code changes, so an upgrade is checked here rather than silently unpatched.
 */
const lazyChildProcess = {
  name: 'commander-lazy-child-process',
  transform(code, id) {
    if (!/[\\/]commander[\\/]lib[\\/]command\.js$/.test(id)) return null;
    const eager = "const childProcess = require('node:child_process');";
    if (!code.includes(eager)) throw new Error(`${id} no longer has \`${eager}\`: update scripts/build.mjs for this commander`);
    return code.replace(eager, "const childProcess = { spawn: (...args) => require('node:child_process').spawn(...args) };");
  },
};

rmSync(BUILD, { recursive: true, force: true });
const tsc = path.join(path.dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin/tsc');
const compiled = spawnSync(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.json')], { stdio: 'inherit' });
if (compiled.status !== 0) process.exit(compiled.status ?? 1);

rmSync(DIST, { recursive: true, force: true });
const bundle = await rolldown({
  input: { index: path.join(BUILD, 'index.js'), 'cli/main': path.join(BUILD, 'cli/main.js') },
  platform: 'node',
  plugins: [lazyChildProcess],
  external: (id) => !id.startsWith('.') && !path.isAbsolute(id) && !BUNDLED.has(id),
  // A dynamic import of a module that is also imported statically is expected here (commands import the
  // config loader both ways); the warning says only that it stays in its chunk.
  onLog: (level, log, handler) => (log.code === 'INEFFECTIVE_DYNAMIC_IMPORT' ? undefined : handler(level, log)),
});
const { output } = await bundle.write({
  dir: DIST,
  format: 'esm',
  entryFileNames: '[name].js',
  chunkFileNames: 'chunks/[name]-[hash].js',
  // The comments document the sources (src/); the files a run loads are read faster without them.
  comments: { legal: true, annotation: true, jsdoc: false },
  codeSplitting: {
    groups: [
      // rolldown's own helpers (commander's CommonJS wrapper) go with what every run loads.
      { name: 'base', test: (id) => BASE.some((re) => re.test(id)), priority: 3 },
      { name: 'core', test: (id) => SEND_PATH.some((re) => re.test(id)), priority: 2 },
      { name: 'cli', test: (id) => CLI_SHARED.some((re) => re.test(id)), priority: 1 },
      { name: 'lib', test: (id) => OWN.test(id) && !CLI.test(id), priority: 0 },
    ],
  },
});
await bundle.close();
if (process.env.BUILD_CHUNKS) {
  for (const chunk of output.filter((o) => o.type === 'chunk')) {
    console.log(chunk.fileName, Object.keys(chunk.modules).map((id) => path.relative(BUILD, id)).join(' '));
  }
}

const licence = readFileSync(path.join(ROOT, 'node_modules/commander/LICENSE'), 'utf8');
const main = path.join(DIST, 'cli/main.js');
writeFileSync(main, `/*! Includes commander (https://github.com/tj/commander.js):\n${licence.trim()}\n*/\n${readFileSync(main, 'utf8')}`);

// The library's declarations and the CommonJS stub, as tsc wrote them (the CLI's own are not shipped).
cpSync(BUILD, DIST, {
  recursive: true,
  filter: (source) => {
    const relative = path.relative(BUILD, source);
    if (relative === 'cli' || relative.startsWith(`cli${path.sep}`)) return false;
    return !path.extname(source) || /\.d\.c?ts$/.test(source) || source.endsWith('.cjs');
  },
});
const count = (folder) => readdirSync(folder, { recursive: true }).filter((f) => String(f).endsWith('.js')).length;
console.log(`dist/: ${count(DIST)} JavaScript files bundled from ${count(BUILD)} in .build/`);

#!/usr/bin/env node
/**
 * This build against another build of broadcast, side by side in one run: `node bench/compare.js <checkout>`
 * (after `npm run build` here and a build there). The suite (bench/run.js) compares each figure with its own
 * baseline; its ratios move by a few percent from run to run, which is as much as a change usually costs.
 * This script answers "did my change make it slower?" directly: it runs the same commands of both builds
 * interleaved (A, B, A, B, …) and prints the medians and their ratio.
 *
 * Measured, each spawn to exit: `node -e 0`; `broadcast --version` and `--help`; a single `broadcast emit` with
 * a `broadcast.config.ts` to its own soketi (the suite's project, cached config); `emit --file` of 20,000
 * events on 50 channels; the peak memory of `emit --file --dry-run` of 1,000,000 lines. Options: --rounds N
 * (default 25; the bulk and memory runs take a fifth of that, at least 3).
 *
 * Example: git worktree add /tmp/before <commit> && (cd /tmp/before && npm ci && npm run build)
 *          node bench/compare.js /tmp/before
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BULK_EVENTS, bulkEvent, emitProjectEnv, median, MEMORY_LINES, memoryEvent, writeEmitProject, writeNdjson } from './fixtures.js';
import { startSoketi } from './soketi.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const other = args.find((a) => !a.startsWith('--') && args[args.indexOf(a) - 1] !== '--rounds');
if (!other) {
  process.stderr.write('usage: node bench/compare.js <other checkout, built> [--rounds N]\n');
  process.exit(2);
}
const ROUNDS = args.includes('--rounds') ? Number(args[args.indexOf('--rounds') + 1]) : 25;
const BUILDS = { this: ROOT, other: path.resolve(other) };

const server = await startSoketi();
const dir = mkdtempSync(path.join(os.tmpdir(), 'broadcast-compare-'));
// PUSHER_* for `emit --file` (run outside the projects), SOKETI_* for the projects' configs.
const env = { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', ...server.env, ...emitProjectEnv(server) };

/** The suite's emit project for each build. */
const projects = {};
for (const [name, root] of Object.entries(BUILDS)) {
  projects[name] = path.join(dir, name);
  await writeEmitProject(projects[name], root);
}
const bulk = path.join(dir, 'bulk.ndjson');
await writeNdjson(bulk, BULK_EVENTS, bulkEvent);
const million = path.join(dir, 'million.ndjson');
await writeNdjson(million, MEMORY_LINES, memoryEvent);

/** Runs a command to its end; its wall time (ms). */
function run(argv, cwd = dir) {
  const started = process.hrtime.bigint();
  const r = spawnSync(process.execPath, argv, { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}
/** Runs a command to its end; its peak memory (MB). */
function peakMb(argv) {
  const r = spawnSync(process.execPath, ['-r', path.join(ROOT, 'bench/maxrss.cjs'), ...argv], { cwd: dir, env, encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return Number(/maxRSS=(\d+)/.exec(r.output[3] ?? '')?.[1]) / 1024;
}

const bin = (name) => path.join(BUILDS[name], 'bin/broadcast.js');
const cases = [
  { name: 'node -e 0', shared: true, rounds: ROUNDS, measure: () => run(['-e', '0']) },
  { name: 'broadcast --version', rounds: ROUNDS, measure: (b) => run([bin(b), '--version']) },
  { name: 'broadcast --help', rounds: ROUNDS, measure: (b) => run([bin(b), '--help']) },
  { name: 'single emit (broadcast.config.ts)', rounds: ROUNDS, measure: (b) => run([bin(b), 'emit', 'bench-single', 'order.shipped', '--data', '{"id":1}'], projects[b]) },
  { name: `emit --file, ${BULK_EVENTS.toLocaleString('en-US')} events`, rounds: Math.max(3, ROUNDS / 5), measure: (b) => run([bin(b), 'emit', '--file', bulk, '--json']) },
  { name: 'peak MB, --dry-run of 1,000,000 lines', unit: 'MB', rounds: Math.max(3, ROUNDS / 5), measure: (b) => peakMb([bin(b), 'emit', '--file', million, '--dry-run', '--json']) },
];

const rows = [];
try {
  // The first emit of each build transpiles and caches its config: not measured.
  for (const name of Object.keys(BUILDS)) run([bin(name), 'emit', 'bench-single', 'order.shipped'], projects[name]);
  for (const c of cases) {
    const values = { this: [], other: [] };
    for (let i = 0; i < c.rounds + 1; i++) {
      for (const name of Object.keys(BUILDS)) {
        const value = c.measure(name);
        if (i > 0) values[name].push(value);
        if (c.shared) break;
      }
    }
    const unit = c.unit ?? 'ms';
    const [a, b] = [median(values.this), c.shared ? undefined : median(values.other)];
    rows.push(`| ${c.name} | ${a.toFixed(1)} ${unit} | ${b === undefined ? '–' : `${b.toFixed(1)} ${unit}`} | ${b === undefined ? '–' : `${(a / b).toFixed(3)}×`} |`);
    process.stderr.write(`${c.name}: done\n`);
  }
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
console.log(`This build (${ROOT}) against ${BUILDS.other}, interleaved, medians of ${ROUNDS} rounds (bulk and memory: ${Math.max(3, ROUNDS / 5)}):\n`);
console.log('| Measured | this build | other build | this / other |\n| --- | ---: | ---: | ---: |');
console.log(rows.join('\n'));

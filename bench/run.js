#!/usr/bin/env node
/**
 * The benchmark suite: `npm run bench` (builds, then runs this file; plain ESM, no TypeScript needed).
 *
 * Starts its own soketi and measures, in one run, each comparison as a ratio against a baseline measured
 * on the same machine a moment before or after (runs are interleaved and medians taken, so load from other
 * processes affects both sides alike). Prints the machine and a Markdown table; docs/benchmarks.md records one.
 *
 * Options: --quick (fewer repetitions, for trying it out); --auth (only the auth handler comparison, more
 * rounds, no soketi: for iterating on src/auth/handler.ts); --bulk (only the two bulk comparisons on loopback);
 * --link (only the two bulk comparisons over a simulated 20 ms link, bench/delay-proxy.js).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BULK_CHANNELS, BULK_EVENTS, bulkEvent, emitProjectEnv, median, MEMORY_LINES, memoryEvent, writeEmitProject, writeNdjson } from './fixtures.js';
import { startSoketi } from './soketi.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin/broadcast.js');
const MAXRSS = path.join(ROOT, 'bench/maxrss.cjs');
const require = createRequire(import.meta.url);
const Pusher = require('pusher');
const QUICK = process.argv.includes('--quick');
const AUTH_ONLY = process.argv.includes('--auth');
const BULK_ONLY = process.argv.includes('--bulk');
const LINK_ONLY = process.argv.includes('--link');

const NAIVE_EVENTS = QUICK ? 500 : 2_000;
/** The simulated link: this many ms each way (a 20 ms round trip), through bench/delay-proxy.js. */
const LINK_DELAY_MS = 10;
/** Over the link the naive loop pays two round trips an event (a new connection each): keep its run short. */
const LINK_NAIVE_EVENTS = 100;
const ROUNDS = { startup: QUICK ? 10 : 40, emit: QUICK ? 8 : 25, bulk: QUICK ? 3 : 5, link: QUICK ? 2 : 3, auth: AUTH_ONLY ? 5 : QUICK ? 1 : 2 };
const AUTH_SECONDS = QUICK ? 2 : 4;

const started = Date.now();
const rows = [];
const notes = [];
const log = (text) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s] ${text}\n`);

const fmt = (n, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** Environment for child processes: the bench server's PUSHER_* and nothing of the machine's own. */
function childEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('PUSHER_') && !k.startsWith('BROADCAST_') && k !== 'FORCE_COLOR') env[k] = v;
  }
  return { ...env, NO_COLOR: '1', ...extra };
}

/** Runs a command to completion; wall time from spawn to exit, in ms. */
function timed(command, args, options = {}) {
  const t = process.hrtime.bigint();
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.error) throw r.error;
  return { ms, code: r.status, stdout: r.stdout, stderr: r.stderr, output: r.output };
}

function expectOk(result, what) {
  if (result.code !== 0) throw new Error(`${what} exited with ${result.code}:\n${result.stderr}\n${result.stdout}`);
  return result;
}

function addRow(row) {
  rows.push(row);
  log(`${row.name}: ${row.value}${row.ratio !== undefined ? ` (${row.ratioText})` : ''}`);
}

// ---------------------------------------------------------------------------------------------------------

async function benchStartup() {
  log('start-up: node -e 0 vs broadcast --version / --help');
  const commands = {
    node: [process.execPath, ['-e', '0']],
    version: [process.execPath, [BIN, '--version']],
    help: [process.execPath, [BIN, '--help']],
  };
  const times = { node: [], version: [], help: [] };
  for (let i = 0; i < ROUNDS.startup + 3; i++) {
    for (const [name, [cmd, args]] of Object.entries(commands)) {
      const r = expectOk(timed(cmd, args, { env: childEnv() }), name);
      if (i >= 3) times[name].push(r.ms);
    }
  }
  const node = median(times.node);
  for (const name of ['version', 'help']) {
    const ms = median(times[name]);
    const ratio = ms / node;
    addRow({
      name: `Start-up: \`broadcast --${name}\` vs \`node -e 0\``,
      baseline: `${fmt(node, 1)} ms`,
      value: `${fmt(ms, 1)} ms`,
      ratio,
      ratioText: `${ratio.toFixed(2)}×`,
      target: '≤ 1.5×',
      pass: ratio <= 1.5,
    });
  }
}

async function benchEmit(server, dir) {
  log('single emit with broadcast.config.ts vs a minimal pusher script');
  const project = path.join(dir, 'emit-project');
  await writeEmitProject(project, ROOT);
  await symlink(path.join(ROOT, 'node_modules/pusher'), path.join(project, 'node_modules/pusher'), 'dir');
  await writeFile(
    path.join(project, 'minimal.mjs'),
    `import Pusher from 'pusher';
const pusher = new Pusher({
  appId: process.env.SOKETI_APP_ID, key: process.env.SOKETI_APP_KEY, secret: process.env.SOKETI_APP_SECRET,
  host: '127.0.0.1', port: process.env.SOKETI_PORT, useTLS: false,
});
await pusher.trigger('bench-single', 'order.shipped', { id: 1 });
`,
  );
  const env = childEnv(emitProjectEnv(server));
  const emitArgs = [BIN, 'emit', 'bench-single', 'order.shipped', '--data', '{"id":1}'];
  const cold = expectOk(timed(process.execPath, emitArgs, { cwd: project, env }), 'broadcast emit (cold)');
  const times = { minimal: [], emit: [] };
  for (let i = 0; i < ROUNDS.emit + 2; i++) {
    const m = expectOk(timed(process.execPath, ['minimal.mjs'], { cwd: project, env }), 'minimal.mjs');
    const e = expectOk(timed(process.execPath, emitArgs, { cwd: project, env }), 'broadcast emit');
    if (i >= 2) {
      times.minimal.push(m.ms);
      times.emit.push(e.ms);
    }
  }
  const minimal = median(times.minimal);
  const emit = median(times.emit);
  const ratio = emit / minimal;
  addRow({
    name: 'Single `broadcast emit` (broadcast.config.ts) vs minimal pusher script',
    baseline: `${fmt(minimal, 1)} ms`,
    value: `${fmt(emit, 1)} ms`,
    ratio,
    ratioText: `${ratio.toFixed(2)}×`,
    target: '≤ 1.3×',
    pass: ratio <= 1.3,
  });
  notes.push(
    `Single emit: the first run after a config change transpiles \`broadcast.config.ts\` with sucrase and caches it ` +
      `(this run: ${fmt(cold.ms, 1)} ms); the table shows the usual, cached case.`,
  );
}

/** The bulk input (written once per run), and its events as the official client's `triggerBatch` takes them. */
let bulkInput;
async function bulkFile(dir) {
  if (!bulkInput) {
    const file = path.join(dir, 'bulk.ndjson');
    await writeNdjson(file, BULK_EVENTS, bulkEvent);
    const events = Array.from({ length: BULK_EVENTS }, (_, i) => {
      const e = bulkEvent(i);
      return { channel: e.channel, name: e.event, data: e.data };
    });
    bulkInput = { file, events };
  }
  return bulkInput;
}

/** What a script would do: one awaited trigger at a time with the default client; events/s over `count` events. */
async function naiveLoop(options, events, count) {
  const pusher = new Pusher(options);
  const t = performance.now();
  for (let i = 0; i < count; i++) await pusher.trigger(events[i].channel, events[i].name, events[i].data);
  return (count * 1000) / (performance.now() - t);
}

/** What bench/maxrss.cjs reported on fd 3: peak memory (MB) and CPU time (ms) of the child. */
function usageOf(result) {
  const text = result.output?.[3] ?? '';
  return { rss: Number(/maxRSS=(\d+)/.exec(text)?.[1] ?? NaN) / 1024, cpuMs: Number(/cpuMs=(\d+)/.exec(text)?.[1] ?? NaN) };
}

/** bench/ceiling.js in a fresh process: its rate timed inside the loop, the whole run (spawn to exit) and its CPU time in ms. */
function ceilingLoop(file, concurrency, client, env) {
  const r = expectOk(
    timed(process.execPath, ['-r', MAXRSS, path.join(ROOT, 'bench/ceiling.js'), file, String(concurrency), client], { env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] }),
    `bench/ceiling.js (${client})`,
  );
  return { rate: JSON.parse(r.stdout).eventsPerSecond, ms: r.ms, cpuMs: usageOf(r).cpuMs };
}

/** `broadcast emit --file` as a user runs it, whole process (reading and validating the file included). */
function emitFile(file, count, dir, env, extra = []) {
  const r = expectOk(
    timed(process.execPath, ['-r', MAXRSS, BIN, 'emit', '--file', file, '--json', ...extra], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] }),
    `broadcast emit --file ${extra.join(' ')}`.trim(),
  );
  const summary = JSON.parse(r.stdout);
  if (summary.sent !== count) throw new Error(`broadcast emit --file sent ${summary.sent} of ${count}`);
  return { rate: (count * 1000) / r.ms, ms: r.ms, inner: summary.eventsPerSecond, concurrency: summary.concurrency, ...usageOf(r) };
}

async function benchBulk(server, dir) {
  log(`bulk: ${fmt(BULK_EVENTS)} events on ${BULK_CHANNELS} channels`);
  const { file, events } = await bulkFile(dir);
  const options = { appId: server.appId, key: server.key, secret: server.secret, host: '127.0.0.1', port: String(server.port), useTLS: false };

  // Naive: what a script would do, one awaited trigger at a time (default client).
  const naive = () => naiveLoop(options, events, NAIVE_EVENTS);
  // Ceiling: a tight loop of batch requests (keep-alive, several in flight, no ordering) in a fresh Node.js
  // process as the CLI runs in one, timed inside the loop (its start-up and parsing excluded), with two clients:
  // the official `triggerBatch`, and node:http with the official client's signing (broadcast's own path).
  // The faster is the server's practical ceiling. Each client's concurrency (16, 32 or 64) is picked once, in
  // a calibration pass; then every round runs each client once, like the CLI (medians, no best-of-N).
  // Each run is also timed whole, spawn to exit (start-up and parsing included), as the CLI is: kept per client.
  const wholeMs = { http: [], pusher: [], socket: [] };
  const ceilingRun = (client, concurrency) => {
    const r = ceilingLoop(file, concurrency, client, childEnv(server.env));
    wholeMs[client].push(r.ms);
    return r.rate;
  };
  const calibrate = (client) => {
    let best = { concurrency: 32, rate: 0 };
    for (const concurrency of [16, 32, 64]) {
      const rate = ceilingRun(client, concurrency);
      if (rate > best.rate) best = { concurrency, rate };
    }
    return best.concurrency;
  };
  // The same loop in this (long-running, JIT-warm) process: reported for reference.
  const warmLoop = async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    const pusher = new Pusher({ ...options, agent });
    let next = 0;
    const t = performance.now();
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < BULK_EVENTS) {
          const batch = events.slice(next, next + 10);
          next += 10;
          const response = await pusher.triggerBatch(batch);
          await response.text();
        }
      }),
    );
    agent.destroy();
    return (BULK_EVENTS * 1000) / (performance.now() - t);
  };
  // The CLI, whole process: spawn to exit, reading and validating the file included.
  const cli = () => emitFile(file, BULK_EVENTS, dir, childEnv(server.env));

  // Calibration (which also warms up the server and the loopback).
  const clients = { http: calibrate('http'), pusher: calibrate('pusher') };
  const results = { naive: [], http: [], pusher: [], socket: [], cli: [], cliMs: [], inner: [], rss: [], warm: [] };
  for (let i = 0; i < ROUNDS.bulk; i++) {
    if (i === 0) for (const times of Object.values(wholeMs)) times.length = 0; // calibration runs are not counted
    results.naive.push(await naive());
    results.http.push(ceilingRun('http', clients.http));
    results.pusher.push(ceilingRun('pusher', clients.pusher));
    results.socket.push(ceilingRun('socket', clients.http));
    results.warm.push(await warmLoop());
    const c = cli();
    results.cli.push(c.rate);
    results.cliMs.push(c.ms);
    results.inner.push(c.inner);
    results.rss.push(c.rss);
  }
  const naiveRate = median(results.naive);
  const rates = { http: median(results.http), pusher: median(results.pusher) };
  const fastest = rates.http >= rates.pusher ? 'http' : 'pusher';
  const other = fastest === 'http' ? 'pusher' : 'http';
  const ceilingRate = rates[fastest];
  const cliRate = median(results.cli);
  const clientName = { http: '`node:http` with the official signing', pusher: 'the official `triggerBatch`' };
  addRow({
    name: `Bulk: \`emit --file\` ${fmt(BULK_EVENTS)} events / ${BULK_CHANNELS} channels vs naive sequential \`pusher.trigger\``,
    baseline: `${fmt(naiveRate)} events/s`,
    value: `${fmt(cliRate)} events/s`,
    ratio: cliRate / naiveRate,
    ratioText: `${(cliRate / naiveRate).toFixed(1)}×`,
    target: '≥ 15×',
    pass: cliRate / naiveRate >= 15,
  });
  addRow({
    name: 'Bulk: `emit --file` (whole process) vs tight batch loop (ceiling)',
    baseline: `${fmt(ceilingRate)} events/s`,
    value: `${fmt(cliRate)} events/s`,
    ratio: cliRate / ceilingRate,
    ratioText: `${(cliRate / ceilingRate).toFixed(2)}×`,
    target: '≥ 0.8×',
    pass: cliRate / ceilingRate >= 0.8,
  });
  notes.push(
    `Bulk: ${ROUNDS.bulk} interleaved rounds, medians. The naive loop is timed over its first ${fmt(NAIVE_EVENTS)} events (at its rate the whole file would take ` +
      `${fmt(BULK_EVENTS / naiveRate)} s); the ceiling is ${(ceilingRate / naiveRate).toFixed(1)}× the naive loop. The ceiling (bench/ceiling.js) is a tight loop of batch requests in a fresh Node.js process, ` +
      `timed inside the loop (its start-up and file parsing excluded), no ordering, no validation, with the faster of two clients: ` +
      `${clientName[fastest]} (${clients[fastest]} requests in flight, picked in a calibration pass). With ${clientName[other]} (${clients[other]} in flight) the loop reaches ` +
      `${fmt(rates[other])} events/s (\`emit --file\` is ${(cliRate / rates[other]).toFixed(2)}× of that). The \`triggerBatch\` loop in the long-running benchmark process, ` +
      `JIT-warm after many runs, reaches ${fmt(median(results.warm))} events/s (\`emit --file\` is ${(cliRate / median(results.warm)).toFixed(2)}× of that). ` +
      `\`emit --file\` is timed from spawn to exit (${fmt(median(results.cliMs))} ms: start-up, validating ` +
      `the file, sending with per-channel order); its own summary reports ${fmt(median(results.inner))} events/s for the sending part ` +
      `(${(median(results.inner) / ceilingRate).toFixed(2)}× the ceiling); peak RSS ${fmt(median(results.rss), 1)} MB. ` +
      `Timed the same way, spawn to exit, the ceiling loop's process takes ${fmt(median(wholeMs[fastest]))} ms ` +
      `(\`emit --file\` is ${(median(wholeMs[fastest]) / median(results.cliMs)).toFixed(2)}× its speed). ` +
      `For reference, not a ceiling: the same loop writing each request on a raw socket, with no HTTP library (bench/ceiling.js \`socket\`), ` +
      `gets ${fmt(median(results.socket))} events/s (${(median(results.socket) / ceilingRate).toFixed(2)}× the ceiling) out of the same server: soketi closes every connection, ` +
      `and the client's cost per connection, not the server, sets the ceiling.`,
  );
}

/** bench/delay-proxy.js in its own process (its CPU is the "network", kept out of this process's event loop). */
async function startLinkProxy(port) {
  const child = spawn(process.execPath, [path.join(ROOT, 'bench/delay-proxy.js'), String(port), String(LINK_DELAY_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const proxyPort = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bench/delay-proxy.js exited with ${code}`)));
    child.stdout.on('data', (d) => {
      const m = /listening (\d+)/.exec(d.toString());
      if (m) resolve(Number(m[1]));
    });
  });
  return { port: proxyPort, stop: () => child.kill('SIGTERM') };
}

/**
 * Bulk over a real link: the same three senders as the loopback comparison, each through a proxy adding 10 ms
 * each way. Here every request waits on the network, not on the client's CPU, and what decides throughput is
 * how many requests are in flight. The ceiling loop runs with emit --file's default concurrency, so the ratio is
 * what emit --file's ordering, checks and start-up cost at equal concurrency; one more pass at 64 in flight
 * (both sides) shows what the concurrency is worth.
 */
async function benchLink(server, dir) {
  const { file, events } = await bulkFile(dir);
  const proxy = await startLinkProxy(server.port);
  try {
    log(`link: ${fmt(BULK_EVENTS)} events through a ${LINK_DELAY_MS} ms-each-way proxy (naive loop: ${LINK_NAIVE_EVENTS} events)`);
    const env = childEnv({ ...server.env, PUSHER_PORT: String(proxy.port) });
    const options = { appId: server.appId, key: server.key, secret: server.secret, host: '127.0.0.1', port: String(proxy.port), useTLS: false };
    const naive = await naiveLoop(options, events, LINK_NAIVE_EVENTS);
    // The loop runs at the concurrency emit --file reports it used (its default).
    let concurrency;
    const results = { ceiling: [], ceilingMs: [], ceilingCpu: [], cli: [], cliMs: [], cliCpu: [], inner: [] };
    for (let i = 0; i < ROUNDS.link; i++) {
      const c = emitFile(file, BULK_EVENTS, dir, env);
      concurrency = c.concurrency;
      results.cli.push(c.rate);
      results.cliMs.push(c.ms);
      results.cliCpu.push(c.cpuMs);
      results.inner.push(c.inner);
      const loop = ceilingLoop(file, concurrency, 'http', env);
      results.ceiling.push(loop.rate);
      results.ceilingMs.push(loop.ms);
      results.ceilingCpu.push(loop.cpuMs);
    }
    const wide = { ceiling: ceilingLoop(file, 64, 'http', env).rate, cli: emitFile(file, BULK_EVENTS, dir, env, ['--concurrency', '64']) };
    const ceiling = median(results.ceiling);
    const cli = median(results.cli);
    addRow({
      name: `Bulk over a 20 ms link: \`emit --file\` ${fmt(BULK_EVENTS)} events (defaults: ${concurrency} in flight) vs naive sequential \`pusher.trigger\``,
      baseline: `${fmt(naive)} events/s`,
      value: `${fmt(cli)} events/s`,
      ratio: cli / naive,
      ratioText: `${fmt(cli / naive)}×`,
      target: '≥ 100×',
      pass: cli / naive >= 100,
    });
    addRow({
      name: `Bulk over a 20 ms link: \`emit --file\` (whole process) vs tight batch loop, both ${concurrency} in flight`,
      baseline: `${fmt(ceiling)} events/s`,
      value: `${fmt(cli)} events/s`,
      ratio: cli / ceiling,
      ratioText: `${(cli / ceiling).toFixed(2)}×`,
      target: '≥ 0.9×',
      pass: cli / ceiling >= 0.9,
    });
    notes.push(
      `Link: bench/delay-proxy.js between the client and soketi adds ${LINK_DELAY_MS} ms each way (a ${2 * LINK_DELAY_MS} ms round trip) and holds a new ` +
        `connection's first bytes one round trip more, as TCP's handshake does; soketi closes every connection after its answer, so each request ` +
        `costs two round trips. ${ROUNDS.link} interleaved rounds, medians. The naive loop (${LINK_NAIVE_EVENTS} events) takes ${fmt(1000 / naive, 1)} ms an event. ` +
        `The tight loop is bench/ceiling.js with \`node:http\` and ${concurrency} requests in flight, timed inside the loop; \`emit --file\` is timed from spawn to exit ` +
        `(${fmt(median(results.cliMs))} ms), its own summary reports ${fmt(median(results.inner))} events/s for the sending part ` +
        `(${(median(results.inner) / ceiling).toFixed(2)}× the loop); timed the same way, spawn to exit, the loop's process takes ${fmt(median(results.ceilingMs))} ms ` +
        `(\`emit --file\` is ${(median(results.ceilingMs) / median(results.cliMs)).toFixed(2)}× its speed). CPU time: \`emit --file\` ${fmt(median(results.cliCpu))} ms ` +
        `(${fmt((100 * median(results.cliCpu)) / median(results.cliMs))}% of a core over its run), the loop's process ${fmt(median(results.ceilingCpu))} ms; ` +
        `a client that gets less CPU than that (other processes on the 2 cores) is CPU-bound again. At 64 in flight (one pass): the loop ${fmt(wide.ceiling)} events/s, ` +
        `\`emit --file --concurrency 64\` ${fmt(wide.cli.rate)} events/s whole process (${(wide.cli.rate / wide.ceiling).toFixed(2)}× the loop; ` +
        `${(wide.cli.rate / cli).toFixed(2)}× the default's throughput).`,
    );
  } finally {
    proxy.stop();
  }
}

async function benchMemory(dir) {
  log(`memory: emit --file --dry-run of ${fmt(MEMORY_LINES)} lines`);
  const big = path.join(dir, 'million.ndjson');
  const small = path.join(dir, 'ten-thousand.ndjson');
  await writeNdjson(big, MEMORY_LINES, memoryEvent);
  await writeNdjson(small, 10_000, memoryEvent);
  const rss = (args) => {
    const r = expectOk(
      timed(process.execPath, ['-r', MAXRSS, ...args], { cwd: dir, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe', 'pipe'] }),
      args.join(' '),
    );
    return { mb: usageOf(r).rss, ms: r.ms, stdout: r.stdout };
  };
  const baseline = rss(['-e', '0']);
  const tenK = rss([BIN, 'emit', '--file', small, '--dry-run', '--json']);
  const million = rss([BIN, 'emit', '--file', big, '--dry-run', '--json']);
  const events = JSON.parse(million.stdout).events;
  if (events !== MEMORY_LINES) throw new Error(`dry run counted ${events} events`);
  const ratio = million.mb / tenK.mb;
  addRow({
    name: `Peak memory: \`emit --file --dry-run\` of ${fmt(MEMORY_LINES)} lines (${fmt(million.ms / 1000, 1)} s) vs 10,000 lines`,
    baseline: `${fmt(tenK.mb, 1)} MB`,
    value: `${fmt(million.mb, 1)} MB`,
    ratio,
    ratioText: `${ratio.toFixed(2)}×`,
    target: 'flat (≤ 1.5×)',
    pass: ratio <= 1.5,
  });
  notes.push(`Memory: peak RSS (maxRSS); \`node -e 0\` alone is ${fmt(baseline.mb, 1)} MB on this machine. The 1,000,000-line file is ${fmt((await import('node:fs')).statSync(big).size / 1e6, 0)} MB.`);
}

async function benchAuth() {
  if (!(await import(pathToFileURL(path.join(ROOT, 'dist/index.js')).href)).createAuthHandler) {
    notes.push('Auth handler: skipped, this build has no createAuthHandler.');
    rows.push({ name: 'Auth handler vs minimal `pusher.authorizeChannel` handler', baseline: '–', value: 'skipped', ratioText: '–', target: '≥ 0.9×', pass: undefined });
    return;
  }
  log('auth handler: createAuthHandler vs a minimal node:http + pusher.authorizeChannel handler (autocannon)');
  const autocannon = require('autocannon');
  const env = childEnv({ PUSHER_APP_ID: 'bench-app', PUSHER_APP_KEY: 'bench-key', PUSHER_APP_SECRET: 'bench-secret-0123456789' });
  const serve = async (mode) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bench/auth-server.js'), mode], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`auth server (${mode}) exited with ${code}`)));
      child.stdout.on('data', (d) => {
        const m = /listening (\d+)/.exec(d.toString());
        if (m) resolve(Number(m[1]));
      });
    });
    return { port, stop: () => child.kill('SIGTERM') };
  };
  const load = async (port, seconds) => {
    const result = await autocannon({
      url: `http://127.0.0.1:${port}/broadcasting/authorize`,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'socket_id=1234.5678&channel_name=private-orders.42',
      connections: 16,
      duration: seconds,
    });
    if (result.non2xx > 0 || result.errors > 0) throw new Error(`auth load test: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
    return result.requests.average;
  };
  const results = { broadcast: [], minimal: [] };
  for (let i = 0; i < ROUNDS.auth; i++) {
    for (const mode of ['minimal', 'broadcast']) {
      const server = await serve(mode);
      try {
        await load(server.port, 1); // warm-up
        results[mode].push(await load(server.port, AUTH_SECONDS));
      } finally {
        server.stop();
      }
    }
    log(`auth round ${i + 1}: minimal ${fmt(results.minimal[i])} req/s, createAuthHandler ${fmt(results.broadcast[i])} req/s (${(results.broadcast[i] / results.minimal[i]).toFixed(2)}×)`);
  }
  const minimal = median(results.minimal);
  const ours = median(results.broadcast);
  addRow({
    name: 'Auth handler (`createAuthHandler`) vs minimal `pusher.authorizeChannel` handler',
    baseline: `${fmt(minimal)} req/s`,
    value: `${fmt(ours)} req/s`,
    ratio: ours / minimal,
    ratioText: `${(ours / minimal).toFixed(2)}×`,
    target: '≥ 0.9×',
    pass: ours / minimal >= 0.9,
  });
  notes.push(
    `Auth: autocannon, 16 connections, ${AUTH_SECONDS} s per run after a 1 s warm-up, servers in their own process; ` +
      'the handler checks a channel rule (`orders.{orderId}`) and a user, the minimal one signs whatever it is sent.',
  );
}

// ---------------------------------------------------------------------------------------------------------

function machine() {
  const cpus = os.cpus();
  const soketi = require(path.join(ROOT, 'node_modules/@soketi/soketi/package.json')).version;
  return [
    `- CPU: ${cpus[0]?.model ?? 'unknown'} × ${cpus.length} (load average before the run: ${os.loadavg().map((l) => l.toFixed(2)).join(', ')})`,
    `- Memory: ${fmt(os.totalmem() / 2 ** 30, 1)} GB; OS: ${os.type()} ${os.release()} (${os.arch()})`,
    `- Node.js ${process.version}; soketi ${soketi} on loopback, started by the benchmark; date ${new Date().toISOString().slice(0, 10)}`,
  ].join('\n');
}

function table() {
  const lines = ['| Comparison | Baseline | broadcast | Ratio | Target | Result |', '| --- | ---: | ---: | ---: | :---: | :---: |'];
  for (const r of rows) {
    const result = r.pass === undefined ? 'skipped' : r.pass ? '✅ pass' : '❌ miss';
    lines.push(`| ${r.name} | ${r.baseline} | ${r.value} | ${r.ratioText} | ${r.target} | ${result} |`);
  }
  return lines.join('\n');
}

async function main() {
  if (!existsSync(path.join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` first (or `npm run bench`)');
  const before = machine();
  if (AUTH_ONLY) {
    await benchAuth();
    process.stdout.write(`## Auth handler only (${fmt((Date.now() - started) / 1000)} s)\n\n${before}\n\n${table()}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`);
    return;
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'broadcast-bench-'));
  await writeFile(path.join(dir, 'package.json'), '{"name":"bench","private":true}');
  log('starting soketi');
  const server = await startSoketi();
  let failure;
  const only = BULK_ONLY || LINK_ONLY;
  try {
    if (!only) {
      await benchStartup();
      await benchEmit(server, dir);
    }
    if (BULK_ONLY || !only) await benchBulk(server, dir);
    if (LINK_ONLY || !only) await benchLink(server, dir);
    if (!only) await benchMemory(dir);
  } catch (error) {
    failure = error;
  } finally {
    await server.stop();
  }
  if (!failure && !only) {
    try {
      await benchAuth();
    } catch (error) {
      failure = error;
    }
  }
  await rm(dir, { recursive: true, force: true });
  if (failure) throw failure;
  const out = [
    `## Results (${QUICK ? 'quick run' : 'full run'}, ${fmt((Date.now() - started) / 1000)} s)`,
    '',
    before,
    '',
    table(),
    '',
    ...notes.map((n) => `- ${n}`),
    '',
  ].join('\n');
  process.stdout.write(out);
  const missed = rows.filter((r) => r.pass === false);
  if (missed.length) log(`${missed.length} target(s) missed: ${missed.map((r) => r.name).join('; ')}`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});

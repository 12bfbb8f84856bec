/**
 * `emit --file` ended in every way a run can end (kill -9, SIGHUP, Ctrl-C against a stalled server, a second
 * run on the same files), and the documented recovery: the same command with --resume. Real soketi and a
 * real pusher-js client count deliveries per event; fault servers count what was accepted.
 */
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { journalFolder } from '../helpers/state.js';
import { BIN, cleanEnv } from '../helpers/cli.js';
import { faultServers, ok } from '../helpers/fault-server.js';
import { afterAll, describe, expect, inject, test } from '../helpers/fixtures.js';
import { listen, settle } from '../helpers/listener.js';
import { runMain } from '../helpers/main.js';
import { startCli } from '../helpers/running.js';
import { jsonOf } from '../helpers/schema.js';
import type { SoketiServer } from '../helpers/soketi.js';

const server = inject('soketi') as SoketiServer;
const serve = faultServers(afterAll);

/** `count` events, event i on channel `${prefix}-${i % channels}` with data `{ i }`. */
function ndjson(prefix: string, count: number, channels: number): string {
  return Array.from({ length: count }, (_, i) => JSON.stringify({ channel: `${prefix}-${i % channels}`, event: 'tick', data: { i } })).join('\n') + '\n';
}

/** The event ids (data.i) of every batch a fault server accepted. */
function acceptedIds(bodies: { body: string }[]): number[] {
  return bodies.flatMap(({ body }) => (JSON.parse(body) as { batch: { data: string }[] }).batch.map((e) => (JSON.parse(e.data) as { i: number }).i));
}

/** The one journal in the test's state folder written for `file`, as { confirmed line numbers, maybe-delivered line numbers }. */
async function journalOf(file: string): Promise<{ path: string; confirmed: Set<number>; maybe: Set<number>; text: string }> {
  for (const name of await readdir(journalFolder)) {
    if (!name.endsWith('.journal')) continue;
    const text = await readFile(path.join(journalFolder, name), 'utf8');
    if (!text.includes(`"file":"${file}"`)) continue;
    const lines = (kind: string) => new Set(text.split('\n').filter((l) => l.startsWith(`${kind} `)).flatMap((l) => l.slice(2).split(' ').map(Number)));
    return { path: path.join(journalFolder, name), confirmed: lines('s'), maybe: lines('m'), text };
  }
  throw new Error(`no journal for ${file} in ${journalFolder}`);
}

const count = (text: string) => (text.trim() === '' ? 0 : text.trim().split('\n').length);

/**
 * A proxy in front of soketi that holds each answer back for `delayMs` after soketi gave it: the events are
 * delivered at once, their confirmation comes later, so a kill lands with requests delivered but unconfirmed.
 */
async function slowAnswers(target: SoketiServer, delayMs: number): Promise<{ env: Record<string, string>; close(): Promise<void> }> {
  const agent = new http.Agent({ keepAlive: true });
  const proxy = http.createServer((req, res) => {
    const body: Buffer[] = [];
    req.on('data', (d: Buffer) => body.push(d));
    req.on('end', () => {
      const forward = http.request({ host: '127.0.0.1', port: target.port, method: req.method, path: req.url, headers: req.headers, agent }, (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (d: Buffer) => chunks.push(d));
        answer.on('end', () => setTimeout(() => res.writeHead(answer.statusCode ?? 502, answer.headers).end(Buffer.concat(chunks)), delayMs));
      });
      forward.on('error', () => res.destroy());
      forward.end(Buffer.concat(body));
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const port = (proxy.address() as AddressInfo).port;
  return {
    env: { ...target.env, PUSHER_PORT: String(port) },
    close: () =>
      new Promise<void>((resolve) => {
        proxy.closeAllConnections();
        agent.destroy();
        proxy.close(() => resolve());
      }),
  };
}

describe('kill -9 part way, then the same command with --resume', () => {
  test('every event is delivered, none confirmed before the kill is sent again, duplicates at most concurrency × batch size', async ({ project, uid }) => {
    const total = 20_000;
    const channels = 50;
    const concurrency = 16;
    const slow = await slowAnswers(server, 40);
    const prefix = `kill-${uid}`;
    const file = `events-${uid}.ndjson`;
    const listener = await listen(server);
    try {
      await Promise.all(Array.from({ length: channels }, (_, i) => listener.subscribe(`${prefix}-${i}`)));
      await writeFile(path.join(project.dir, file), ndjson(prefix, total, channels));
      const ours = (r: { channel: string }) => r.channel.startsWith(`${prefix}-`);

      // Slowed so that the kill lands part way, with requests in flight: each answer is held back 40 ms after
      // soketi delivered the events (16 requests of 10 at a time: about 4,000 events a second).
      const cli = startCli(['emit', '--file', file, '--concurrency', String(concurrency), '--json'], { cwd: project.dir, env: slow.env });
      await listener.waitFor(4000, ours, 20_000);
      cli.signal('SIGKILL');
      const killed = await cli.exited();
      expect(killed.signal).toBe('SIGKILL');
      await settle(500);
      const beforeKill = new Set(listener.received.filter(ours).map((r) => (r.data as { i: number }).i));
      expect(beforeKill.size).toBeLessThan(total);

      // The journal has every request the server confirmed before the kill (line n is event n - 1).
      const journal = await journalOf(file);
      const confirmed = [...journal.confirmed].map((line) => line - 1);
      expect(confirmed.length).toBeGreaterThan(0);
      for (const id of confirmed) expect(beforeKill.has(id)).toBe(true);
      // Only requests in flight at the kill can have arrived without being confirmed.
      expect(beforeKill.size - confirmed.length).toBeLessThanOrEqual(concurrency * 10);

      // The recovery: the same command with --resume.
      const again = await runMain(['emit', '--file', file, '--concurrency', String(concurrency), '--json', '--resume'], { cwd: project.dir, env: slow.env });
      expect(again.stderr).toBe('');
      expect(again.code).toBe(0);
      const summary = jsonOf('emit', again.stdout);
      expect(summary).toMatchObject({ ok: true, resumed: true, events: total, alreadySent: confirmed.length, sent: total - confirmed.length, failed: 0 });

      await listener.waitFor(total + (beforeKill.size - confirmed.length), ours, 30_000).catch(() => {});
      await settle(500);
      const deliveries = new Map<number, number>();
      for (const r of listener.received.filter(ours)) {
        const id = (r.data as { i: number }).i;
        deliveries.set(id, (deliveries.get(id) ?? 0) + 1);
      }
      const duplicates = [...deliveries.values()].reduce((n, times) => n + times - 1, 0);
      // Every event at least once; none confirmed before the kill twice; only the kill's in-flight requests twice.
      expect(deliveries.size).toBe(total);
      for (const id of confirmed) expect(deliveries.get(id)).toBe(1);
      expect(duplicates).toBeLessThanOrEqual(concurrency * 10);
      console.info(
        `kill -9 figures: events in ${total}; delivered before the kill ${beforeKill.size} (confirmed in the journal ${confirmed.length}); ` +
          `recovered by --resume ${summary.sent}; duplicates ${duplicates} (bound ${concurrency * 10})`,
      );
      // Done: a further --resume sends nothing.
      const third = await runMain(['emit', '--file', file, '--resume', '--json'], { cwd: project.dir, env: slow.env });
      expect(jsonOf('emit', third.stdout)).toMatchObject({ ok: true, alreadySent: total, sent: 0, failed: 0 });
    } finally {
      listener.disconnect();
      await slow.close();
    }
  }, 90_000);
});

describe('a run ended by a signal leaves a complete record', () => {
  test('SIGHUP (a closed terminal) is handled as SIGTERM: exit 129, --failed-out complete, --resume sends exactly the rest', async ({ project }) => {
    const fault = await serve((_n, _req, res) => ok(res));
    const total = 3000;
    await writeFile(path.join(project.dir, 'events.ndjson'), ndjson('hup', total, 4));
    const cli = startCli(['emit', '--file', 'events.ndjson', '--rate', '1000', '--failed-out', 'failed.ndjson', '--json'], { cwd: project.dir, env: fault.env });
    while (fault.accepted.length < 20) await settle(20);
    cli.signal('SIGHUP');
    const exit = await cli.exited();
    expect(exit.code).toBe(129);
    const summary = jsonOf('emit', exit.stdout);
    expect(summary).toMatchObject({ ok: false, stopped: 'interrupted', error: { code: 'terminated', exitCode: 129 } });
    expect(summary.sent + summary.failed).toBe(total);
    expect(summary.unsent.notAttempted).toBe(summary.failed);
    const failed = await readFile(path.join(project.dir, 'failed.ndjson'), 'utf8');
    expect(count(failed)).toBe(summary.failed);
    expect(((await stat(path.join(project.dir, 'failed.ndjson'))).mode & 0o777).toString(8)).toBe('600');

    const sentBefore = new Set(acceptedIds(fault.accepted));
    expect(sentBefore.size).toBe(summary.sent);
    const accepted = fault.accepted.length;
    const again = await runMain(['emit', '--file', 'events.ndjson', '--failed-out', 'failed.ndjson', '--resume', '--json'], { cwd: project.dir, env: fault.env });
    expect(again.code).toBe(0);
    expect(jsonOf('emit', again.stdout)).toMatchObject({ ok: true, alreadySent: summary.sent, sent: summary.failed, failed: 0 });
    const resent = acceptedIds(fault.accepted.slice(accepted));
    expect(resent.filter((i) => sentBefore.has(i))).toEqual([]);
    expect(new Set([...sentBefore, ...resent]).size).toBe(total);
    // The failed output now says nothing is left.
    expect(await readFile(path.join(project.dir, 'failed.ndjson'), 'utf8')).toBe('');
  });

  test('Ctrl-C against a stalled server: the record is complete within a second, in-flight events marked; a second Ctrl-C exits at once', async ({ project }) => {
    const stalled = await serve(() => {});
    const total = 500;
    await writeFile(path.join(project.dir, 'stalled.ndjson'), ndjson('stall', total, 10));
    const cli = startCli(['emit', '--file', 'stalled.ndjson', '--concurrency', '4', '--timeout', '30000', '--failed-out', 'failed.ndjson'], { cwd: project.dir, env: stalled.env });
    while (stalled.requests.length < 4) await settle(20);
    cli.signal('SIGINT');
    const first = Date.now();
    let lines = 0;
    while (Date.now() - first < 1000) {
      lines = await readFile(path.join(project.dir, 'failed.ndjson'), 'utf8').then(count, () => 0);
      if (lines === total) break;
      await settle(50);
    }
    // Every event, the 40 in flight included (they may yet arrive: the journal marks them).
    expect(lines).toBe(total);
    // The person is told why it has not ended yet, and how to end it.
    await cli.waitForStderr(/stopping: waiting for the requests in flight \(40 events, at most the --timeout\); a second signal exits at once/, 1000);
    const journal = await journalOf('stalled.ndjson');
    expect(journal.maybe.size).toBe(40);
    expect(journal.confirmed.size).toBe(0);
    const second = Date.now();
    cli.signal('SIGINT');
    const exit = await cli.exited(5000);
    expect(exit.code).toBe(130);
    expect(Date.now() - second).toBeLessThan(1500);
    expect(count(await readFile(path.join(project.dir, 'failed.ndjson'), 'utf8'))).toBe(total);
    await expect(stat(path.join(project.dir, 'failed.ndjson.lock'))).rejects.toThrow(/ENOENT/);
  });
});

describe('--failed-out is one run\'s, whole lines, and never the input', () => {
  test('a second run on the same --failed-out is refused while the first runs, and after it unless --force', async ({ project }) => {
    const slow = await serve((_n, _req, res) => {
      // Every request of the first run fails slowly: its failed output ends with all 400 events.
      setTimeout(() => res.writeHead(400).end('{"error":"no"}'), 20);
    });
    await writeFile(path.join(project.dir, 'a.ndjson'), ndjson('a', 400, 400));
    await writeFile(path.join(project.dir, 'b.ndjson'), ndjson('b', 400, 400));
    const first = runMain(['emit', '--file', 'a.ndjson', '--concurrency', '2', '--failed-out', 'shared.ndjson', '--json'], { cwd: project.dir, env: slow.env });
    while (slow.requests.length < 2) await settle(10);
    const second = await runMain(['emit', '--file', 'b.ndjson', '--failed-out', 'shared.ndjson', '--json'], { cwd: project.dir, env: slow.env });
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(/--failed-out shared\.ndjson is being written by another broadcast run \(process \d+\)/);
    expect(jsonOf('emit', second.stdout)).toMatchObject({ ok: false, error: { code: 'usage' } });
    const done = await first;
    expect(done.code).toBe(1);
    const written = (await readFile(path.join(project.dir, 'shared.ndjson'), 'utf8')).trim().split('\n');
    expect(written).toHaveLength(400);
    expect(written.map((l) => JSON.parse(l).data.i)).toEqual(Array.from({ length: 400 }, (_, i) => i));

    // Afterwards: the file holds events, so it is not overwritten by another run without --force.
    const third = await runMain(['emit', '--file', 'b.ndjson', '--failed-out', 'shared.ndjson', '--json'], { cwd: project.dir, env: slow.env });
    expect(third.code).toBe(2);
    expect(third.stderr).toContain('--failed-out shared.ndjson already holds');
    expect(third.stderr).toContain('add --force to replace the file');
    const forced = await runMain(['emit', '--file', 'b.ndjson', '--failed-out', 'shared.ndjson', '--force', '--json'], { cwd: project.dir, env: slow.env });
    expect(forced.code).toBe(1);
    const replaced = (await readFile(path.join(project.dir, 'shared.ndjson'), 'utf8')).trim().split('\n');
    expect(replaced.map((l) => JSON.parse(l).channel)).toEqual(Array.from({ length: 400 }, (_, i) => `b-${i}`));
  });

  test('a run killed before it ends leaves no --failed-out to mistake for "nothing failed"', async ({ project }) => {
    let answering = false;
    const stalled = await serve((_n, _req, res) => {
      if (answering) ok(res);
    });
    await writeFile(path.join(project.dir, 'events.ndjson'), ndjson('k', 300, 3));
    const cli = startCli(['emit', '--file', 'events.ndjson', '--failed-out', 'failed.ndjson', '--timeout', '30000'], { cwd: project.dir, env: stalled.env });
    while (stalled.requests.length < 3) await settle(20);
    cli.signal('SIGKILL');
    await cli.exited();
    const again = await runMain(['emit', '--file', 'failed.ndjson', '--json'], { cwd: project.dir, env: stalled.env });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('Cannot read --file failed.ndjson: no such file');
    expect(again.stderr).toContain('hint: The run writing failed.ndjson as its --failed-out did not finish; run that command again with --resume');
    // And that is the recovery: everything, as nothing was confirmed.
    answering = true;
    const resumed = await runMain(['emit', '--file', 'events.ndjson', '--failed-out', 'failed.ndjson', '--resume', '--json'], { cwd: project.dir, env: stalled.env });
    expect(jsonOf('emit', resumed.stdout)).toMatchObject({ ok: true, alreadySent: 0, sent: 300 });
    expect(resumed.stderr).toBe('');
    expect(await readFile(path.join(project.dir, 'failed.ndjson'), 'utf8')).toBe('');
  });
});

describe('standard input', () => {
  /** `broadcast emit --file -` with stdin kept open, its temp folder ours to inspect. */
  async function startPiped(env: Record<string, string>) {
    const tmp = await mkdtemp(path.join(tmpdir(), 'broadcast-tmp-'));
    const child = spawn(process.execPath, [BIN, 'emit', '--file', '-'], { env: cleanEnv({ ...env, TMPDIR: tmp }), stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    return { child, tmp, exited, stderr: () => stderr, cleanup: () => rm(tmp, { recursive: true, force: true }) };
  }

  test.each(['SIGINT', 'SIGKILL'] as const)('%s while the input is still being read and checked leaves nothing in the temp folder', async (signal) => {
    const fault = await serve((_n, _req, res) => ok(res));
    const run = await startPiped(fault.env);
    try {
      // More than a pipe holds: 'drain' then proves the CLI is up and reading (its signal handling in place,
      // however slow the machine), and the input never ends.
      const input = ndjson('spool', 5000, 4);
      expect(input.length).toBeGreaterThan(4 * 64 * 1024);
      if (!run.child.stdin.write(input)) await once(run.child.stdin, 'drain');
      await settle(200);
      run.child.kill(signal);
      const code = await run.exited;
      if (signal === 'SIGINT') {
        expect(code).toBe(130);
        expect(run.stderr()).toContain('Interrupted');
      }
      expect(await readdir(run.tmp)).toEqual([]);
      expect(fault.requests).toHaveLength(0);
    } finally {
      run.child.stdin.destroy();
      await run.cleanup();
    }
  });
});

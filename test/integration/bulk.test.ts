/**
 * `broadcast emit --file` against real soketi servers, received by real pusher-js clients.
 */
import '../helpers/state.js';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { runCli, tempProject } from '../helpers/cli.js';
import { test, uid } from '../helpers/fixtures.js';
import { listen, settle, type Listener, type Received } from '../helpers/listener.js';
import { runMain } from '../helpers/main.js';
import { jsonOf } from '../helpers/schema.js';
import { startSoketi, type SoketiServer } from '../helpers/soketi.js';

const server = inject('soketi') as SoketiServer;

/** NDJSON lines: event i goes to channel `${prefix}-${i % channels}`; every 100th also to the next channel. */
function ndjson(prefix: string, count: number, channels: number, from = 0): string {
  const lines: string[] = [];
  for (let i = from; i < from + count; i++) {
    const c = `${prefix}-${i % channels}`;
    lines.push(
      i % 100 === 99
        ? JSON.stringify({ channels: [c, `${prefix}-${(i + 1) % channels}`], name: 'tick', data: { i } })
        : JSON.stringify({ channel: c, event: 'tick', data: { i } }),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Each channel's event numbers, in arrival order. */
function byChannel(received: Received[], prefix: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const r of received) {
    if (!r.channel.startsWith(`${prefix}-`)) continue;
    out.set(r.channel, [...(out.get(r.channel) ?? []), (r.data as { i: number }).i]);
  }
  return out;
}

function expectInOrderWithoutDuplicates(channels: Map<string, number[]>): void {
  for (const [, ids] of channels) {
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
  }
}

const deliveries = (count: number) => count + Math.floor(count / 100); // the two-channel lines arrive twice

describe('emit --file delivers to subscribed clients', () => {
  let listener: Listener;
  let project: Awaited<ReturnType<typeof tempProject>>;
  beforeAll(async () => {
    listener = await listen(server);
    project = await tempProject();
  });
  afterAll(async () => {
    listener.disconnect();
    await project.cleanup();
  });

  it('3,000 events on 20 channels arrive once each, in per-channel order, with a JSON summary', async () => {
    const prefix = `bulk-${uid()}`;
    await Promise.all(Array.from({ length: 20 }, (_, i) => listener.subscribe(`${prefix}-${i}`)));
    await writeFile(path.join(project.dir, 'events.ndjson'), ndjson(prefix, 3000, 20));
    const r = await runMain(['emit', '--file', 'events.ndjson', '--json'], { cwd: project.dir, env: server.env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = jsonOf('emit', r.stdout);
    expect(summary).toMatchObject({ ok: true, events: 3000, sent: 3000, failed: 0, triggers: 30, stopped: null, errors: [] });
    expect(summary.batches).toBeLessThan(400);
    expect(summary.eventsPerSecond).toBeGreaterThan(0);
    await listener.waitFor(deliveries(3000), (e) => e.channel.startsWith(`${prefix}-`), 20_000);
    await settle(300);
    const channels = byChannel(listener.received, prefix);
    expect(channels.size).toBe(20);
    expect([...channels.values()].reduce((n, ids) => n + ids.length, 0)).toBe(deliveries(3000));
    expectInOrderWithoutDuplicates(channels);
  });

  it('reads standard input with --file -', async () => {
    const prefix = `stdin-${uid()}`;
    await Promise.all(Array.from({ length: 5 }, (_, i) => listener.subscribe(`${prefix}-${i}`)));
    const r = await runMain(['emit', '--file', '-'], { env: server.env, input: ndjson(prefix, 500, 5) });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^✓ sent 500 events from standard input/);
    expect(r.stderr).toBe('');
    await listener.waitFor(deliveries(500), (e) => e.channel.startsWith(`${prefix}-`));
    expectInOrderWithoutDuplicates(byChannel(listener.received, prefix));
  });

  it('a malformed line in the middle sends nothing: exit 2, naming the line', async () => {
    const prefix = `bad-${uid()}`;
    await listener.subscribe(`${prefix}-0`);
    const lines = ndjson(prefix, 1000, 1).split('\n');
    lines[499] = '{"channel":"' + prefix + '-0","event":"tick","data":{"i":499}'; // missing brace
    await writeFile(path.join(project.dir, 'bad.ndjson'), lines.join('\n'));
    const r = await runMain(['emit', '--file', 'bad.ndjson'], { cwd: project.dir, env: server.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Nothing was sent: bad\.ndjson, line 500: invalid JSON/);
    const piped = await runMain(['emit', '--file', '-', '--json'], { env: server.env, input: lines.join('\n') });
    expect(piped.code).toBe(2);
    expect(jsonOf('emit', piped.stdout).error.details.errors).toEqual([{ line: 500, problem: expect.stringMatching(/^invalid JSON/) }]);
    await settle(500);
    expect(listener.received.filter((e) => e.channel.startsWith(`${prefix}-`))).toHaveLength(0);
  });
});

describe('emit --file when the server goes away part way', () => {
  let doomed: SoketiServer | undefined;
  let project: Awaited<ReturnType<typeof tempProject>>;
  beforeAll(async () => {
    project = await tempProject();
  });
  afterAll(async () => {
    await doomed?.stop();
    await project.cleanup();
  });

  it('writes every unconfirmed event to --failed-out (sent + failed = total), and a re-run delivers the rest', async () => {
    doomed = await startSoketi();
    const first = await listen(doomed);
    const prefix = `failover-${uid()}`;
    const total = 3000;
    await Promise.all(Array.from({ length: 10 }, (_, i) => first.subscribe(`${prefix}-${i}`)));
    await writeFile(path.join(project.dir, 'events.ndjson'), ndjson(prefix, total, 10));
    const run = runCli(
      ['emit', '--file', 'events.ndjson', '--rate', '1500', '--failed-out', 'failed.ndjson', '--retries', '1', '--timeout', '2000', '--json'],
      { cwd: project.dir, env: doomed.env },
    );
    await first.waitFor(500, (e) => e.channel.startsWith(`${prefix}-`), 15_000);
    // Killed, not stopped: soketi's graceful shutdown keeps answering for seconds.
    process.kill(-doomed.pid, 'SIGKILL');
    first.disconnect();
    const r = await run;
    expect(r.code).toBe(1);
    const summary = jsonOf('emit', r.stdout);
    expect(summary).toMatchObject({ ok: false, events: total, failedOut: 'failed.ndjson', stopped: 'server-down', error: { code: 'partial_delivery' } });
    expect(summary.sent).toBeGreaterThanOrEqual(400);
    expect(summary.failed).toBeGreaterThan(0);
    expect(summary.sent + summary.failed).toBe(total);
    expect(r.stderr).toMatch(/The events not sent are in failed\.ndjson; send them with: broadcast emit --file failed\.ndjson/);
    // Every event not sent is accounted for by its reason.
    expect(summary.unsent.failed + summary.unsent.heldBack + summary.unsent.notAttempted).toBe(summary.failed);

    // The failed file is in the input format, holds each unsent event once, and keeps per-channel order.
    const failedText = await readFile(path.join(project.dir, 'failed.ndjson'), 'utf8');
    const failedLines = failedText.trim().split('\n');
    expect(failedLines).toHaveLength(summary.failed);
    const failedIds = failedLines.map((l) => (JSON.parse(l) as { data: { i: number } }).data.i);
    expect(new Set(failedIds).size).toBe(failedIds.length);

    // Re-running the failed file against a live server delivers exactly those events, in order.
    const second = await listen(server);
    await Promise.all(Array.from({ length: 10 }, (_, i) => second.subscribe(`${prefix}-${i}`)));
    const again = await runMain(['emit', '--file', 'failed.ndjson', '--json'], { cwd: project.dir, env: server.env });
    expect(again.code).toBe(0);
    expect(jsonOf('emit', again.stdout)).toMatchObject({ ok: true, sent: summary.failed, failed: 0 });
    const multi = failedLines.filter((l) => l.includes('"channels"')).length;
    await second.waitFor(summary.failed + multi, (e) => e.channel.startsWith(`${prefix}-`), 15_000);
    const redelivered = byChannel(second.received, prefix);
    expectInOrderWithoutDuplicates(redelivered);
    const got = new Set([...redelivered.values()].flat());
    expect([...got].sort((a, b) => a - b)).toEqual([...new Set(failedIds)].sort((a, b) => a - b));
    // The unsent part of each channel comes after its sent part: nothing before an event that was sent is missing.
    for (const [channel, ids] of redelivered) {
      const n = Number(channel.slice(prefix.length + 1));
      const sentIds = Array.from({ length: total }, (_, i) => i).filter((i) => (i % 10 === n || (i % 100 === 99 && (i + 1) % 10 === n)) && !failedIds.includes(i));
      if (sentIds.length > 0 && ids.length > 0) expect(Math.min(...ids)).toBeGreaterThan(Math.max(...sentIds));
    }
    second.disconnect();
  });
});

describe('emit --file options', () => {
  let project: Awaited<ReturnType<typeof tempProject>>;
  beforeAll(async () => {
    project = await tempProject();
    await writeFile(path.join(project.dir, 'events.ndjson'), ndjson('opts', 250, 5));
  });
  afterAll(() => project.cleanup());

  it.each([
    [['emit', '--failed-out', 'x.ndjson', 'orders', 'e'], /--failed-out only applies with --file/],
    [['emit', 'orders', 'e', '--file', 'events.ndjson'], /do not also give <target> or <event>/],
    [['emit', '--file', 'events.ndjson', '--socket-id', '1.2'], /--socket-id does not apply with --file/],
    [['emit', '--file', 'missing.ndjson'], /Cannot read --file missing.ndjson: no such file/],
    [['emit', '--file', 'events.ndjson', '--failed-out', 'events.ndjson'], /is the input file/],
    [['emit', '--file', 'events.ndjson', '--concurrency', '0'], /--concurrency must be a whole number >= 1/],
  ])('%j exits 2', async (args, message) => {
    const r = await runMain([...(args as string[]), '--json'], { cwd: project.dir, env: server.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(jsonOf('emit', r.stdout)).toMatchObject({ ok: false, error: { code: 'usage', exitCode: 2 } });
  });

  it('--dry-run validates and counts without sending; the log connection prints each event, then the summary', async () => {
    const dry = await runMain(['emit', '--file', 'events.ndjson', '--dry-run', '--json'], { cwd: project.dir, env: server.env });
    expect(dry.code).toBe(0);
    expect(jsonOf('emit', dry.stdout)).toMatchObject({ ok: true, dryRun: true, events: 250, lines: 250, batchable: 248, triggers: 2 });
    const logged = await runCli(['emit', '--file', 'events.ndjson'], { cwd: project.dir, env: { CI: '' } });
    expect(logged.code).toBe(0);
    const lines = logged.stdout.trim().split('\n');
    expect(lines).toHaveLength(251);
    expect(lines).toContain('tick → opts-1 {"i":1}');
    expect(lines).toContain('tick → opts-4, opts-0 {"i":99}');
    expect(lines[250]).toMatch(/^✓ printed 250 events from events\.ndjson/);
    expect(logged.stderr).toContain('nothing was delivered');
  });
});

describe('emit --file progress', () => {
  test('shows count, rate and ETA on a terminal (stderr), and nothing there otherwise; the summary goes to stdout', async ({ project }) => {
    await writeFile(path.join(project.dir, 'events.ndjson'), ndjson(`progress-${uid()}`, 300, 3));
    const run = async (isTTY: boolean) => {
      const stderr = Object.assign(new PassThrough(), { isTTY });
      const stdout = new PassThrough();
      let text = '';
      let out = '';
      stderr.on('data', (d: Buffer) => (text += d.toString()));
      stdout.on('data', (d: Buffer) => (out += d.toString()));
      const code = await main(['node', 'broadcast', 'emit', '--file', 'events.ndjson', '--rate', '600'], {
        cwd: project.dir,
        env: { ...server.env, PATH: process.env.PATH, XDG_STATE_HOME: process.env.XDG_STATE_HOME },
        stdout,
        stderr,
      });
      return { code, text, out };
    };
    const tty = await run(true);
    expect(tty.code).toBe(0);
    expect(tty.text).toMatch(/\r\x1b\[K[\d,]+\/300 events · [\d,]+\/s · ETA \d+ s/);
    expect(tty.out).toMatch(/^✓ sent 300 events from events.ndjson/);
    const piped = await run(false);
    expect(piped.code).toBe(0);
    expect(piped.text).toBe('');
    expect(piped.out).toMatch(/^✓ sent 300 events from events.ndjson/);
  });
});

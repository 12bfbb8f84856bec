/**
 * `broadcast emit` as a user runs it: results on stdout, everything else on stderr, exit codes, and the
 * JSON answer of every form (single, dry run, --file, --file --dry-run, failures) checked against
 * schemas/emit.json. In process (`runMain`), except what only a process shows: its exit status and signals.
 */
import '../helpers/state.js';
import { link, mkdir, open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../helpers/cli.js';
import { faultServers, ok, type FaultServer } from '../helpers/fault-server.js';
import { afterAll, beforeAll, describe, expect, inject, test, uid } from '../helpers/fixtures.js';
import { listen, settle, type Listener } from '../helpers/listener.js';
import { runMain } from '../helpers/main.js';
import { startCli } from '../helpers/running.js';
import { jsonOf } from '../helpers/schema.js';
import { freePort, type SoketiServer } from '../helpers/soketi.js';

const server = inject('soketi') as SoketiServer;

const serve = faultServers(afterAll);

/** `count` NDJSON lines, event i on channel `c-${i % channels}` with data `{ i }`. */
function ndjson(count: number, channels = 5): string {
  return Array.from({ length: count }, (_, i) => JSON.stringify({ channel: `c-${i % channels}`, event: 'tick', data: { i } })).join('\n') + '\n';
}

// Outside CI (CI: ''): in CI, emitting on the fallback log connection is refused (test/cli/emit-checks.test.ts).
describe('emit with no configuration (the built-in log connection)', () => {
  test('the log driver writes the event to stdout, one line; the note that nothing was delivered goes to stderr', async ({ project }) => {
    const r = await runMain(['emit', 'orders,private-x', 'order.shipped', '--data', '{"id":42}'], { cwd: project.dir, env: { CI: '' } });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('order.shipped → orders, private-x {"id":42}\n');
    expect(r.stderr).toContain('nothing was delivered');
    expect(r.stderr).toContain('PUSHER_APP_ID');
  });

  test('--json: one document, the data in it and no log line', async ({ project }) => {
    const r = await runMain(['emit', 'a,b', 'e', '--json', '--data', '[1,2]'], { cwd: project.dir, env: { CI: '' } });
    expect(r.code).toBe(0);
    expect(jsonOf('emit', r.stdout)).toEqual({
      ok: true,
      dryRun: false,
      connection: 'log',
      driver: 'log',
      delivered: false,
      event: 'e',
      channels: ['a', 'b'],
      skipped: [],
      requests: 1,
      bytes: 5,
      data: [1, 2],
      warnings: [],
    });
    expect(r.stderr).toBe('');
  });

  test('the null connection discards: says so on stdout, and that nothing was delivered on stderr', async ({ project }) => {
    const r = await runMain(['emit', 'a', 'e', '--connection', 'null'], { cwd: project.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('discarded e for a (connection "null")\n');
    expect(r.stderr).toContain('discards events; nothing was delivered');
  });
});

describe('bad input exits 2, names the problem and sends nothing', () => {
  let listener: Listener;
  const channel = `guarded-${uid()}`;
  beforeAll(async () => {
    listener = await listen(server);
    await listener.subscribe(channel);
  });
  afterAll(async () => {
    await settle(300);
    // None of the bad invocations below delivered anything.
    expect(listener.received).toHaveLength(0);
    listener.disconnect();
  });

  test.each([
    [['emit', channel, 'e', '--data', '{"id":'], /Invalid JSON in --data/],
    [['emit', `${channel},bad name`, 'e'], /Invalid channel name "bad name": it contains " "/],
    [['emit', `${channel},${'x'.repeat(165)}`, 'e'], /165 characters long; the limit is 164/],
    [['emit', `${channel},`, 'e'], /Empty entry in the channel list/],
    [['emit', channel, 'e'.repeat(201)], /event name: it is 201 characters long/],
    [['emit', channel, 'e', '--data', JSON.stringify({ blob: 'x'.repeat(11_000) })], /bytes; the limit for this connection is 10240 bytes/],
    [['emit', channel, 'e', '--socket-id', 'abc'], /Invalid socket id "abc"/],
    [['emit', channel, 'e', '--data', '@missing.json'], /Cannot read --data file missing.json: no such file/],
    [['emit', 'NoSuchEvent'], /"NoSuchEvent" is not a registered event/],
    [['emit', channel, 'e', '--connection', 'prod'], /Unknown connection "prod"/],
    [['emit'], /Missing <target>/],
    [['emit', channel, 'e', '--bogus'], /unknown option '--bogus'/],
    [['emit', '--failed-out', 'x.ndjson', channel, 'e'], /--failed-out only applies with --file/],
    [['emit', channel, 'e', '--resume'], /--resume only applies with --file/],
    [['emit', channel, 'e', '--force'], /--force only applies with --file/],
    [['emit', '--file', 'events.ndjson', '--concurrency', '0'], /--concurrency must be a whole number >= 1/],
  ])('%j', async (args, message) => {
    const r = await runMain([...(args as string[]), '--json'], { env: server.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(jsonOf('emit', r.stdout)).toMatchObject({ ok: false, error: { code: expect.stringMatching(/^(usage|invalid|config)$/), exitCode: 2 } });
  });

  test('an unknown connection lists the known ones', async () => {
    const r = await runMain(['emit', channel, 'e', '--connection', 'prod'], { env: server.env });
    expect(r.stderr).toContain('Known connections: log, null, pusher');
  });

  test('missing credentials name the variables to set', async () => {
    const r = await runMain(['emit', channel, 'e', '--json'], { env: { PUSHER_APP_KEY: 'k', PUSHER_HOST: '127.0.0.1' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('missing appId, secret');
    expect(r.stderr).toContain('PUSHER_APP_ID, PUSHER_APP_SECRET');
    expect(jsonOf('emit', r.stdout)).toMatchObject({ ok: false, error: { code: 'config' } });
  });

  test('--dry-run validates and prints the plan on stdout without sending', async () => {
    const json = await runMain(['emit', channel, 'e', '--dry-run', '--json', '--data', '{"a":1}'], { env: server.env });
    expect(json.code).toBe(0);
    expect(jsonOf('emit', json.stdout)).toMatchObject({ ok: true, dryRun: true, delivered: false, channels: [channel], requests: 1, bytes: 7, data: { a: 1 } });
    const human = await runMain(['emit', channel, 'e', '--dry-run', '--data', '{"a":1}'], { env: server.env });
    expect(human.stdout).toBe(`dry run: would send e to ${channel} (1 request, 7 bytes, connection "pusher")\n{"a":1}\n`);
    expect(human.stderr).toBe('');
  });

  test('the process: a bad invocation exits 2 with {"ok":false} on stdout and the message on stderr', async () => {
    const r = await runCli(['emit', 'bad name', 'e', '--json'], { env: server.env });
    expect(r.code).toBe(2);
    const doc = jsonOf('emit', r.stdout);
    expect(doc).toMatchObject({ ok: false, error: { code: 'invalid', exitCode: 2 } });
    expect(doc.error.message).toContain('bad name');
    expect(r.stderr).toMatch(/^error: Invalid channel name "bad name"/);
  });
});

describe('a single emit that the server fails exits 1 with an actionable message', () => {
  test('a wrong secret: credentials rejected, and the secret is not printed', async () => {
    const secret = 'definitely-wrong-secret';
    const r = await runMain(['emit', 'x', 'e', '--json'], { env: { ...server.env, PUSHER_APP_SECRET: secret } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/rejected the credentials \(HTTP 401\)/);
    expect(r.stderr).toContain('PUSHER_APP_SECRET');
    expect(jsonOf('emit', r.stdout)).toMatchObject({ ok: false, error: { code: 'delivery', exitCode: 1 } });
    expect(r.stdout + r.stderr).not.toContain(secret);
  });

  test('an unreachable server: names host and port, within seconds', async () => {
    const port = await freePort();
    const r = await runMain(['emit', 'x', 'e', '--retries', '1'], { env: { ...server.env, PUSHER_PORT: String(port) } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Could not reach the server at http://127.0.0.1:${port}: connection refused`);
    expect(r.stdout).toBe('');
    expect(r.ms).toBeLessThan(10_000);
  });

  test('a payload the server refuses as too large', async ({ project }) => {
    await writeFile(
      path.join(project.dir, 'broadcast.config.json'),
      JSON.stringify({ connections: { big: { driver: 'pusher', appId: server.appId, key: server.key, secret: server.secret, host: '127.0.0.1', port: server.port, scheme: 'http', maxPayloadKb: 500 } }, default: 'big' }),
    );
    const r = await runMain(['emit', 'x', 'e', '--data', JSON.stringify({ blob: 'x'.repeat(120_000) })], { cwd: project.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/too large|HTTP 413/);
  });

  test('some of its requests fail: partial_delivery, naming the channels that did and did not get it', async () => {
    // 150 channels take two requests (100 + 50): the one carrying "c-0" is refused.
    const fault: FaultServer = await serve((n, _req, res) => {
      const { channels } = JSON.parse(fault.requests[n - 1]!.body) as { channels: string[] };
      if (channels.includes('c-0')) res.writeHead(400).end('{"error":"refused"}');
      else ok(res);
    });
    const channels = Array.from({ length: 150 }, (_, i) => `c-${i}`);
    const r = await runMain(['emit', channels.join(','), 'e', '--json'], { env: fault.env });
    expect(r.code).toBe(1);
    const doc = jsonOf('emit', r.stdout);
    expect(doc).toMatchObject({ ok: false, error: { code: 'partial_delivery', exitCode: 1, message: 'Sent to 50 of 150 channels; failed for 100: The server answered HTTP 400: refused' } });
    expect(doc.error.details).toEqual({ sent: channels.slice(100), failed: channels.slice(0, 100) });
    expect(r.stderr).toMatch(/^error: Sent to 50 of 150 channels/);
  });
});

describe('a project with broadcast.config.ts', () => {
  test('emits a registered event class by name to its own channel', async ({ project, uid: id }) => {
    await mkdir(path.join(project.dir, 'src/events'), { recursive: true });
    await writeFile(
      path.join(project.dir, 'broadcast.config.ts'),
      `import { defineConfig } from 'pusher-broadcast';
export default defineConfig({ eventsDir: 'src/events' });
`,
    );
    await writeFile(
      path.join(project.dir, 'src/events/OrderShipped.ts'),
      `import { CanBroadcast, PrivateChannel } from 'pusher-broadcast';
export class OrderShipped extends CanBroadcast {
  declare orderId: string;
  broadcastOn() { return new PrivateChannel(\`orders.\${this.orderId}\`); }
  override broadcastAs() { return 'order.shipped'; }
}
`,
    );
    const listener = await listen(server);
    await listener.subscribe(`private-orders.${id}`);
    try {
      const r = await runMain(['emit', 'OrderShipped', '--data', JSON.stringify({ orderId: id }), '--json'], { cwd: project.dir, env: server.env });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(jsonOf('emit', r.stdout)).toMatchObject({ delivered: true, event: 'order.shipped', channels: [`private-orders.${id}`] });
      const [got] = await listener.waitFor(1, (e) => e.channel === `private-orders.${id}`);
      expect(got).toMatchObject({ event: 'order.shipped', data: { orderId: id } });

      const human = await runMain(['emit', 'OrderShipped', '--data', JSON.stringify({ orderId: id })], { cwd: project.dir, env: server.env });
      expect(human.stdout).toBe(`✓ sent order.shipped to private-orders.${id} (1 request, connection "pusher")\n`);

      const typo = await runMain(['emit', 'OrderShiped'], { cwd: project.dir, env: server.env });
      expect(typo.code).toBe(2);
      expect(typo.stderr).toContain('did you mean OrderShipped?');
      expect(typo.stderr).toContain('broadcast emit OrderShiped <event>');
    } finally {
      listener.disconnect();
    }
  });

  test('a config file that fails to load exits 2 naming the file and the cause', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), `throw new Error('boom from config');\n`);
    const r = await runMain(['emit', 'a', 'b'], { cwd: project.dir });
    expect(r.code).toBe(2);
    // (In process the path is shown in full: config/load.ts shortens it against process.cwd(), not the command's cwd.)
    expect(r.stderr).toMatch(/Could not load (\S*\/)?broadcast\.config\.ts: boom from config/);
  });

  test('--config picks a file explicitly; a missing one is a config error', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.json'), JSON.stringify({ default: 'null' }));
    const found = await runMain(['emit', 'a', 'b', '--config', 'broadcast.config.json', '--json'], { cwd: project.dir });
    expect(jsonOf('emit', found.stdout)).toMatchObject({ ok: true, connection: 'null', driver: 'null' });
    const missing = await runMain(['emit', 'a', 'b', '--config', 'nope.ts', '--json'], { cwd: project.dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('Could not load');
    expect(jsonOf('emit', missing.stdout)).toMatchObject({ ok: false, error: { code: 'config', message: expect.stringContaining('nope.ts') } });
  });
});

describe('emit --file: the summary is the result (stdout), progress and reasons go to stderr', () => {
  test('--dry-run: the summary on stdout, and its JSON', async ({ project }) => {
    await writeFile(path.join(project.dir, 'events.ndjson'), ndjson(20) + '{"channels":["a","b"],"event":"e"}\n');
    const human = await runMain(['emit', '--file', 'events.ndjson', '--dry-run'], { cwd: project.dir });
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^dry run: events\.ndjson is valid: 21 events on 21 lines \(20 batchable, 1 single triggers\), checked in [\d.]+ s; nothing was sent \(connection "log"\)\n$/);
    expect(human.stderr).toBe('');
    const json = await runMain(['emit', '--file', 'events.ndjson', '--dry-run', '--json'], { cwd: project.dir });
    expect(jsonOf('emit', json.stdout)).toEqual({
      ok: true,
      dryRun: true,
      file: 'events.ndjson',
      connection: 'log',
      driver: 'log',
      events: 21,
      lines: 21,
      batchable: 20,
      triggers: 1,
      checkMs: expect.any(Number),
    });
  });

  test('the log connection: each event, then the summary, on stdout; in JSON mode only the summary', async ({ project }) => {
    await writeFile(path.join(project.dir, 'events.ndjson'), ndjson(30, 3));
    const human = await runMain(['emit', '--file', 'events.ndjson', '--concurrency', '1'], { cwd: project.dir, env: { CI: '' } });
    expect(human.code).toBe(0);
    const lines = human.stdout.trim().split('\n');
    expect(lines).toHaveLength(31);
    expect(lines).toContain('tick → c-1 {"i":1}');
    expect(lines[30]).toMatch(/^✓ printed 30 events from events\.ndjson in [\d.]+ s \(.*connection "log"\)$/);
    expect(human.stderr).toContain('nothing was delivered');
    const json = await runMain(['emit', '--file', 'events.ndjson', '--json'], { cwd: project.dir, env: { CI: '' } });
    expect(jsonOf('emit', json.stdout)).toMatchObject({ ok: true, dryRun: false, driver: 'log', delivered: false, events: 30, sent: 30, failed: 0, stopped: null });
  });

  test('a malformed line sends nothing: exit 2, naming the line', async ({ project }) => {
    await writeFile(path.join(project.dir, 'bad.ndjson'), '{"channel":"a","event":"e"}\n{"channel":"a","event":\n');
    const r = await runMain(['emit', '--file', 'bad.ndjson', '--json'], { cwd: project.dir, env: { CI: '' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Nothing was sent: bad\.ndjson, line 2: invalid JSON/);
    expect(jsonOf('emit', r.stdout).error).toMatchObject({ code: 'invalid', details: { errors: [{ line: 2, problem: expect.stringMatching(/^invalid JSON/) }] } });
  });

  test('some events refused: partial_delivery (exit 1), the run beside the error, the refused ones in --failed-out', async ({ project }) => {
    // Batches carrying channel c-0 are refused; the other channels' events are accepted.
    const fault: FaultServer = await serve((n, _req, res) => {
      const { batch } = JSON.parse(fault.requests[n - 1]!.body) as { batch: { channel: string }[] };
      if (batch.some((e) => e.channel === 'c-0')) res.writeHead(400).end('{"error":"no c-0 today"}');
      else ok(res);
    });
    await writeFile(path.join(project.dir, 'events.ndjson'), ndjson(100, 5));
    const r = await runMain(['emit', '--file', 'events.ndjson', '--failed-out', 'failed.ndjson', '--concurrency', '1', '--json'], { cwd: project.dir, env: fault.env });
    expect(r.code).toBe(1);
    const doc = jsonOf('emit', r.stdout);
    expect(doc).toMatchObject({
      ok: false,
      events: 100,
      sent: 80,
      failed: 20,
      failedOut: 'failed.ndjson',
      stopped: null,
      // The first batch of c-0 was refused; the rest of c-0 was held back (not sent after a gap).
      unsent: { failed: 10, heldBack: 10, notAttempted: 0 },
      errors: [{ message: 'The server answered HTTP 400: no c-0 today', events: 10 }],
      error: { code: 'partial_delivery', exitCode: 1, message: '20 of 100 events were not sent: The server answered HTTP 400: no c-0 today' },
    });
    expect(r.stderr).toContain('send them with: broadcast emit --file failed.ndjson');
    const failed = (await readFile(path.join(project.dir, 'failed.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(failed.map((e) => e.data.i)).toEqual(Array.from({ length: 20 }, (_, k) => k * 5));

    const human = await runMain(['emit', '--file', 'events.ndjson', '--concurrency', '1'], { cwd: project.dir, env: fault.env });
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/^✗ sent 80 of 100 events from events\.ndjson in [\d.]+ s .*; 20 not sent\n$/);
    // Every event not sent is explained: 10 failed (and why), 10 held back behind them.
    expect(human.stderr).toContain('  10 failed:\n    10 events: The server answered HTTP 400: no c-0 today');
    expect(human.stderr).toContain("  10 held back: an earlier event on the same channel failed, and sending them would have broken the channel's order");
    expect(human.stderr).toContain('error: 20 of 100 events were not sent');
    expect(human.stderr).toContain('hint: Send the rest with the same command and --resume: broadcast emit --file events.ndjson --resume');
  });

  test('credentials rejected: nothing sent (delivery), stopped at once', async ({ project }) => {
    const fault = await serve((_n, _req, res) => res.writeHead(401).end('{"error":"bad signature"}'));
    await writeFile(path.join(project.dir, 'events.ndjson'), ndjson(200, 4));
    const r = await runMain(['emit', '--file', 'events.ndjson', '--concurrency', '2', '--json'], { cwd: project.dir, env: fault.env });
    expect(r.code).toBe(1);
    expect(jsonOf('emit', r.stdout)).toMatchObject({ ok: false, sent: 0, failed: 200, stopped: 'rejected', error: { code: 'delivery' } });
    expect(fault.requests.length).toBeLessThanOrEqual(2);
  });

  test('stopped by a signal: the events not sent go to --failed-out, exit 143 for SIGTERM', async ({ project }) => {
    const fault = await serve((_n, _req, res) => ok(res));
    await writeFile(path.join(project.dir, 'events.ndjson'), ndjson(2000, 4));
    const controller = new AbortController();
    const run = runMain(['emit', '--file', 'events.ndjson', '--rate', '400', '--failed-out', 'failed.ndjson', '--json'], { cwd: project.dir, env: fault.env, signal: controller.signal });
    while (fault.accepted.length < 3) await settle(20);
    controller.abort('SIGTERM');
    const r = await run;
    expect(r.code).toBe(143);
    const doc = jsonOf('emit', r.stdout);
    expect(doc).toMatchObject({ ok: false, stopped: 'interrupted', error: { code: 'terminated', exitCode: 143 } });
    expect(doc.sent).toBeGreaterThan(0);
    expect(doc.sent + doc.failed).toBe(2000);
    const failed = (await readFile(path.join(project.dir, 'failed.ndjson'), 'utf8')).trim().split('\n');
    expect(failed).toHaveLength(doc.failed);
  });

  test('stopped while the file is being checked: nothing is sent, exit 130', async ({ project }) => {
    const fault = await serve((_n, _req, res) => ok(res));
    await writeFile(path.join(project.dir, 'events.ndjson'), ndjson(100));
    const controller = new AbortController();
    controller.abort('SIGINT');
    const r = await runMain(['emit', '--file', 'events.ndjson', '--failed-out', 'failed.ndjson', '--json'], { cwd: project.dir, env: fault.env, signal: controller.signal });
    expect(r.code).toBe(130);
    expect(jsonOf('emit', r.stdout)).toEqual({ ok: false, error: { code: 'interrupted', message: 'Interrupted (Ctrl-C)', exitCode: 130 } });
    expect(fault.requests).toHaveLength(0);
  });

  test('the process: SIGINT during a send writes --failed-out, prints the summary and exits 130', async ({ project }) => {
    const fault = await serve((_n, _req, res) => ok(res));
    await writeFile(path.join(project.dir, 'events.ndjson'), ndjson(3000, 4));
    const cli = startCli(['emit', '--file', 'events.ndjson', '--rate', '300', '--failed-out', 'failed.ndjson'], { cwd: project.dir, env: fault.env });
    while (fault.accepted.length < 3) await settle(20);
    cli.signal('SIGINT');
    const exit = await cli.exited();
    expect(exit.code).toBe(130);
    const [, sent, events, notSent] = /^✗ sent ([\d,]+) of ([\d,]+) events from events\.ndjson .*; ([\d,]+) not sent\n$/.exec(exit.stdout) ?? [];
    expect(events).toBe('3,000');
    const count = (text: string | undefined) => Number(text?.replace(/,/g, ''));
    expect(count(sent) + count(notSent)).toBe(3000);
    expect(exit.stderr).toContain('the events not sent were written to failed.ndjson');
    expect(exit.stderr).toContain('error: Interrupted (Ctrl-C)');
    const failed = (await readFile(path.join(project.dir, 'failed.ndjson'), 'utf8')).trim().split('\n');
    expect(failed).toHaveLength(count(notSent));
  });
});

describe('emit --file: exact checks and real limits', () => {
  /** Ids (data.i) of the events in the batches a fault server accepted. */
  const acceptedIds = (fault: FaultServer) =>
    fault.accepted.flatMap(({ body }) => (JSON.parse(body) as { batch: { data: string }[] }).batch.map((e) => (JSON.parse(e.data) as { i: number }).i));

  test('--failed-out hard-linked to the input is refused (exit 2), and the input is left whole', async ({ project }) => {
    const text = ndjson(50);
    await writeFile(path.join(project.dir, 'events.ndjson'), text);
    await link(path.join(project.dir, 'events.ndjson'), path.join(project.dir, 'same-inode.ndjson'));
    const r = await runMain(['emit', '--file', 'events.ndjson', '--failed-out', 'same-inode.ndjson', '--json'], { cwd: project.dir, env: server.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--failed-out same-inode.ndjson is the input file; writing it would destroy the input');
    expect(jsonOf('emit', r.stdout)).toMatchObject({ ok: false, error: { code: 'usage' } });
    expect(await readFile(path.join(project.dir, 'events.ndjson'), 'utf8')).toBe(text);
  });

  test('an input over 8 MB that changes between the check and the send is not reported as sent', async ({ project }) => {
    // 15,000 lines of about 620 bytes: 9.3 MB, so pass 2 reads the file again.
    const lines = Array.from({ length: 15_000 }, (_, i) => JSON.stringify({ channel: `c-${i % 50}`, event: 'tick', data: { i, pad: 'x'.repeat(580) } }));
    const file = path.join(project.dir, 'big.ndjson');
    await writeFile(file, `${lines.join('\n')}\n`);
    let open_ = true;
    const held: (() => void)[] = [];
    const fault = await serve((_n, _req, res) => (open_ ? held.push(() => ok(res)) : ok(res)));
    const run = runMain(['emit', '--file', 'big.ndjson', '--json'], { cwd: project.dir, env: fault.env });
    // Sending has begun (pass 2 has read its first block): change line 9,001 (past 5 MB), keeping its length.
    while (fault.requests.length === 0) await settle(10);
    const offset = lines.slice(0, 9000).reduce((n, l) => n + Buffer.byteLength(l) + 1, 0) + lines[9000]!.indexOf('xxx');
    const handle = await open(file, 'r+');
    await handle.write('yyy', offset);
    await handle.close();
    open_ = false;
    for (const answer of held.splice(0)) answer();
    const r = await run;
    expect(r.code).toBe(1);
    const doc = jsonOf('emit', r.stdout);
    expect(doc).toMatchObject({ ok: false, events: 15_000, stopped: 'input-changed', error: { code: 'partial_delivery' } });
    expect(doc.sent).toBeLessThan(9000);
    expect(doc.sent + doc.failed).toBe(15_000);
    expect(doc.errors).toContainEqual({ message: expect.stringMatching(/^big\.ndjson changed after it was checked \(its bytes differ from byte \d+ on\)/), events: doc.unsent.notAttempted });
    // Nothing from the changed part went out.
    expect(Math.max(...acceptedIds(fault))).toBeLessThan(9000);
  });

  test('a line whose numbers grow when re-serialised is measured at its sent size: --dry-run refuses it', async ({ project }) => {
    // 3,411 characters, but sent as 14,750 bytes (each 1e20 is 21 digits): over the 10 KB limit.
    const line = `{"channel":"a","event":"e","data":[${Array(670).fill('1e20').join(',')}],"socket_id":"1.2"}`;
    await writeFile(path.join(project.dir, 'grows.ndjson'), `{"channel":"a","event":"e"}\n${line}\n`);
    const r = await runMain(['emit', '--file', 'grows.ndjson', '--dry-run', '--json'], { cwd: project.dir, env: server.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Nothing was sent: grows.ndjson, line 2: the data is 14741 bytes; the limit for this connection is 10240 bytes');
  });

  test('one line with many channels keeps to --concurrency (requests in flight) and --rate (one message per channel)', async ({ project }) => {
    let inFlight = 0;
    let maxInFlight = 0;
    const starts: number[] = [];
    const fault = await serve((_n, _req, res) => {
      starts.push(Date.now());
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      setTimeout(() => {
        inFlight--;
        ok(res);
      }, 30);
    });
    const channels = Array.from({ length: 300 }, (_, i) => `c-${i}`);
    await writeFile(path.join(project.dir, 'wide.ndjson'), `${JSON.stringify({ channels, event: 'e', data: {} })}\n`);
    const r = await runMain(['emit', '--file', 'wide.ndjson', '--concurrency', '1', '--rate', '100', '--json'], { cwd: project.dir, env: fault.env });
    expect(r.code).toBe(0);
    expect(jsonOf('emit', r.stdout)).toMatchObject({ ok: true, events: 1, sent: 1, requests: 3, triggers: 1 });
    expect(maxInFlight).toBe(1);
    // 100 messages a request at 100 a second: a second apart.
    expect(starts[2]! - starts[0]!).toBeGreaterThanOrEqual(1900);
  });

  test('a few stalled requests are failures, not "server down": the run goes on, and every event not sent is explained', async ({ project }) => {
    // The first three requests (10 events of one channel each) never get an answer; the rest are answered.
    const fault = await serve((n, _req, res) => {
      if (n > 3) ok(res);
    });
    await writeFile(path.join(project.dir, 'events.ndjson'), ndjson(3000, 30));
    const r = await runMain(['emit', '--file', 'events.ndjson', '--concurrency', '4', '--timeout', '1000', '--json'], { cwd: project.dir, env: fault.env });
    expect(r.code).toBe(1);
    expect(jsonOf('emit', r.stdout)).toMatchObject({
      ok: false,
      events: 3000,
      sent: 2700,
      failed: 300,
      unsent: { failed: 30, heldBack: 270, notAttempted: 0 },
      maybeDelivered: 30,
      stopped: null,
      errors: [{ message: `No answer from http://127.0.0.1:${fault.port} within 1000 ms`, events: 30 }],
    });
  });

  test('the human summary names each reason: failed (and why), held back, not attempted', async ({ project }) => {
    // c-0's requests are refused; the server then goes away, so the rest is not attempted.
    let down = false;
    const fault: FaultServer = await serve((n, req, res) => {
      const { batch } = JSON.parse(fault.requests[n - 1]!.body) as { batch: { channel: string }[] };
      if (down) return req.socket.destroy();
      if (batch.some((e) => e.channel === 'c-0')) return res.writeHead(400).end('{"error":"no c-0"}');
      if (n >= 6) down = true;
      ok(res);
    });
    await writeFile(path.join(project.dir, 'events.ndjson'), ndjson(400, 20));
    const r = await runMain(['emit', '--file', 'events.ndjson', '--concurrency', '1', '--retries', '0'], { cwd: project.dir, env: fault.env });
    expect(r.code).toBe(1);
    const [, sent, notSent] = /^✗ sent ([\d,]+) of 400 events .*; ([\d,]+) not sent\n$/.exec(r.stdout) ?? [];
    expect(Number(sent) + Number(notSent)).toBe(400);
    const reasons = [...r.stderr.matchAll(/^ {2}(\d+) (failed|held back|not attempted)/gm)].map(([, n]) => Number(n));
    expect(reasons.reduce((a, b) => a + b, 0)).toBe(Number(notSent));
    expect(r.stderr).toMatch(/^ {2}\d+ failed( \(\d+ may have been delivered[^)]*\))?:\n {4}10 events: The server answered HTTP 400: no c-0/m);
    expect(r.stderr).toMatch(/^ {2}\d+ held back: an earlier event on the same channel failed/m);
    expect(r.stderr).toMatch(/^ {2}\d+ not attempted: the server (stopped answering|could not be reached)/m);
  });

  test('a bad line\'s control characters are shown escaped, never sent to the terminal', async ({ project }) => {
    await writeFile(path.join(project.dir, 'evil.ndjson'), '{"channel":"a","event":"e"}\n\u001b]0;pwned\u0007 and the rest\n');
    const r = await runMain(['emit', '--file', 'evil.ndjson'], { cwd: project.dir, env: server.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('line 2: invalid JSON');
    expect(r.stderr).toContain('\\u001b]0;pwned\\u0007');
    expect(r.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
  });

  test('bytes that are not UTF-8 are refused with the line number, not replaced', async ({ project }) => {
    await writeFile(path.join(project.dir, 'latin1.ndjson'), Buffer.concat([Buffer.from('{"channel":"a","event":"e"}\n{"channel":"a","event":"e","data":"caf'), Buffer.from([0xe9]), Buffer.from('"}\n')]));
    const r = await runMain(['emit', '--file', 'latin1.ndjson', '--json'], { cwd: project.dir, env: server.env });
    expect(r.code).toBe(2);
    expect(jsonOf('emit', r.stdout).error.details.errors).toEqual([{ line: 2, problem: 'not valid UTF-8 (save the file as UTF-8)' }]);
  });

  test('--resume sends only what an earlier run did not, from a file or the same standard input; --dry-run counts it', async ({ project }) => {
    // Batches with c-0 are refused until `open`: the first run sends 80 of 100 (c-0's 20 failed or held back).
    let open_ = false;
    const fault: FaultServer = await serve((n, _req, res) => {
      const { batch } = JSON.parse(fault.requests[n - 1]!.body) as { batch: { channel: string }[] };
      if (!open_ && batch.some((e) => e.channel === 'c-0')) res.writeHead(400).end('{"error":"not now"}');
      else ok(res);
    });
    for (const [args, input] of [[['--file', 'events.ndjson'], undefined], [['--file', '-'], ndjson(100, 5).replace(/"tick"/g, '"tock"')]] as const) {
      open_ = false;
      const accepted = fault.accepted.length;
      if (!input) await writeFile(path.join(project.dir, 'events.ndjson'), ndjson(100, 5));
      const opts = { cwd: project.dir, env: fault.env, input };
      const first = await runMain(['emit', ...args, '--concurrency', '1', '--json'], opts);
      expect(jsonOf('emit', first.stdout)).toMatchObject({ sent: 80, failed: 20, journal: expect.stringMatching(/\.journal$/) });
      const dry = await runMain(['emit', ...args, '--resume', '--dry-run', '--json'], opts);
      expect(jsonOf('emit', dry.stdout)).toMatchObject({ ok: true, dryRun: true, events: 100, alreadySent: 80 });
      open_ = true;
      const resumed = await runMain(['emit', ...args, '--resume', '--json'], opts);
      expect(resumed.code).toBe(0);
      expect(jsonOf('emit', resumed.stdout)).toMatchObject({ ok: true, resumed: true, events: 100, alreadySent: 80, sent: 20, failed: 0 });
      const ids = acceptedIds({ ...fault, accepted: fault.accepted.slice(accepted) } as FaultServer);
      expect(ids).toHaveLength(100);
      expect(new Set(ids).size).toBe(100);
      const human = await runMain(['emit', ...args, '--resume'], opts);
      expect(human.code).toBe(0);
      expect(human.stderr).toContain('resume: all 100 events of');
      expect(human.stdout).toMatch(/^✓ sent 0 events from .* \(100 more were sent by an earlier run\)\n$/);
    }
  });

  test('the process: stdout closed by its reader (| head -2) ends the command quietly', async ({ project }) => {
    await writeFile(path.join(project.dir, 'events.ndjson'), ndjson(20_000));
    const cli = startCli(['emit', '--file', 'events.ndjson'], { cwd: project.dir, env: { CI: '' } });
    await cli.waitForRecord(() => true);
    cli.closeStdout();
    const exit = await cli.exited();
    expect(exit.stderr).not.toMatch(/EPIPE|unexpected failure|at .*\.js:\d+/);
    expect(exit.code).toBe(0);
  });
});

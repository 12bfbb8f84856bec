/**
 * `broadcast listen` against a real soketi: what it receives, how it ends, and how it fails.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Broadcast } from '../../src/core/broadcast.js';
import { runCli } from '../helpers/cli.js';
import { listen } from '../helpers/listener.js';
import { startCli } from '../helpers/running.js';
import { freePort, type SoketiServer } from '../helpers/soketi.js';

const server = inject('soketi') as SoketiServer;
const uid = () => Math.random().toString(36).slice(2, 10);
const masterKey = randomBytes(32).toString('base64');
const env = { ...server.env, PUSHER_ENCRYPTION_MASTER_KEY_BASE64: masterKey };
const broadcast = new Broadcast({}, { env });
afterAll(() => broadcast.close());

const subscribed = (r: Record<string, unknown>) => r.type === 'status' && r.status === 'subscribed';

describe('listen --json receives what is emitted', () => {
  it('public, private and presence events emitted by the CLI, and presence members joining and leaving', async () => {
    const id = uid();
    const channels = [`news-${id}`, `private-desk-${id}`, `presence-room-${id}`];
    const run = startCli(['listen', channels.join(','), '--json', '--user', '7', '--user-info', '{"name":"Ada"}', '--count', '3', '--timeout', '20'], { env });
    const status = await run.waitForRecord(subscribed);
    expect(status).toMatchObject({ connection: 'pusher', channels, user: { id: 7, info: { name: 'Ada' } } });
    expect(status.socketId).toMatch(/^\d+\.\d+$/);
    expect(status.members).toEqual({ [channels[2]!]: [{ id: '7', info: { name: 'Ada' } }] });

    // A second client joins the presence channel, then leaves.
    const other = await listen(server, { user: { id: 'grace', info: { role: 'admin' } } });
    await other.subscribe(channels[2]!);
    const joined = await run.waitForRecord((r) => r.type === 'member' && r.action === 'added');
    expect(joined).toMatchObject({ channel: channels[2], user: { id: 'grace', info: { role: 'admin' } } });
    other.disconnect();
    const left = await run.waitForRecord((r) => r.type === 'member' && r.action === 'removed');
    expect(left).toMatchObject({ channel: channels[2], user: { id: 'grace' } });

    const emitted = await runCli(['emit', channels.join(','), 'order.shipped', '--data', '{"id":42,"tags":["a"]}'], { env });
    expect(emitted.code).toBe(0);
    const exit = await run.exited();
    expect(exit.code).toBe(0);
    const records = run.records();
    const events = records.filter((r) => r.type === 'event');
    expect(events.map((e) => e.channel).sort()).toEqual([...channels].sort());
    for (const e of events) {
      expect(e).toMatchObject({ event: 'order.shipped', data: { id: 42, tags: ['a'] } });
      expect(Date.parse(e.receivedAt as string)).toBeGreaterThan(Date.now() - 60_000);
    }
    expect(records.at(-1)).toEqual({ type: 'status', status: 'done', exitCode: 0, events: 3 });
  });

  it('lists the members already in a presence channel, also when joining without --user-info', async () => {
    const channel = `presence-lobby-${uid()}`;
    const first = startCli(['listen', channel, '--json', '--user', '8', '--timeout', '20'], { env });
    await first.waitForRecord(subscribed);
    const second = startCli(['listen', channel, '--json', '--user', '7', '--timeout', '1'], { env });
    const status = await second.waitForRecord(subscribed);
    const ids = (status.members as Record<string, { id: string }[]>)[channel]!.map((m) => m.id).sort();
    expect(ids).toEqual(['7', '8']);
    expect((await second.exited()).code).toBe(0);
    first.signal('SIGINT');
    expect((await first.exited()).code).toBe(130);
  });

  it('decrypts events on an encrypted channel with the master key', async () => {
    const channel = `private-encrypted-vault-${uid()}`;
    const run = startCli(['listen', channel, '--json', '--count', '1', '--timeout', '15'], { env });
    await run.waitForRecord(subscribed);
    await broadcast.channel(channel, 'secret.updated', { code: 'xyzzy' });
    expect((await run.exited()).code).toBe(0);
    expect(run.records().find((r) => r.type === 'event')).toMatchObject({ channel, event: 'secret.updated', data: { code: 'xyzzy' } });
  });

  it('--events filters by name and --count stops after that many matches', async () => {
    const channel = `filtered-${uid()}`;
    const run = startCli(['listen', channel, '--json', '--events', 'wanted,also', '--count', '2', '--timeout', '15'], { env });
    await run.waitForRecord(subscribed);
    await broadcast.channel(channel, 'ignored', { n: 1 });
    await broadcast.channel(channel, 'wanted', { n: 2 });
    await broadcast.channel(channel, 'ignored', { n: 3 });
    await broadcast.channel(channel, 'also', { n: 4 });
    const exit = await run.exited();
    expect(exit.code).toBe(0);
    const events = run.records().filter((r) => r.type === 'event');
    expect(events.map((e) => [e.event, (e.data as { n: number }).n])).toEqual([['wanted', 2], ['also', 4]]);
    expect(run.records().at(-1)).toMatchObject({ type: 'status', status: 'done', exitCode: 0, events: 2 });
  });

  it('prints one readable line per event and the state on stderr without --json', async () => {
    const channel = `plain-${uid()}`;
    const run = startCli(['listen', channel, '--count', '2', '--timeout', '15'], { env });
    await run.waitForStderr(/Listening on/);
    await broadcast.channel(channel, 'first', { a: { b: 1 } });
    await broadcast.channel(channel, 'second', 'plain text');
    const exit = await run.exited();
    expect(exit.code).toBe(0);
    const lines = exit.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} ${channel} first \\{"a":\\{"b":1\\}\\}$`));
    expect(lines[1]).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} ${channel} second "plain text"$`));
    expect(exit.stderr).toContain(`Listening on ${channel}`);
    expect(exit.stderr).toContain('Done after 2 events');
  });
});

describe('listen ends as asked', () => {
  it('--timeout without --count ends with 0 after that long', async () => {
    const run = startCli(['listen', `quiet-${uid()}`, '--json', '--timeout', '1'], { env });
    const exit = await run.exited();
    expect(exit.code).toBe(0);
    expect(exit.ms).toBeGreaterThanOrEqual(1000);
    expect(exit.ms).toBeLessThan(8000);
    expect(run.records().at(-1)).toEqual({ type: 'status', status: 'timeout', exitCode: 0, events: 0 });
  });

  it('--timeout with --count not reached exits 1 and says how many arrived', async () => {
    const channel = `short-${uid()}`;
    const run = startCli(['listen', channel, '--json', '--count', '3', '--timeout', '1.5'], { env });
    await run.waitForRecord(subscribed);
    await broadcast.channel(channel, 'only-one', {});
    const exit = await run.exited();
    expect(exit.code).toBe(1);
    expect(exit.stderr).toContain('Received 1 of 3 events within --duration 1.5s');
    expect(run.records().at(-1)).toMatchObject({ type: 'status', status: 'timeout', exitCode: 1, events: 1 });
  });

  it.each([
    ['SIGINT', 130, 'interrupted'],
    ['SIGTERM', 143, 'terminated'],
  ] as const)('%s disconnects cleanly and exits %i', async (signal, code, status) => {
    const run = startCli(['listen', `sig-${uid()}`, '--json'], { env });
    await run.waitForRecord(subscribed);
    run.signal(signal);
    const exit = await run.exited(5000);
    expect(exit.code).toBe(code);
    expect(run.records().at(-1)).toEqual({ type: 'status', status, exitCode: code, events: 0 });
  });
});

describe('listen fails fast and clearly', () => {
  it('a wrong app key exits 1 with the server\'s reason', async () => {
    const run = startCli(['listen', `k-${uid()}`, '--json'], { env: { ...env, PUSHER_APP_KEY: 'no-such-key' } });
    const exit = await run.exited(8000);
    expect(exit.code).toBe(1);
    expect(exit.ms).toBeLessThan(5000);
    expect(exit.stderr).toContain('refused the WebSocket connection (4001)');
    expect(exit.stderr).toContain('PUSHER_APP_KEY');
    expect(run.records().at(-1)).toMatchObject({ type: 'status', status: 'failed', exitCode: 1 });
  });

  it('a wrong secret: the private subscription is refused, exit 1', async () => {
    const exit = await startCli(['listen', `private-x-${uid()}`], { env: { ...env, PUSHER_APP_SECRET: 'wrong-secret-value' } }).exited(8000);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(/The server refused the subscription to private-x-\w+/);
    expect(exit.stderr).not.toContain('wrong-secret-value');
  });

  it('no server on the port: exit 1 with "connection refused", quickly', async () => {
    const port = await freePort();
    const exit = await startCli(['listen', 'anything'], { env: { ...env, PUSHER_PORT: String(port) } }).exited(8000);
    expect(exit.code).toBe(1);
    expect(exit.ms).toBeLessThan(5000);
    expect(exit.stderr).toContain(`Could not reach the WebSocket server at ws://127.0.0.1:${port}: connection refused`);
  });

  it.each([
    [['listen', 'a,bad name'], env, /Invalid channel name "bad name"/],
    [['listen', 'orders', '--user', '5'], env, /--user and --user-info apply to presence channels only/],
    [['listen', 'presence-r', '--user', '5', '--user-info', '[1]'], env, /--user-info must be a JSON object/],
    [['listen', 'private-encrypted-v'], server.env, /is encrypted, but connection "pusher" has no encryptionMasterKeyBase64/],
    [['listen', 'orders'], {}, /uses the log driver, which has no server to listen to/],
    [['listen', 'orders', '--count', '0'], env, /--count must be a whole number >= 1/],
  ] as const)('bad usage %j exits 2', async (args, runEnv, message) => {
    const r = await runCli([...args], { env: { ...runEnv } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});

/**
 * `broadcast webhook:send` against real Node HTTP servers running the library's webhook handler, and
 * `broadcast webhook:listen` receiving what webhook:send posts: statuses, records, exit codes, bad input.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createWebhookHandler } from '../../src/webhook/handler.js';
import type { PusherWebhookEvent } from '../../src/webhook/verify.js';
import { runCli } from '../helpers/cli.js';
import { afterAll, beforeAll, describe, expect, test } from '../helpers/fixtures.js';
import { runMain } from '../helpers/main.js';
import { expectSchema, jsonOf } from '../helpers/schema.js';
import { freePort } from '../helpers/soketi.js';

const masterKey = randomBytes(32).toString('base64');
const env = { PUSHER_APP_ID: '1', PUSHER_APP_KEY: 'app-key', PUSHER_APP_SECRET: 'webhook-send-secret', PUSHER_ENCRYPTION_MASTER_KEY_BASE64: masterKey };
const app = { key: env.PUSHER_APP_KEY, secret: env.PUSHER_APP_SECRET, encryptionMasterKeyBase64: masterKey };

const servers: Server[] = [];
async function endpoint(secret: string, received: PusherWebhookEvent[]): Promise<string> {
  const handler = createWebhookHandler({ apps: { ...app, secret }, onEvent: (event) => void received.push(event) });
  const server = createServer((req, res) => void handler(req, res));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`;
}
afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** Resolves once something answers HTTP on the port. */
async function answering(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/`);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`nothing answered on port ${port}`);
}

describe('broadcast webhook:send', () => {
  const received: PusherWebhookEvent[] = [];
  let good: string;
  let otherSecret: string;
  beforeAll(async () => {
    good = await endpoint(app.secret, received);
    otherSecret = await endpoint('not-the-same-secret', []);
  });

  test('posts a signed sample the library accepts (exit 0, JSON schema)', async () => {
    received.length = 0;
    const r = await runMain(['webhook:send', good, '--event', 'channel_occupied', '--channel', 'orders', '--json'], { env });
    expect(r.code).toBe(0);
    const out = jsonOf('webhook:send', r.stdout);
    expect(out).toMatchObject({ ok: true, url: good, connection: 'pusher', status: 200, response: '{"ok":true,"events":1}', webhook: { events: [{ name: 'channel_occupied', channel: 'orders' }] } });
    expect(Math.abs(out.webhook.time_ms - Date.now())).toBeLessThan(10_000);
    expect(received).toEqual([{ name: 'channel_occupied', channel: 'orders' }]);
  });

  test('every kind, with its fields; an encrypted client event arrives decrypted', async () => {
    received.length = 0;
    const sends = [
      ['--event', 'member_added', '--channel', 'presence-room', '--user-id', '42'],
      ['--event', 'member_removed', '--channel', 'presence-room', '--user-id', '42'],
      ['--event', 'channel_vacated', '--channel', 'orders'],
      ['--event', 'cache_miss', '--channel', 'cache-prices'],
      ['--event', 'subscription_count', '--channel', 'orders', '--subscription-count', '3'],
      ['--event', 'client_event', '--channel', 'presence-chat', '--client-event', 'client-typing', '--data', '{"on":true}', '--socket-id', '1.2', '--user-id', '9'],
      ['--event', 'client_event', '--channel', 'private-encrypted-vault', '--data', '{"pin":1234}'],
    ];
    for (const args of sends) {
      const r = await runMain(['webhook:send', good, ...args], { env });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^✓ \S+ \S+ → http:\/\/127\.0\.0\.1:\d+\/webhooks: HTTP 200\n$/);
    }
    expect(received).toEqual([
      { name: 'member_added', channel: 'presence-room', userId: '42' },
      { name: 'member_removed', channel: 'presence-room', userId: '42' },
      { name: 'channel_vacated', channel: 'orders' },
      { name: 'cache_miss', channel: 'cache-prices' },
      { name: 'subscription_count', channel: 'orders', subscriptionCount: 3 },
      { name: 'client_event', channel: 'presence-chat', event: 'client-typing', data: '{"on":true}', socketId: '1.2', userId: '9', encrypted: false, decrypted: false },
      expect.objectContaining({ name: 'client_event', channel: 'private-encrypted-vault', event: 'client-test', data: '{"pin":1234}', encrypted: true, decrypted: true }),
    ]);
  });

  test('an endpoint checking another secret answers 401: exit 1, code delivery, with its status (built binary)', async () => {
    const r = await runCli(['webhook:send', otherSecret, '--event', 'channel_occupied', '--channel', 'orders', '--json'], { env });
    expect(r.code).toBe(1);
    const out = jsonOf('webhook:send', r.stdout);
    expect(out).toMatchObject({ ok: false, status: 401, error: { code: 'delivery', exitCode: 1 } });
    expect(out.error.message).toContain('The endpoint answered HTTP 401');
    expect(out.error.hint).toContain('app key app-key');
    expect(r.stdout + r.stderr).not.toContain(env.PUSHER_APP_SECRET);
  });

  test('nothing listening: exit 1, no status', async () => {
    const r = await runMain(['webhook:send', `http://127.0.0.1:${await freePort()}/hook`, '--event', 'cache_miss', '--channel', 'cache-a', '--json'], { env });
    expect(r.code).toBe(1);
    const out = jsonOf('webhook:send', r.stdout);
    expect(out.status).toBeUndefined();
    expect(out.error).toMatchObject({ code: 'delivery', message: expect.stringContaining('connection refused') });
  });

  test.for([
    [['--event', 'bogus', '--channel', 'a'], 'usage', /Unknown webhook --event "bogus"/],
    [['--event', 'channel_occupied', '--channel', 'a', '--user-id', '1'], 'usage', /--user-id does not apply to channel_occupied webhooks/],
    [['--event', 'member_added', '--channel', 'presence-a'], 'usage', /member_added needs --user-id/],
    [['--event', 'member_added', '--channel', 'private-a', '--user-id', '1'], 'usage', /member_added webhooks are for presence channels/],
    [['--event', 'client_event', '--channel', 'public'], 'usage', /Client events are sent on private and presence channels only/],
    [['--event', 'client_event', '--channel', 'private-a', '--client-event', 'typing'], 'usage', /--client-event must start with "client-"/],
    [['--event', 'client_event', '--channel', 'private-a', '--data', '{bad'], 'usage', /Invalid JSON in --data/],
    [['--event', 'channel_occupied', '--channel', 'bad name'], 'invalid', /Invalid channel name "bad name"/],
    [['--event', 'channel_occupied'], 'usage', /required option '--channel <name>' not specified/],
  ] as const)('bad input %j exits 2', async ([args, code, message]) => {
    const r = await runMain(['webhook:send', 'http://127.0.0.1:9/hook', ...args, '--json'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(jsonOf('webhook:send', r.stdout)).toMatchObject({ ok: false, error: { code, exitCode: 2 } });
  });

  test('an encrypted client event without a master key, or no secret at all, is a config error (exit 2)', async () => {
    const noKey = await runMain(['webhook:send', 'http://127.0.0.1:9/hook', '--event', 'client_event', '--channel', 'private-encrypted-a', '--json'], { env: { ...env, PUSHER_ENCRYPTION_MASTER_KEY_BASE64: '' } });
    expect(noKey.code).toBe(2);
    expect(jsonOf('webhook:send', noKey.stdout).error).toMatchObject({ code: 'config' });
    const log = await runMain(['webhook:send', 'http://127.0.0.1:9/hook', '--event', 'cache_miss', '--channel', 'cache-a'], { env: {} });
    expect(log.code).toBe(2);
    expect(log.stderr).toContain('uses the log driver');
  });
});

describe('broadcast webhook:listen', () => {
  test('verifies what webhook:send posts: a bad signature is a rejected record, a good one an event; ends at --count', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/webhooks/pusher`;
    const listening = runMain(['webhook:listen', '--port', String(port), '--count', '1', '--duration', '20s', '--json'], { env });
    await answering(port);
    const forged = await runMain(['webhook:send', url, '--event', 'channel_occupied', '--channel', 'forged'], { env: { ...env, PUSHER_APP_SECRET: 'attacker' } });
    expect(forged.code).toBe(1);
    expect(forged.stderr).toContain('HTTP 401');
    const sent = await runMain(['webhook:send', url, '--event', 'member_added', '--channel', 'presence-room', '--user-id', '42'], { env });
    expect(sent.code).toBe(0);

    const r = await listening;
    expect(r.code).toBe(0);
    const records = r.stdout.trim().split('\n').map((line) => JSON.parse(line));
    for (const record of records) expectSchema('webhook:listen', record);
    expect(records.map((rec) => rec.type)).toEqual(['listening', 'rejected', 'event', 'result']);
    expect(records[1]).toMatchObject({ status: 401, reason: 'signature-mismatch' });
    expect(records[2]).toMatchObject({ name: 'member_added', channel: 'presence-room', userId: '42', key: 'app-key' });
    expect(records[3]).toEqual({ type: 'result', ok: true, status: 'done', url, events: 1, rejected: 1 });
  });

  test('--duration before --count: exit 1, not_received', async () => {
    const r = await runMain(['webhook:listen', '--port', '0', '--count', '2', '--duration', '300ms', '--json'], { env });
    expect(r.code).toBe(1);
    const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expectSchema('webhook:listen', last);
    expect(last).toMatchObject({ type: 'result', ok: false, events: 0, error: { code: 'not_received', message: 'Received 0 of 2 events within 300ms' } });
  });

  test('a stop signal ends it with exit 130; a port in use is exit 2', async () => {
    const stop = new AbortController();
    const port = await freePort();
    const running = runMain(['webhook:listen', '--port', String(port), '--json'], { env, signal: stop.signal });
    await answering(port);
    const busy = await runMain(['webhook:listen', '--port', String(port), '--json'], { env });
    expect(busy.code).toBe(2);
    expect(busy.stderr).toContain(`Port ${port} is in use`);
    expect(jsonOf('webhook:listen', busy.stdout)).toMatchObject({ ok: false, error: { code: 'usage' } });
    stop.abort('SIGINT');
    const r = await running;
    expect(r.code).toBe(130);
    expectSchema('webhook:listen', JSON.parse(r.stdout.trim().split('\n').at(-1)!));
  });

  test('for a person: the URL to configure, one line per event (built binary)', async () => {
    const port = await freePort();
    const spawned = runCli(['webhook:listen', '--port', String(port), '--duration', '3s'], { env });
    await answering(port);
    await runMain(['webhook:send', `http://127.0.0.1:${port}/webhooks/pusher`, '--event', 'channel_occupied', '--channel', 'orders'], { env });
    const r = await spawned;
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`Listening for webhooks of app key app-key (connection "pusher") on http://127.0.0.1:${port}/webhooks/pusher`);
    expect(r.stdout).toMatch(/^\d\d:\d\d:\d\d\.\d{3}  channel_occupied  orders\n$/);
    expect(r.stderr).toContain('Duration reached after 1 event');
  });

  test('bad input exits 2: a log connection has no secret; a bad --path', async () => {
    const log = await runMain(['webhook:listen', '--port', '0', '--json'], { env: {} });
    expect(log.code).toBe(2);
    expect(jsonOf('webhook:listen', log.stdout).error).toMatchObject({ code: 'config' });
    const path = await runMain(['webhook:listen', '--path', 'no-slash', '--json'], { env });
    expect(path.code).toBe(2);
    expect(path.stderr).toContain('webhook path "no-slash"');
  });
});

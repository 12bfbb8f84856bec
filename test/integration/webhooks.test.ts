/**
 * Webhooks end to end: a soketi configured to send webhooks (SOKETI_DEFAULT_APP_WEBHOOKS) to
 * `broadcast webhook:listen` and to the library's two handlers (node:http and fetch). A real pusher-js client
 * subscribes (channel_occupied), joins a presence channel (member_added) and sends a client event on an
 * encrypted channel (client_event, decrypted with the master key).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RunResult } from '../helpers/cli.js';
import { createFetchWebhookHandler, createWebhookHandler } from '../../src/webhook/handler.js';
import type { PusherWebhookEvent } from '../../src/webhook/verify.js';
import { encryptPayload } from '../../src/webhook/crypto.js';
import { afterAll, beforeAll, describe, expect, test, uid } from '../helpers/fixtures.js';
import { listen, type Listener } from '../helpers/listener.js';
import { runMain } from '../helpers/main.js';
import { expectSchema } from '../helpers/schema.js';
import { freePort, startSoketi, type SoketiServer } from '../helpers/soketi.js';

const id = uid();
const room = `presence-room-${id}`;
const vault = `private-encrypted-vault-${id}`;
const masterKey = randomBytes(32).toString('base64');
const EVENT_TYPES = ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'client_event'];

let soketi: SoketiServer;
const servers: Server[] = [];
const nodeEvents: PusherWebhookEvent[] = [];
const fetchEvents: PusherWebhookEvent[] = [];
let listenPort: number;
let listening: Promise<RunResult>;
let client: Listener;

async function serve(listener: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(listener!);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Resolves once something answers HTTP on the port (webhook:listen is up). */
async function answering(port: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await fetch(`http://127.0.0.1:${port}/`);
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`nothing answered on port ${port} within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  // The app's two endpoints, each verifying with the app's key, secret and master key.
  const app = { key: 'app-key', secret: 'app-secret-for-tests', encryptionMasterKeyBase64: masterKey };
  const nodeHandler = createWebhookHandler({ apps: app, path: '/webhooks/pusher', onEvent: (event) => void nodeEvents.push(event) });
  const nodeUrl = `${await serve((req, res) => void nodeHandler(req, res))}/webhooks/pusher`;
  const fetchHandler = createFetchWebhookHandler({ apps: app, onEvent: (event) => void fetchEvents.push(event) });
  const fetchUrl = `${await serve(async (req, res) => {
    // A minimal bridge from node:http to Request/Response, as a fetch-based runtime provides.
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const response = await fetchHandler(new Request(`http://local${req.url}`, { method: req.method, headers: req.headers as Record<string, string>, body: Buffer.concat(chunks) }));
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  })}/hooks`;
  listenPort = await freePort();
  const webhooks = [nodeUrl, fetchUrl, `http://127.0.0.1:${listenPort}/webhooks/pusher`].map((url) => ({ url, event_types: EVENT_TYPES }));
  soketi = await startSoketi({ env: { SOKETI_DEFAULT_APP_WEBHOOKS: JSON.stringify(webhooks) } });
  expect(soketi.key).toBe(app.key);
  expect(soketi.secret).toBe(app.secret);

  listening = runMain(['webhook:listen', '--port', String(listenPort), '--count', '4', '--duration', '30s', '--json'], {
    env: { ...soketi.env, PUSHER_ENCRYPTION_MASTER_KEY_BASE64: masterKey },
  });
  await answering(listenPort);

  client = await listen(soketi, { user: { id: 7, info: { name: 'Ada' } }, masterKey });
  await client.subscribe(room);
  await client.subscribe(vault);
  // pusher-js refuses client events on encrypted channels; the data is encrypted here as a client would.
  client.client.send_event('client-secret', encryptPayload(vault, masterKey, '{"pin":1234}'), vault);
}, 60_000);

afterAll(async () => {
  client?.disconnect();
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await soketi?.stop();
});

const expected: PusherWebhookEvent[] = [
  { name: 'channel_occupied', channel: room },
  { name: 'member_added', channel: room, userId: '7' },
  { name: 'channel_occupied', channel: vault },
  { name: 'client_event', channel: vault, event: 'client-secret', data: '{"pin":1234}', socketId: expect.stringMatching(/^\d+\.\d+$/) as never, encrypted: true, decrypted: true },
];

describe('soketi webhooks to the library and to webhook:listen', () => {
  test('webhook:listen prints each event as an NDJSON record, verified and decrypted, and ends at --count', async () => {
    const r = await listening;
    expect(r.code, r.stderr).toBe(0);
    const records = r.stdout.trim().split('\n').map((line) => JSON.parse(line));
    for (const record of records) expectSchema('webhook:listen', record);
    expect(records[0]).toEqual({ type: 'listening', url: `http://127.0.0.1:${listenPort}/webhooks/pusher`, connection: 'pusher', key: 'app-key' });
    const events = records.filter((rec) => rec.type === 'event');
    expect(events.map(({ type: _t, key: _k, sentAt: _s, receivedAt: _r, ...event }) => event)).toEqual(expect.arrayContaining(expected));
    expect(events).toHaveLength(4);
    expect(records.at(-1)).toEqual({ type: 'result', ok: true, status: 'done', url: `http://127.0.0.1:${listenPort}/webhooks/pusher`, events: 4, rejected: 0 });
  });

  test('createWebhookHandler and createFetchWebhookHandler get the same typed events', async () => {
    await until(() => nodeEvents.length >= 4 && fetchEvents.length >= 4, 'four webhook events at each handler');
    expect(nodeEvents).toEqual(expect.arrayContaining(expected));
    expect(fetchEvents).toEqual(expect.arrayContaining(expected));
  });

  test('leaving produces member_removed and channel_vacated', async () => {
    client.client.unsubscribe(room);
    await until(() => nodeEvents.some((e) => e.name === 'channel_vacated' && e.channel === room), 'channel_vacated');
    expect(nodeEvents).toContainEqual({ name: 'member_removed', channel: room, userId: '7' });
  });
});

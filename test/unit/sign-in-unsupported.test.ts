/**
 * A server without user sign-in: Laravel Reverb answers `pusher:signin`, an event it does not know, with
 * `pusher:error` 4200 "Invalid message format" and keeps the connection (laravel/reverb,
 * src/Protocols/Pusher/Server.php and EventHandler.php). Reverb is PHP and does not run here, so this server
 * speaks just enough of the Pusher protocol to answer as it does; delivery itself is tested against soketi.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createSubscriber } from '../../src/subscriber.js';
import type { PusherConnection } from '../../src/config/schema.js';

let server: WebSocketServer;
let connection: PusherConnection;

beforeAll(async () => {
  server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  server.on('connection', (socket) => {
    const send = (event: string, data: unknown) => socket.send(JSON.stringify({ event, data: JSON.stringify(data) }));
    send('pusher:connection_established', { socket_id: '1234.5678', activity_timeout: 30 });
    socket.on('message', (raw) => {
      const { event } = JSON.parse(String(raw)) as { event: string };
      if (event === 'pusher:ping') socket.send(JSON.stringify({ event: 'pusher:pong', data: {} }));
      else if (event === 'pusher:signin') send('pusher:error', { code: 4200, message: 'Invalid message format' });
    });
  });
  const { port } = server.address() as AddressInfo;
  connection = { driver: 'pusher', appId: '1', key: 'reverb-key', secret: 'reverb-secret', host: '127.0.0.1', port, scheme: 'http' };
});

afterAll(async () => {
  for (const client of server.clients) client.terminate();
  await new Promise((resolve) => server.close(resolve));
});

it('signing in on a server that does not support it fails at once, saying so, instead of waiting', async () => {
  const started = performance.now();
  const error = await createSubscriber(connection, { user: { id: '7' }, signIn: true, subscribeTimeoutMs: 10_000, connectionName: 'reverb' }).then(
    () => undefined,
    (e: Error & { hint?: string }) => e,
  );
  expect(performance.now() - started).toBeLessThan(3000);
  expect(error?.message).toBe('The server does not support signing in: it answered pusher:signin with error 4200 ("Invalid message format")');
  expect(error?.hint).toContain('Laravel Reverb does not');
});

it('without signing in, the same server is an ordinary connection', async () => {
  const subscriber = await createSubscriber(connection, { connectTimeoutMs: 5000 });
  expect(subscriber.socketId).toBe('1234.5678');
  subscriber.disconnect();
});

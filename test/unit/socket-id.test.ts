/**
 * socketIdFrom (the sender's socket id, for "send to others") and echoEventName (Laravel Echo's event names).
 */
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { socketIdFrom } from '../../src/auth/socket-id.js';
import { Broadcast } from '../../src/core/broadcast.js';
import { echoEventName } from '../../src/core/echo.js';
import { UsageError, ValidationError } from '../../src/core/errors.js';

/** What socketIdFrom makes of a real Node request carrying these raw headers. */
async function fromNodeRequest(rawHeaders: string[]): Promise<string | undefined> {
  const server = createServer((req, res) => res.end(JSON.stringify({ socketId: socketIdFrom(req) ?? null })));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const body = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/', headers: ['Host', `127.0.0.1:${port}`, ...rawHeaders] }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end();
    });
    return (JSON.parse(body) as { socketId: string | null }).socketId ?? undefined;
  } finally {
    server.close();
  }
}

describe('socketIdFrom', () => {
  it('reads X-Socket-ID from a Node request, a Fetch Request, Headers, an Express-style request and a plain object', async () => {
    expect(await fromNodeRequest(['X-Socket-Id', '123.456'])).toBe('123.456');
    expect(socketIdFrom(new Request('http://app/orders', { headers: { 'X-Socket-ID': '1.2' } }))).toBe('1.2');
    expect(socketIdFrom(new Headers({ 'x-socket-id': ' 3.4 ' }))).toBe('3.4');
    expect(socketIdFrom({ headers: { 'x-socket-id': '5.6' }, get: () => 'ignored' })).toBe('5.6');
    expect(socketIdFrom({ 'X-Socket-ID': '7.8', Accept: 'application/json' })).toBe('7.8');
    expect(socketIdFrom({ 'x-socket-id': ['9.10'] })).toBe('9.10');
  });

  it('is undefined when the header is absent, repeated or not a socket id, so a send never fails on it', async () => {
    expect(await fromNodeRequest([])).toBeUndefined();
    expect(await fromNodeRequest(['X-Socket-ID', '1.2', 'X-Socket-ID', '3.4'])).toBeUndefined();
    expect(await fromNodeRequest(['X-Socket-ID', '1.2x'])).toBeUndefined();
    for (const source of [
      new Request('http://app', { headers: { 'x-socket-id': 'abc' } }),
      new Headers({ 'x-socket-id': '1.2; drop table' }),
      { 'x-socket-id': ['1.2', '3.4'] },
      { 'x-socket-id': 12 },
      { headers: 'x-socket-id: 1.2' },
      {},
      null,
      undefined,
    ]) {
      expect(socketIdFrom(source as never)).toBeUndefined();
    }
  });

  it('drops into broadcast.channel(): the socket id goes with the event, or nothing when there is none', async () => {
    const broadcast = new Broadcast({}, { env: { BROADCAST_CONNECTION: 'null' } });
    const planned = await broadcast.prepare('orders', 'order.shipped', {}, { socketId: socketIdFrom(new Headers({ 'x-socket-id': '11.22' })) });
    expect(planned.socketId).toBe('11.22');
    expect((await broadcast.prepare('orders', 'order.shipped', {}, { socketId: socketIdFrom({}) })).socketId).toBeUndefined();
  });
});

describe("Echo's event names", () => {
  it('are formatted as Echo formats a listener\'s name', () => {
    expect(echoEventName('OrderShipped')).toBe('App\\Events\\OrderShipped');
    expect(echoEventName('Orders.Shipped')).toBe('App\\Events\\Orders\\Shipped');
    expect(echoEventName('OrderShipped', 'Domain.Orders.Events')).toBe('Domain\\Orders\\Events\\OrderShipped');
    expect(echoEventName('.order.shipped')).toBe('order.shipped');
    expect(echoEventName('\\App\\Other\\Thing')).toBe('App\\Other\\Thing');
  });

  it('the echoNamespace option applies them to what channel() and prepare() send, and is checked up front', async () => {
    const env = { BROADCAST_CONNECTION: 'null' };
    const echo = new Broadcast({}, { env, echoNamespace: 'App.Events' });
    expect((await echo.prepare('orders', 'OrderShipped', {})).event).toBe('App\\Events\\OrderShipped');
    expect((await echo.channel('orders', '.order.shipped', {})).event).toBe('order.shipped');
    expect((await new Broadcast({}, { env }).prepare('orders', 'OrderShipped', {})).event).toBe('OrderShipped');
    await expect(echo.prepare('orders', '.', {})).rejects.toThrow(ValidationError);
    for (const bad of ['', 'App\\', 'App Events', '.Events', 42]) {
      expect(() => new Broadcast({}, { env, echoNamespace: bad as string })).toThrow(UsageError);
    }
  });
});

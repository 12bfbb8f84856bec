/**
 * Hostile and broken input against the auth route: a few hundred malformed requests (wrong methods and
 * content types, truncated and oversized bodies, invalid socket ids and channel names, arrays where strings
 * belong). None may get a 5xx, crash the process or wedge the server; a valid request still works after.
 */
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthHandler, type AuthErrorInfo } from '../../src/auth/handler.js';
import { signChannel } from '../../src/auth/sign.js';
import { Broadcast } from '../../src/core/broadcast.js';

const env = { PUSHER_APP_ID: '1', PUSHER_APP_KEY: 'app-key', PUSHER_APP_SECRET: 'bad-input-secret' };
const ROUTE = '/broadcasting/authorize';

interface Case {
  name: string;
  method?: string;
  contentType?: string;
  body?: string | Buffer;
  user?: boolean;
}

const socketIds: unknown[] = ['', '1', '1.', '.1', '1.2.3', 'a.b', '-1.2', '1.2\n', ' 1.2', '1.2 ', '1e3.2', '１.２', '0x1.2', '1,2', 'null', '1.2;DROP', '9'.repeat(300)];
const channelNames: unknown[] = [
  '', 'private-', 'presence-', 'orders', 'private-a b', 'private-ä', 'private-<script>', 'private-a\u0000', 'private-%00', 'private-a/b',
  `private-${'x'.repeat(160)}`, `presence-${'x'.repeat(200)}`, 'private-a\nb', 'PRIVATE-a', '#server-to-user-1', 'private-encrypted-',
];
const wrongTypes: unknown[] = [['1.2'], ['1.2', '3.4'], { a: 1 }, 12.5, 0, null, true, false, [], {}];

function cases(): Case[] {
  const out: Case[] = [];
  const json = (name: string, value: unknown, user = true) => out.push({ name, contentType: 'application/json', body: JSON.stringify(value), user });
  const formCase = (name: string, body: string, user = true) => out.push({ name, contentType: 'application/x-www-form-urlencoded', body, user });
  for (const method of ['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD']) {
    out.push({ name: `${method} with a body`, method, contentType: 'application/x-www-form-urlencoded', body: method === 'GET' || method === 'HEAD' ? undefined : 'socket_id=1.2&channel_name=private-a' });
    out.push({ name: `${method} bare`, method });
  }
  for (const contentType of ['text/plain', 'multipart/form-data; boundary=x', 'application/xml', 'text/html', 'application/octet-stream', 'application/x-www-form-urlencodedX', 'json', '*/*', ';;;', 'application/json\u00ff']) {
    out.push({ name: `content type ${contentType}`, contentType, body: 'socket_id=1.2&channel_name=private-a' });
  }
  out.push({ name: 'no content type with a body', body: '{"socket_id":"1.2","channel_name":"private-a"}' });
  out.push({ name: 'no content type, no body' });
  for (const contentType of ['text/plain', 'application/xml', 'multipart/form-data', 'application/x-www-form-urlencoded', 'application/json']) {
    for (const method of ['PUT', 'PATCH', 'DELETE']) {
      out.push({ name: `${method} ${contentType}`, method, contentType, body: '{"socket_id":"1.2","channel_name":"private-a"}' });
    }
  }
  for (const id of socketIds) {
    json(`socket id ${JSON.stringify(id)} (json, presence)`, { socket_id: id, channel_name: 'presence-a' });
    json(`socket id ${JSON.stringify(id)} (json, anonymous)`, { socket_id: id, channel_name: 'private-a' }, false);
    json(`socket id ${JSON.stringify(id)} (json)`, { socket_id: id, channel_name: 'private-a' });
    formCase(`socket id ${JSON.stringify(id)} (form)`, new URLSearchParams({ socket_id: String(id), channel_name: 'private-a' }).toString());
  }
  for (const name of channelNames) {
    json(`channel ${JSON.stringify(name)} (json)`, { socket_id: '1.2', channel_name: name });
    formCase(`channel ${JSON.stringify(name)} (form)`, new URLSearchParams({ socket_id: '1.2', channel_name: String(name) }).toString());
    json(`channel ${JSON.stringify(name)} anonymous`, { socket_id: '1.2', channel_name: name }, false);
  }
  for (const value of wrongTypes) {
    json(`socket_id ${JSON.stringify(value)}`, { socket_id: value, channel_name: 'private-a' });
    json(`channel_name ${JSON.stringify(value)}`, { socket_id: '1.2', channel_name: value });
    json(`whole body ${JSON.stringify(value)}`, value);
  }
  formCase('repeated socket_id', 'socket_id=1.2&socket_id=1.2&channel_name=private-a');
  formCase('repeated channel_name', 'socket_id=1.2&channel_name=private-a&channel_name=private-b');
  formCase('php-style array', 'socket_id[]=1.2&channel_name[]=private-a');
  formCase('bad percent-encoding', 'socket_id=%E0%A4%A&channel_name=%ZZprivate-a');
  formCase('only separators', '&&&===&');
  formCase('truncated form', 'socket_id=1.2&channel_na');
  out.push({ name: 'invalid UTF-8 (form)', contentType: 'application/x-www-form-urlencoded', body: Buffer.from([0x73, 0x6f, 0x63, 0xff, 0xfe, 0x3d, 0xc3]) });
  out.push({ name: 'invalid UTF-8 (json)', contentType: 'application/json', body: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]) });
  for (const text of ['{', '{"socket_id":"1.2","channel_name":"private-a"', 'nul', '"', '{"a":1}}', '\u0000', '[[[[[[[[[[', '{"__proto__":{"socket_id":"1.2","channel_name":"private-a"}}', '{"constructor":{"prototype":{"x":1}}}', '[]'.repeat(2000)]) {
    out.push({ name: `json ${JSON.stringify(text.slice(0, 30))}`, contentType: 'application/json', body: text });
  }
  out.push({ name: 'deeply nested json', contentType: 'application/json', body: '['.repeat(4000) + ']'.repeat(4000) });
  for (const size of [8193, 20_000, 200_000, 2_000_000]) {
    formCase(`oversized form ${size}`, `socket_id=1.2&channel_name=private-a&pad=${'x'.repeat(size)}`);
    json(`oversized json ${size}`, { socket_id: '1.2', channel_name: 'private-a', pad: 'x'.repeat(size) });
  }
  return out;
}

/** Raw bytes on a socket: the status code of the response, or null when the server closed without one. */
function raw(port: number, request: string | Buffer, options: { end?: boolean; waitMs?: number } = {}): Promise<number | null> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    const done = (status: number | null) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(status);
    };
    const timer = setTimeout(() => done(null), options.waitMs ?? 1500);
    socket.on('data', (d: Buffer) => {
      data += d.toString('latin1');
      const match = /^HTTP\/1\.1 (\d{3})/.exec(data);
      if (match) done(Number(match[1]));
    });
    socket.on('error', () => done(null));
    socket.on('close', () => done(null));
    socket.write(request);
    if (options.end) socket.end();
  });
}

describe('the auth route under malformed input', () => {
  const problems: AuthErrorInfo[] = [];
  let url: string;
  let port: number;
  let close: () => Promise<void>;
  let serverErrors = 0;
  beforeAll(async () => {
    const broadcast = new Broadcast({ channels: { '{x}': () => true, 'a.{x}': () => true } }, { env });
    const handler = createAuthHandler(broadcast, {
      user: (req: IncomingMessage) => (req.headers['x-user'] ? { id: 1 } : null),
      onError: (_error, info) => problems.push(info),
    });
    const server = createServer((req, res) => void handler(req, res));
    server.on('clientError', (_e, socket) => {
      serverErrors++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    url = `http://127.0.0.1:${port}${ROUTE}`;
    close = () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
  });
  afterAll(() => close());

  it('answers a few hundred malformed requests without a 5xx, always with a JSON error', async () => {
    const all = cases();
    expect(all.length).toBeGreaterThan(200);
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let next = 0;
    const worker = async () => {
      while (next < all.length) {
        const c = all[next++]!;
        const headers: Record<string, string> = {};
        if (c.contentType !== undefined) headers['content-type'] = c.contentType;
        if (c.user !== false) headers['x-user'] = '1';
        let status: number;
        let text: string;
        try {
          const res = await fetch(url, { method: c.method ?? 'POST', headers, body: c.body });
          status = res.status;
          text = await res.text();
        } catch (error) {
          // An oversized upload may be cut off after the 413 was sent; that is not a server failure.
          if (String(c.name).startsWith('oversized')) continue;
          failures.push(`${c.name}: request failed: ${(error as Error).message}`);
          continue;
        }
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status >= 500) failures.push(`${c.name}: HTTP ${status} ${text}`);
        if (status === 200) failures.push(`${c.name}: signed a malformed request: ${text}`);
        if (c.method !== 'HEAD' && status !== 200) {
          try {
            const body = JSON.parse(text);
            if (typeof body?.error?.code !== 'string') failures.push(`${c.name}: no error code in ${text}`);
          } catch {
            failures.push(`${c.name}: not JSON: ${text.slice(0, 80)}`);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: 12 }, worker));
    expect(failures).toEqual([]);
    // The expected mix: mostly 400s, plus 403 (anonymous), 405, 413 and 415.
    for (const status of [400, 403, 405, 413, 415]) expect(statuses.get(status) ?? 0, `HTTP ${status}`).toBeGreaterThan(0);
    expect(problems.filter((p) => p.kind === 'internal')).toEqual([]);
  });

  it('survives truncated, stalled and garbage requests on raw sockets', async () => {
    const head = (length: number | string, extra = '') =>
      `POST ${ROUTE} HTTP/1.1\r\nHost: x\r\nx-user: 1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${length}\r\n${extra}\r\n`;
    const results = await Promise.all([
      // Declares more body than it sends, then half-closes or stalls and disconnects.
      raw(port, head(100) + 'socket_id=1.2', { end: true }),
      raw(port, head(100) + 'socket_id=1.2', { waitMs: 300 }),
      raw(port, head(50_000) + 'x'.repeat(100), { waitMs: 300 }),
      // Chunked bodies: oversized, and cut off mid-chunk.
      raw(port, `POST ${ROUTE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${'2000\r\n' + 'x'.repeat(0x2000) + '\r\n'}${'10\r\n' + 'y'.repeat(16) + '\r\n'}0\r\n\r\n`),
      raw(port, `POST ${ROUTE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nff\r\n{"socket_id"`, { end: true }),
      // Nonsense the HTTP parser refuses before the handler runs.
      raw(port, head('-1') + 'x', { end: true }),
      raw(port, head('99999999999999999999999') + 'x', { end: true }),
      raw(port, 'NOT HTTP AT ALL\r\n\r\n', { end: true }),
      raw(port, Buffer.from([0, 1, 2, 255, 254, 13, 10, 13, 10]), { end: true }),
      raw(port, `POST ${ROUTE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\nabc`),
    ]);
    for (const status of results) {
      if (status !== null) expect(status).toBeLessThan(500);
    }
    expect(results.at(-1)).toBe(400);
    expect(results[3]).toBe(413);
    expect(problems.filter((p) => p.kind === 'internal')).toEqual([]);
  });

  it('lets a client still uploading an oversized body read the 413, then ends the connection cleanly', async () => {
    // Declared and chunked: the 413 comes after the first 64 KB; the client then sends the rest. Closing at
    // once (what Node does after a `Connection: close` answer) would reset the connection under its writes.
    const declared = (size: number) => `POST ${ROUTE} HTTP/1.1\r\nHost: x\r\nx-user: 1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${size}\r\n\r\n`;
    const chunked = `POST ${ROUTE} HTTP/1.1\r\nHost: x\r\nx-user: 1\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n`;
    const chunk = (n: number) => Buffer.concat([Buffer.from(`${n.toString(16)}\r\n`), Buffer.alloc(n, 'x'), Buffer.from('\r\n')]);
    const uploads = [
      { head: declared(600_000), first: Buffer.alloc(65_536, 'x'), rest: [Buffer.alloc(300_000, 'x'), Buffer.alloc(600_000 - 365_536, 'x')] },
      { head: chunked, first: chunk(65_536), rest: [chunk(300_000), Buffer.concat([chunk(200_000), Buffer.from('0\r\n\r\n')])] },
    ];
    const results = await Promise.all(
      uploads.map(
        ({ head, first, rest }) =>
          new Promise<{ status: number | null; connection: string | null; error: string | null; ended: boolean }>((resolve) => {
            const socket = connect(port, '127.0.0.1');
            let data = '';
            let error: string | null = null;
            let ended = false;
            let sentRest = false;
            socket.on('data', (d: Buffer) => {
              data += d.toString('latin1');
              if (!sentRest && data.includes('\r\n\r\n')) {
                sentRest = true;
                for (const part of rest) socket.write(part);
              }
            });
            socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
            socket.on('end', () => (ended = true));
            socket.on('close', () => {
              clearTimeout(timer);
              resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1]) || null, connection: /\r\nconnection: (\S+)/i.exec(data)?.[1] ?? null, error, ended });
            });
            const timer = setTimeout(() => socket.destroy(), 5000);
            socket.write(head);
            socket.write(first);
          }),
      ),
    );
    for (const result of results) expect(result).toEqual({ status: 413, connection: 'close', error: null, ended: true });
  });

  it('stops reading an endless oversized upload and closes it within a few seconds', async () => {
    const started = Date.now();
    const result = await new Promise<{ status: number | null; written: number; ms: number }>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let data = '';
      let written = 0;
      let closedAt = 0;
      const block = Buffer.alloc(256 * 1024, 'x');
      const pump = () => {
        while (!socket.destroyed && written < 500e6) {
          written += block.length;
          if (!socket.write(block)) return void socket.once('drain', pump);
        }
      };
      socket.on('data', (d: Buffer) => (data += d.toString('latin1')));
      socket.on('error', () => {});
      socket.on('close', () => {
        clearTimeout(timer);
        closedAt ||= Date.now();
        resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1]) || null, written, ms: closedAt - started });
      });
      const timer = setTimeout(() => socket.destroy(), 8000);
      socket.write(`POST ${ROUTE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500000000\r\n\r\n`);
      pump();
    });
    expect(result.status).toBe(413);
    // The handler discards at most 1 MB and lingers at most 2 s: the client got a few MB into socket
    // buffers, not the hundreds it would have pushed through a server that kept reading.
    expect(result.written).toBeLessThan(32e6);
    expect(result.ms).toBeGreaterThan(1500);
    expect(result.ms).toBeLessThan(5000);
  });

  it('lets go promptly of a request whose client disconnects mid-body, long before the body timeout', async () => {
    const settled: number[] = [];
    const reported: AuthErrorInfo[] = [];
    const handler = createAuthHandler(new Broadcast({}, { env }), { user: () => ({ id: 1 }), bodyTimeoutMs: 5000, onError: (_e, info) => reported.push(info) });
    const started = Date.now();
    const server = createServer((req, res) => void handler(req, res).then(() => settled.push(Date.now() - started)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port: own } = server.address() as AddressInfo;
      const sockets = Array.from({ length: 5 }, () => {
        const socket = connect(own, '127.0.0.1');
        socket.on('error', () => {});
        socket.write(`POST ${ROUTE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"socket_id":`);
        return socket;
      });
      await new Promise((r) => setTimeout(r, 100));
      for (const socket of sockets) socket.destroy();
      for (let i = 0; i < 40 && settled.length < 5; i++) await new Promise((r) => setTimeout(r, 50));
      // Within one sweep of the deadline timer (a tenth of bodyTimeoutMs), not after the 5 s timeout.
      expect(settled).toHaveLength(5);
      expect(Math.max(...settled)).toBeLessThan(1500);
      expect(reported).toEqual([]);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('still answers a valid request, and many at once, afterwards', async () => {
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-user': '1' },
          body: `socket_id=${i}.${i + 1}&channel_name=private-a.${i}`,
        }).then(async (r) => ({ status: r.status, body: await r.json() })),
      ),
    );
    responses.forEach((r, i) => {
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ auth: signChannel({ key: env.PUSHER_APP_KEY, secret: env.PUSHER_APP_SECRET }, `${i}.${i + 1}`, `private-a.${i}`) });
    });
    expect(serverErrors).toBeGreaterThan(0); // the garbage above did reach the server (and was refused by Node's parser)
  });
});

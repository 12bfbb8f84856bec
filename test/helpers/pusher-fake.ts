/**
 * A stand-in for Pusher Channels' HTTP API where a real one cannot be run: it checks requests as Pusher does
 * (the timestamp within 600 s of its own clock, the HMAC over `METHOD\npath\nsorted query`) and refuses them
 * with Pusher's own words; it answers `info` on triggers and channel queries from functions the test gives.
 * Used only for what soketi does not do (it checks no timestamp, explains no signature, ignores `info`).
 * Also: a proxy that adds a path prefix, as a misconfigured reverse proxy does.
 */
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { faultServer, type FaultServer } from './fault-server.js';

export interface PusherFakeOptions {
  /** The app's secret (default: the fault server's, which its `env` uses). */
  secret?: string;
  /** How far the fake's clock is ahead of this machine's, in seconds (a stale timestamp, seen from the server). */
  clockAheadS?: number;
  /** The `channels` answer to a trigger with `info` (Pusher's `{"channels": {name: {user_count, …}}}`). */
  triggerInfo?: (channels: string[], info: string) => Record<string, Record<string, unknown>>;
  /** The answer to `GET /channels/<name>` (default: not occupied). */
  channel?: (name: string, info: string | undefined) => Record<string, unknown>;
  /** The `Date` header's moment (default: the fake's clock). */
  dateHeader?: () => Date;
}

/** Seconds since 1970 as Pusher writes them in its timestamp error: `2013-09-29T08:46:33Z`. */
const iso = (seconds: number) => new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

export async function pusherFake(options: PusherFakeOptions = {}): Promise<FaultServer> {
  let secret = options.secret;
  const server = await faultServer((n, req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const serverNow = Math.floor(Date.now() / 1000) + (options.clockAheadS ?? 0);
    res.setHeader('date', (options.dateHeader?.() ?? new Date(serverNow * 1000)).toUTCString());
    const path = url.pathname;
    if (!path.includes('/apps/')) return void res.writeHead(200, { 'content-type': 'text/plain' }).end('OK');
    const given = Number(url.searchParams.get('auth_timestamp'));
    const text = (status: number, body: string) => void res.writeHead(status, { 'content-type': 'text/plain' }).end(body);
    if (!(Math.abs(given - serverNow) <= 600)) {
      return text(401, `Timestamp expired: Given timestamp (${iso(given)}) not within 600s of server time (${iso(serverNow)})\n`);
    }
    const query = [...url.searchParams.entries()]
      .filter(([name]) => name !== 'auth_signature')
      .map(([name, value]) => [name.toLowerCase(), value] as const)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, value]) => `${name}=${value}`)
      .join('&');
    const signed = `${req.method}\n${path}\n${query}`;
    const sent = url.searchParams.get('auth_signature') ?? '';
    if (createHmac('sha256', secret!).update(signed).digest('hex') !== sent) {
      // Ruby's String#inspect, which Pusher's message uses, escapes as JSON does for these characters.
      return text(401, `Invalid signature: you should have sent HmacSHA256Hex(${JSON.stringify(signed)}, your_secret_key), but you sent "${sent}"\n`);
    }
    const body = server.requests[n - 1]!.body;
    if (body && url.searchParams.get('body_md5') !== createHash('md5').update(body).digest('hex')) return text(401, 'Invalid body_md5\n');
    const json = (value: unknown) => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    if (path.endsWith('/events')) {
      const event = JSON.parse(body) as { channels: string[]; info?: string };
      return json(event.info ? { channels: options.triggerInfo?.(event.channels, event.info) ?? {} } : {});
    }
    if (path.endsWith('/batch_events')) {
      const { batch } = JSON.parse(body) as { batch: { channel: string; info?: string }[] };
      if (!batch.some((e) => e.info)) return json({});
      return json({ batch: batch.map((e) => (e.info ? (options.triggerInfo?.([e.channel], e.info)[e.channel] ?? {}) : {})) });
    }
    const channel = /\/channels\/([^/]+)$/.exec(path);
    if (channel) return json(options.channel?.(decodeURIComponent(channel[1]!), url.searchParams.get('info') ?? undefined) ?? { occupied: false });
    return json({ channels: {} });
  });
  secret ??= server.env.PUSHER_APP_SECRET;
  return server;
}

/**
 * A reverse proxy in front of `target` that forwards every request with `prefix` added to its path (what an
 * nginx `proxy_pass http://upstream/prefix/` does): the server then signs a path the client never sent.
 */
export async function prefixProxy(target: number, prefix: string): Promise<{ port: number; close(): Promise<void> }> {
  const proxy = http.createServer((req, res) => {
    const upstream = http.request({ host: '127.0.0.1', port: target, method: req.method, path: prefix + req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    port: (proxy.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        proxy.closeAllConnections();
        proxy.close(() => resolve());
      }),
  };
}

/** A test file's fakes and proxies, all closed after its tests: `const fake = pusherFakes(afterAll)`, then `await fake.server(…)`. */
export function pusherFakes(after: (fn: () => Promise<void>) => void) {
  const open: { close(): Promise<void> }[] = [];
  after(async () => {
    await Promise.all(open.map((s) => s.close()));
  });
  const keep = <T extends { close(): Promise<void> }>(s: T): T => (open.push(s), s);
  return {
    server: async (options?: PusherFakeOptions) => keep(await pusherFake(options)),
    proxy: async (target: number, prefix: string) => keep(await prefixProxy(target, prefix)),
  };
}

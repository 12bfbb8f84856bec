/**
 * The console's HTTP server: the page's static files (console/ in the package), a JSON API, and the live
 * updates as server-sent events. Every request passes access.ts's checks first (token, Host, Origin); every
 * answer is sent with headers that keep the page to itself (no framing, no referrer, scripts from itself
 * only) and with the connection's secrets scrubbed from it, whatever the data.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import path from 'node:path';
import { UsageError } from '../../core/errors.js';
import { packageRoot } from '../../core/package-root.js';
import { allowedHosts, hostPort, isWildcard, refusal, TOKEN_HEADER } from './access.js';
import type { ConsoleApp } from './app.js';

/** The page's files, shipped in the package's console/ folder. */
export const staticDir = (): string => path.join(packageRoot(), 'console');
const FILES = { 'index.html': 'text/html', 'console.css': 'text/css', 'console.js': 'text/javascript' } as const;

const KNOWN_PATHS = new Set(['/', '/index.html', '/console.css', '/console.js', '/api/state', '/api/stream', '/api/members', '/api/checks', '/api/check', '/api/sign', '/api/send']);

/** Largest request body accepted: the composer's data is limited to the connection's payload limit anyway. */
const MAX_BODY_BYTES = 1024 * 1024;
/** Updates are gathered and sent to each page at most this often, as one message. */
const FLUSH_MS = 50;
/** A page that reads slower than events arrive: above this much unsent output its events are dropped (and counted). */
const MAX_BACKLOG_BYTES = 2 * 1024 * 1024;
/** A comment line keeps idle streams open through proxies and tells a page the server is alive. */
const PING_MS = 15_000;

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};

/** One update for the pages: a follower record, the checks, or the state. */
export interface Update {
  type: string;
}

export interface ConsoleServerOptions {
  app: ConsoleApp;
  host: string;
  port: number;
  token: string;
  readOnly: boolean;
  /** Values never to send to a page (the app secret, the master key). */
  secrets: string[];
  /** The page asked for the checks to run again. */
  onRerunChecks: () => void;
}

export interface ConsoleServer {
  /** The port bound (the one asked for, or the one the system picked for 0). */
  port: number;
  /** The page's address, token included. */
  url: string;
  /** Requests answered (refused ones included). */
  requests(): number;
  /** Sends an update to every open page. */
  publish(update: Update): void;
  close(): Promise<void>;
}

interface Client {
  res: ServerResponse;
  dropped: number;
}

/** Starts the server; rejects with a UsageError when the address cannot be bound. */
export async function startConsoleServer(options: ConsoleServerOptions): Promise<ConsoleServer> {
  const { app, token } = options;
  const files = await loadFiles(token);
  const scrub = (text: string) => options.secrets.reduce((out, secret) => (secret.length >= 4 ? out.split(secret).join('[redacted]') : out), text);
  const clients = new Set<Client>();
  let queue: Update[] = [];
  let flushTimer: NodeJS.Timeout | undefined;
  let served = 0;
  let hosts = new Set<string>();

  const send = (res: ServerResponse, status: number, type: string, body: string) => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': `${type}; charset=utf-8` });
    res.end(scrub(body));
  };
  const json = (res: ServerResponse, status: number, value: unknown) => send(res, status, 'application/json', JSON.stringify(value));

  const flush = () => {
    flushTimer = undefined;
    const batch = queue;
    queue = [];
    if (batch.length === 0) return;
    const text = scrub(JSON.stringify(batch));
    const light = batch.some((u) => u.type === 'event') ? scrub(JSON.stringify(batch.filter((u) => u.type !== 'event'))) : text;
    const dropped = batch.filter((u) => u.type === 'event').length;
    for (const client of clients) {
      // A page that cannot keep up loses events, never the state around them.
      if (client.res.writableLength > MAX_BACKLOG_BYTES) {
        client.dropped += dropped;
        if (light !== text) client.res.write(`data: ${light}\n\n`);
        continue;
      }
      if (client.dropped > 0) {
        client.res.write(`data: ${JSON.stringify([{ type: 'dropped', count: client.dropped }])}\n\n`);
        client.dropped = 0;
      }
      client.res.write(`data: ${text}\n\n`);
    }
  };

  const stream = (res: ServerResponse) => {
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' });
    const client: Client = { res, dropped: 0 };
    clients.add(client);
    res.write(`retry: 2000\n\ndata: ${scrub(JSON.stringify([app.state()]))}\n\n`);
    res.on('close', () => clients.delete(client));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    served++;
    const url = new URL(req.url ?? '/', 'http://console.invalid');
    const origin = req.headers.origin;
    const denied = refusal(
      { host: req.headers.host, origin, token: (req.headers[TOKEN_HEADER] as string | undefined) ?? url.searchParams.get('token') },
      { token, hosts },
    );
    if (denied) return json(res, 403, { ok: false, error: { code: 'forbidden', message: `Refused: ${denied}` } });
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case 'GET /':
      case 'GET /index.html':
        return send(res, 200, FILES['index.html'], files['index.html']);
      case 'GET /console.css':
      case 'GET /console.js': {
        const name = url.pathname.slice(1) as keyof typeof FILES;
        return send(res, 200, FILES[name], files[name]);
      }
      case 'GET /api/state':
        return json(res, 200, app.state());
      case 'GET /api/stream':
        return stream(res);
      case 'GET /api/members':
        return json(res, 200, await app.members(url.searchParams.get('channel') ?? ''));
      case 'POST /api/checks':
        options.onRerunChecks();
        return json(res, 202, { ok: true });
      case 'POST /api/check':
        return json(res, 200, await app.check(await readJson(req)));
      case 'POST /api/sign':
        return json(res, 200, app.sign(await readJson(req)));
      case 'POST /api/send': {
        if (options.readOnly) return json(res, 403, { ok: false, error: { code: 'read_only', message: 'This console is read-only (--read-only): it does not send events' } });
        const answer = await app.send(await readJson(req));
        return json(res, answer.ok ? 200 : answer.error.code === 'delivery' || answer.error.code === 'partial_delivery' ? 502 : 400, answer);
      }
      default:
        return KNOWN_PATHS.has(url.pathname)
          ? json(res, 405, { ok: false, error: { code: 'method_not_allowed', message: `${req.method} is not allowed on ${url.pathname}` } })
          : json(res, 404, { ok: false, error: { code: 'not_found', message: `Nothing at ${url.pathname}` } });
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const status = (error as { status?: number }).status ?? 500;
      if (!res.headersSent) json(res, status, { ok: false, error: { code: status === 500 ? 'internal' : 'bad_request', message: (error as Error).message } });
      else res.destroy();
    });
  });
  const ping = setInterval(() => {
    for (const client of clients) client.res.write(': ping\n\n');
  }, PING_MS);
  ping.unref();

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const why = error.code === 'EADDRINUSE' ? 'the port is in use' : error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND' ? 'no such address on this machine' : error.message;
      reject(new UsageError(`Cannot listen on ${hostPort(options.host, options.port)}: ${why}`, { hint: 'Choose another --port (0 picks a free one) or --host' }));
    });
    server.listen(options.port, options.host, () => resolve((server.address() as { port: number }).port));
  });
  hosts = allowedHosts(options.host, port);
  const shown = isWildcard(options.host) ? '127.0.0.1' : options.host;

  return {
    port,
    url: `http://${hostPort(shown, port)}/?token=${token}`,
    requests: () => served,
    publish(update) {
      if (clients.size === 0) return;
      queue.push(update);
      flushTimer ??= setTimeout(flush, FLUSH_MS);
    },
    close() {
      clearInterval(ping);
      clearTimeout(flushTimer);
      for (const client of clients) client.res.end();
      clients.clear();
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** The page's files, read once; the page links its script and style sheet with the token. */
async function loadFiles(token: string): Promise<Record<keyof typeof FILES, string>> {
  const read = (name: string) => readFile(path.join(staticDir(), name), 'utf8');
  const [html, css, js] = await Promise.all([read('index.html'), read('console.css'), read('console.js')]);
  return { 'index.html': html.replaceAll('{{token}}', token), 'console.css': css, 'console.js': js };
}

/** A JSON request body (at most 1 MB, a JSON object); errors carry the HTTP status to answer with. */
async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('application/json')) throw Object.assign(new Error('Send JSON (Content-Type: application/json)'), { status: 415 });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw Object.assign(new Error('The request body is larger than 1 MB'), { status: 413 });
    chunks.push(chunk as Buffer);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw Object.assign(new Error('The request body is not JSON'), { status: 400 });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw Object.assign(new Error('The request body must be a JSON object'), { status: 400 });
  return value as Record<string, unknown>;
}

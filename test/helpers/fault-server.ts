/**
 * A tiny local HTTP server that misbehaves on purpose (429, 503, resets, silence), recording every
 * request it received so tests can count retries and check what was accepted.
 */
import http from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

export interface SeenRequest {
  method: string;
  path: string;
  body: string;
}

export interface FaultServer {
  port: number;
  /** Every request, in order of arrival (the body is read before the handler runs). */
  requests: SeenRequest[];
  /** Requests answered with a 2xx status. */
  accepted: SeenRequest[];
  /** PUSHER_* variables that point the CLI at this server. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/** `n` is the 1-based number of the request. A handler that neither answers nor destroys leaves it hanging. */
export type FaultHandler = (n: number, req: http.IncomingMessage, res: http.ServerResponse) => void;

export const CREDENTIALS = { appId: 'fault-app', key: 'fault-key', secret: 'fault-secret-0123456789' };

export async function faultServer(handler: FaultHandler, port = 0): Promise<FaultServer> {
  const requests: SeenRequest[] = [];
  const accepted: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      const seen = { method: req.method ?? '', path: (req.url ?? '').split('?')[0]!, body };
      requests.push(seen);
      res.once('finish', () => {
        if (res.statusCode >= 200 && res.statusCode < 300) accepted.push(seen);
      });
      handler(requests.length, req, res);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as net.AddressInfo).port;
  return {
    port: actual,
    requests,
    accepted,
    env: {
      PUSHER_APP_ID: CREDENTIALS.appId,
      PUSHER_APP_KEY: CREDENTIALS.key,
      PUSHER_APP_SECRET: CREDENTIALS.secret,
      PUSHER_HOST: '127.0.0.1',
      PUSHER_PORT: String(actual),
      PUSHER_SCHEME: 'http',
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A test file's fault servers, all closed after its tests: `const serve = faultServers(afterAll)`, then
 * `await serve(handler)` in each test.
 */
export function faultServers(after: (fn: () => Promise<void>) => void): (handler: FaultHandler, port?: number) => Promise<FaultServer> {
  const servers: FaultServer[] = [];
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });
  return async (handler, port) => {
    const server = await faultServer(handler, port);
    servers.push(server);
    return server;
  };
}

/** Answers 200 with `{}` like a Pusher server that accepted an event. */
export function ok(res: http.ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end('{}');
}

/** Answers 200 with an HTML page, as a proxy, a captive portal or a web server on the wrong port does. */
export function html(res: http.ServerResponse, page = '<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head><body>It works</body></html>'): void {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(page);
}

/**
 * Answers 200 and streams a body without end (64 KB chunks as fast as the client reads) until the client
 * goes away; resolves the returned promise with the bytes written by then.
 */
export function endless(res: http.ServerResponse, contentType = 'application/json'): Promise<number> {
  res.writeHead(200, { 'content-type': contentType });
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  res.write('{"padding":"');
  let written = 0;
  return new Promise((resolve) => {
    const pump = () => {
      while (!res.destroyed && res.write(chunk)) written += chunk.length;
      if (!res.destroyed) written += chunk.length;
    };
    res.on('drain', pump);
    res.once('close', () => resolve(written));
    pump();
  });
}

/**
 * A port whose listen queue is full and never drained: new connections are neither accepted nor refused,
 * so a client's connect hangs as it does towards a host that drops packets. Linux drops SYNs once the
 * accept queue (backlog + 1) is full; the listening process is blocked so it never accepts.
 */
export async function blackhole(): Promise<{ port: number; close(): Promise<void> }> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('net').createServer();
       s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
         process.stdout.write(s.address().port + '\\n');
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
       });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = Number(await new Promise<string>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()))));
  // Fill the accept queue until a connection no longer completes.
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 20; i++) {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    fillers.push(socket);
    const connected = await new Promise<boolean>((resolve) => {
      socket.once('connect', () => resolve(true));
      setTimeout(() => resolve(false), 300);
    });
    if (!connected) break;
    if (i === 19) throw new Error('blackhole(): the listen queue never filled up; connections are not dropped here');
  }
  return {
    port,
    close: async () => {
      for (const s of fillers) s.destroy();
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

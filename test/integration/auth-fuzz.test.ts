/**
 * Fuzzing the auth route: thousands of generated hostile requests, on raw sockets, against createAuthHandler
 * running in a child process (test/helpers/auth-fuzz-server.ts): random bytes, huge and truncated bodies,
 * deep JSON, invalid UTF-8, repeated and array-valued fields, odd content types and charsets, chunked
 * bodies, requests aborted mid-body, and slowloris connections trickling their body or headers meanwhile.
 * The route must never answer 5xx, never crash, stay within a memory bound, and still sign valid requests.
 *
 * The generator is seeded (AUTH_FUZZ_SEED=<n> to replay another run); a failure names the seed and case.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channelAuthBody } from '../../src/auth/sign.js';
import { ROOT, cleanEnv } from '../helpers/cli.js';

const SEED = Number(process.env.AUTH_FUZZ_SEED ?? 0x5eed);
const REQUESTS = 3000;
const CONCURRENCY = 24;
/** The child's body timeout: short, so slow bodies are cut off within the test's time. */
const BODY_TIMEOUT_MS = 1000;
const ROUTE = '/broadcasting/authorize';
const BIG_ROUTE = '/big/authorize';
const ENV = {
  PUSHER_APP_ID: '1',
  PUSHER_APP_KEY: 'fuzz-key',
  PUSHER_APP_SECRET: 'fuzz-secret-7f3a9c',
  PUSHER_ENCRYPTION_MASTER_KEY_BASE64: Buffer.alloc(32, 7).toString('base64'),
};
const CREDENTIALS = { key: ENV.PUSHER_APP_KEY, secret: ENV.PUSHER_APP_SECRET, encryptionMasterKeyBase64: ENV.PUSHER_ENCRYPTION_MASTER_KEY_BASE64 };

// ---------------------------------------------------------------------------------------------------------
// A small seeded PRNG (mulberry32) and helpers.

class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(this.next() * 256);
    return out;
  }
  /** Sizes spread evenly over orders of magnitude. */
  logSize(min: number, max: number): number {
    return Math.round(Math.exp(Math.log(min) + this.next() * (Math.log(max) - Math.log(min))));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Requests.

type Delivery =
  | { kind: 'whole' } // write everything, wait for the answer
  | { kind: 'half-close'; at: number } // write `at` bytes, then close our side
  | { kind: 'abort'; at: number } // write `at` bytes, then reset the connection
  | { kind: 'stall'; at: number }; // write `at` bytes, then wait: the body timeout must answer

interface FuzzRequest {
  id: number;
  category: string;
  bytes: Buffer;
  delivery: Delivery;
  /** A response must come (every complete request that reaches the handler, and stalled bodies). */
  mustAnswer: boolean;
  /** A well-formed subscription: must be signed, exactly. */
  valid?: { socketId: string; channel: string };
  /** Status it must get, when the category decides it. */
  expect?: number;
}

const FORM = 'application/x-www-form-urlencoded';
const GOOD_TYPES = [FORM, `${FORM}; charset=UTF-8`, `${FORM};charset=utf-8`, 'application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/vnd.api+json', ` ${FORM} `];
const ODD_TYPES = [
  `${FORM}; charset=utf-16`, `${FORM}; charset=iso-8859-1`, 'application/json; charset=utf-16le', 'application/json; charset="utf-8"; x=y',
  'text/plain', 'text/plain; charset=utf-8', 'multipart/form-data; boundary=----x', 'multipart/form-data', 'application/xml', 'text/html',
  'application/octet-stream', `${FORM}X`, 'json', '*/*', ';;;', ';charset=utf-8', '', ' ', 'application/', '/json', 'application/json+',
  `${FORM}, application/json`, `application/json; ${'a=b; '.repeat(200)}`, 'application/json\tx', 'app\u00e9lication/json',
];
const METHODS = ['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT', 'PROPFIND', 'post', 'Post', 'BREW'];
const PATHS = [
  '/', '/broadcasting', `${ROUTE}/`, `${ROUTE}?socket_id=1.2`, `${ROUTE}#x`, `/${ROUTE}`, `${ROUTE}%00`, `${ROUTE}/..`, '/BROADCASTING/AUTHORIZE',
  `http://evil.example${ROUTE}`, '*', `${ROUTE}?${'a'.repeat(4000)}`, '/%ff%fe', `${ROUTE};x`,
];
const INVALID_UTF8 = [[0xff], [0xfe, 0xff], [0xc3], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0x80], [0x00]].map((b) => Buffer.from(b));

function socketIdFor(rng: Rng): string {
  return `${rng.int(1, 2_000_000_000)}.${rng.int(1, 2_000_000_000)}`;
}

function channelFor(rng: Rng): string {
  return `${rng.pick(['private-', 'presence-', 'private-encrypted-'])}fuzz.${rng.int(0, 9999)}`;
}

function formBody(fields: [string, string][]): string {
  return fields.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

function head(method: string, target: string, headers: [string, string | number][]): string {
  return `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}

/** A complete request with a correct Content-Length. */
function request(body: Buffer | string, contentType: string | undefined, options: { user?: boolean; method?: string; target?: string } = {}): Buffer {
  const payload = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  const headers: [string, string | number][] = [['Content-Length', payload.length]];
  if (contentType !== undefined) headers.push(['Content-Type', contentType]);
  if (options.user !== false) headers.push(['X-User', '1']);
  return Buffer.concat([Buffer.from(head(options.method ?? 'POST', options.target ?? ROUTE, headers), 'latin1'), payload]);
}

/** A random JSON value, up to `depth` levels, favouring hostile shapes. */
function randomJson(rng: Rng, depth: number): unknown {
  const roll = rng.int(0, depth > 0 ? 9 : 5);
  switch (roll) {
    case 0: return null;
    case 1: return rng.pick([true, false, 0, -0, 1e308, -1, 2 ** 53 + 1, 0.1, 123456789.987]);
    case 2: return rng.pick(['', '1.2', 'private-a', '\u0000', '\ud800', '\u202e', 'x'.repeat(rng.int(1, 3000)), socketIdFor(rng), channelFor(rng)]);
    case 3: return socketIdFor(rng);
    case 4: return channelFor(rng);
    case 5: return rng.bytes(rng.int(0, 40)).toString('latin1');
    case 6:
    case 7:
      return Array.from({ length: rng.int(0, 4) }, () => randomJson(rng, depth - 1));
    default: {
      const out: Record<string, unknown> = {};
      for (let i = rng.int(0, 5); i > 0; i--) {
        out[rng.pick(['socket_id', 'channel_name', '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'auth', 'x'])] = randomJson(rng, depth - 1);
      }
      return out;
    }
  }
}

function generate(rng: Rng, id: number): FuzzRequest {
  const base = (category: string, bytes: Buffer, extra: Partial<FuzzRequest> = {}): FuzzRequest => ({
    id, category, bytes, delivery: { kind: 'whole' }, mustAnswer: true, ...extra,
  });
  const socketId = socketIdFor(rng);
  const channel = channelFor(rng);
  const roll = rng.int(0, 99);

  if (roll < 10) {
    // Well-formed subscriptions, mixed in throughout: they must be signed exactly.
    const type = rng.pick(GOOD_TYPES);
    const body = type.toLowerCase().includes('json')
      ? JSON.stringify({ socket_id: socketId, channel_name: channel, ...(rng.chance(0.3) ? { extra: randomJson(rng, 2) } : {}) })
      : formBody([['socket_id', socketId], ['channel_name', channel], ...(rng.chance(0.3) ? [['x', 'y'] as [string, string]] : [])]);
    return base('valid', request(body, type), { valid: { socketId, channel }, expect: 200 });
  }
  if (roll < 17) {
    // Random bytes: sometimes the whole request, sometimes after a plausible request line.
    const prefix = rng.chance(0.5) ? `POST ${ROUTE} HTTP/1.1\r\n` : '';
    return base('garbage', Buffer.concat([Buffer.from(prefix), rng.bytes(rng.logSize(1, 5000))]), { delivery: { kind: 'half-close', at: Infinity }, mustAnswer: false });
  }
  if (roll < 28) {
    // A valid head and random bytes as the body, under any content type.
    const type = rng.pick([...GOOD_TYPES, ...ODD_TYPES, undefined]);
    return base('random-body', request(rng.bytes(rng.logSize(1, 6000)), type));
  }
  if (roll < 43) {
    // A form body, mutated: repeated and array-valued fields, invalid UTF-8 and percent-escapes, truncation.
    const fields: [string, string][] = [['socket_id', socketId], ['channel_name', channel]];
    let body = Buffer.from(formBody(fields));
    const mutations = rng.int(1, 3);
    let repeated = false;
    for (let n = mutations; n > 0; n--) {
      const mutation = rng.int(0, 9);
      // A repeated field alone must be refused (later mutations may cut it off again).
      repeated = mutations === 1 && mutation <= 1;
      switch (mutation) {
        case 0:
          body = Buffer.concat([body, Buffer.from(`&socket_id=${rng.chance(0.5) ? socketId : socketIdFor(rng)}`)]);
          break;
        case 1:
          body = Buffer.concat([body, Buffer.from(`&channel_name=${rng.chance(0.5) ? channel : channelFor(rng)}`)]);
          break;
        case 2:
          body = Buffer.from(body.toString('latin1').replace(rng.pick(['socket_id', 'channel_name']), (k) => rng.pick([`${k}[]`, `${k}[0]`, `${k}[a]`, `${k}%5B%5D`])), 'latin1');
          break;
        case 3: {
          const at = rng.int(0, body.length);
          body = Buffer.concat([body.subarray(0, at), rng.pick(INVALID_UTF8), body.subarray(at)]);
          break;
        }
        case 4: {
          const at = rng.int(0, body.length);
          body = Buffer.concat([body.subarray(0, at), Buffer.from(rng.pick(['%', '%f', '%ff', '%zz', '%C0%AF', '%ED%A0%80', '%00', '+', '&', '=', ';'])), body.subarray(at)]);
          break;
        }
        case 5:
          body = body.subarray(0, rng.int(0, body.length));
          break;
        case 6:
          body = Buffer.concat([body, Buffer.from(`&pad=${'x'.repeat(rng.logSize(10, 20_000))}`)]);
          break;
        case 7:
          body = Buffer.concat([Buffer.from('&'.repeat(rng.int(1, 2000))), body]);
          break;
        case 8:
          body = Buffer.from(body.toString('latin1').replace(/=/, rng.pick(['==', '', '=\u0000', '=%20'])), 'latin1');
          break;
        default:
          body = Buffer.concat([body, Buffer.from(`&${'k'.repeat(rng.int(1, 50))}=${'v'.repeat(rng.int(0, 50))}`.repeat(rng.int(1, 200)))]);
      }
    }
    return base('mutated-form', request(body, rng.pick([FORM, `${FORM}; charset=UTF-8`])), repeated ? { expect: 400 } : {});
  }
  if (roll < 56) {
    // JSON of hostile shapes: wrong types, prototype keys, huge numbers, lone surrogates, raw invalid bytes.
    let text = JSON.stringify(rng.chance(0.5) ? { socket_id: randomJson(rng, 3), channel_name: randomJson(rng, 3) } : randomJson(rng, 5)) ?? 'null';
    if (rng.chance(0.2)) text = text.replace(/\d+(\.\d+)?/, rng.pick(['1e400', '-1e400', '123456789012345678901234567890', 'NaN', 'Infinity', '0x10']));
    let body = Buffer.from(text);
    if (rng.chance(0.2)) body = body.subarray(0, rng.int(0, body.length));
    if (rng.chance(0.15)) {
      const at = rng.int(0, body.length);
      body = Buffer.concat([body.subarray(0, at), rng.pick(INVALID_UTF8), body.subarray(at)]);
    }
    return base('mutated-json', request(body, rng.pick(['application/json', 'application/json; charset=utf-8', 'application/ld+json'])));
  }
  if (roll < 61) {
    // Deep nesting, up to 100k levels, sent to the route whose limit lets it reach JSON.parse.
    const depth = rng.logSize(100, 100_000);
    const open = rng.pick(['[', '{"a":', '{"socket_id":']);
    const close = open === '[' ? ']' : '}';
    const body = open.repeat(depth) + (open === '[' ? '' : '1') + (rng.chance(0.5) ? close.repeat(depth) : '');
    const target = rng.chance(0.7) ? BIG_ROUTE : ROUTE;
    return base('deep-json', request(body, 'application/json', { target }), { expect: target === ROUTE && body.length > 8192 ? 413 : 400 });
  }
  if (roll < 66) {
    // Huge bodies, declared (413 before reading) or chunked (413 once the limit is passed).
    const size = rng.logSize(8193, 3_000_000);
    if (rng.chance(0.5)) return base('huge', request(Buffer.alloc(size, 'a'), rng.pick([FORM, 'application/json'])), { expect: 413 });
    const chunk = Buffer.alloc(Math.min(size, 65_536), 'b');
    const parts: Buffer[] = [Buffer.from(head('POST', ROUTE, [['Transfer-Encoding', 'chunked'], ['Content-Type', FORM], ['X-User', '1']]), 'latin1')];
    for (let sent = 0; sent < size; sent += chunk.length) parts.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n'));
    parts.push(Buffer.from('0\r\n\r\n'));
    return base('huge-chunked', Buffer.concat(parts), { expect: 413 });
  }
  if (roll < 74) {
    // A valid subscription under an odd content type, method or path.
    const body = formBody([['socket_id', socketId], ['channel_name', channel]]);
    const what = rng.int(0, 2);
    if (what === 0) return base('content-type', request(body, rng.pick(ODD_TYPES)));
    if (what === 1) return base('method', request(body, FORM, { method: rng.pick(METHODS) }), { mustAnswer: false });
    return base('path', request(body, FORM, { target: rng.pick(PATHS) }));
  }
  if (roll < 80) {
    // Chunked bodies: valid, with extensions, with bad sizes, or cut short.
    const body = formBody([['socket_id', socketId], ['channel_name', channel]]);
    const variant = rng.int(0, 3);
    const chunks =
      variant === 0 ? `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n` :
      variant === 1 ? `${body.length.toString(16)};ext=1\r\n${body}\r\n0\r\nX-Trailer: 1\r\n\r\n` :
      variant === 2 ? `${rng.pick(['zz', '-1', 'ffffffffffffffff', '', ' 5'])}\r\n${body}\r\n0\r\n\r\n` :
      `${(body.length + 50).toString(16)}\r\n${body}`;
    const bytes = Buffer.concat([Buffer.from(head('POST', ROUTE, [['Transfer-Encoding', 'chunked'], ['Content-Type', FORM], ['X-User', '1']]), 'latin1'), Buffer.from(chunks)]);
    if (variant === 0 || variant === 1) return base('chunked', bytes, { valid: { socketId, channel }, expect: 200 });
    if (variant === 2) return base('chunked-bad', bytes, { mustAnswer: false });
    return base('chunked-short', bytes, { delivery: { kind: 'half-close', at: Infinity }, mustAnswer: false });
  }
  if (roll < 90) {
    // Content-Length larger than the body: the client then closes its side, or waits (the body timeout answers).
    const body = Buffer.from(formBody([['socket_id', socketId], ['channel_name', channel]]));
    const bytes = Buffer.concat([Buffer.from(head('POST', rng.chance(0.8) ? ROUTE : BIG_ROUTE, [['Content-Length', body.length + rng.int(1, 5000)], ['Content-Type', FORM], ['X-User', '1']]), 'latin1'), body]);
    if (rng.chance(0.1)) return base('stalled', bytes, { delivery: { kind: 'stall', at: bytes.length }, expect: 408 });
    return base('truncated', bytes, { delivery: { kind: 'half-close', at: rng.int(0, bytes.length) }, mustAnswer: false });
  }
  // Aborted mid-body: the connection is reset part way through.
  const body = rng.chance(0.5) ? Buffer.from(formBody([['socket_id', socketId], ['channel_name', channel]])) : Buffer.alloc(rng.logSize(100, 500_000), 'c');
  const bytes = request(body, rng.pick([FORM, 'application/json']));
  return base('aborted', bytes, { delivery: { kind: 'abort', at: rng.int(1, bytes.length - 1) }, mustAnswer: false });
}

// ---------------------------------------------------------------------------------------------------------
// A raw HTTP client.

interface Answer {
  status: number | null;
  body: string;
  /** Milliseconds from connecting to the response (or the end). */
  ms: number;
  closed: boolean;
}

/** Parses the first response in `data` once it is complete: status and body (by Content-Length). */
function parseResponse(data: Buffer): { status: number; body: string; complete: boolean } | undefined {
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const headText = data.subarray(0, end).toString('latin1');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(headText);
  if (!match) return undefined;
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(headText);
  const body = data.subarray(end + 4);
  const complete = length ? body.length >= Number(length[1]) : false;
  return { status: Number(match[1]), body: body.toString('utf8'), complete };
}

function exchange(port: number, req: FuzzRequest, waitMs = 5000): Promise<Answer> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket: Socket = connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let settled = false;
    const done = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const parsed = parseResponse(data);
      socket.destroy();
      resolve({ status: parsed?.status ?? null, body: parsed?.body ?? '', ms: Date.now() - started, closed });
    };
    const timer = setTimeout(() => done(false), waitMs);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      if (parseResponse(data)?.complete) done(false);
    });
    socket.on('error', () => done(true));
    socket.on('close', () => done(true));
    socket.on('connect', () => {
      const { delivery } = req;
      const at = delivery.kind === 'whole' ? req.bytes.length : Math.min(delivery.at, req.bytes.length);
      socket.write(req.bytes.subarray(0, at), () => {
        if (delivery.kind === 'half-close') socket.end();
        if (delivery.kind === 'abort') setTimeout(() => socket.resetAndDestroy(), 5);
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------------------

interface Stats {
  memory: NodeJS.MemoryUsage;
  statuses: Record<string, number>;
  handled: number;
  pending: number;
  problems: Record<string, number>;
}

describe('the auth route under a fuzz of hostile requests', () => {
  let child: ChildProcess;
  let port: number;
  let childStderr = '';
  const stats = async (): Promise<Stats> => (await fetch(`http://127.0.0.1:${port}/__stats`)).json() as Promise<Stats>;
  const alive = () => child.exitCode === null && child.signalCode === null;

  beforeAll(async () => {
    child = spawn(process.execPath, ['--expose-gc', '--import', 'jiti/register', path.join(ROOT, 'test/helpers/auth-fuzz-server.ts'), String(BODY_TIMEOUT_MS)], {
      cwd: ROOT,
      env: cleanEnv(ENV),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stderr!.on('data', (d: Buffer) => (childStderr = (childStderr + d.toString()).slice(-8000)));
    port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const line = /^\{.*\}$/m.exec(out);
        if (line) resolve((JSON.parse(line[0]) as { port: number }).port);
      });
      child.once('exit', (code) => reject(new Error(`the auth server exited with ${code}: ${childStderr}`)));
    });
  });

  afterAll(async () => {
    if (child && alive()) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  });

  const signedBody = (socketId: string, channel: string) =>
    channelAuthBody(CREDENTIALS, socketId, channel, channel.startsWith('presence-') ? JSON.stringify({ user_id: 1 }) : undefined);

  it(`answers ${REQUESTS} generated hostile requests (seed ${SEED}) with no 5xx and no crash, within a memory bound, while slowloris clients trickle`, async () => {
    const rng = new Rng(SEED);
    const valid = (n: number): FuzzRequest[] =>
      Array.from({ length: n }, (_, i) => {
        const socketId = socketIdFor(rng);
        const channel = channelFor(rng);
        return { id: -1 - i, category: 'warm-up', bytes: request(formBody([['socket_id', socketId], ['channel_name', channel]]), FORM), delivery: { kind: 'whole' }, mustAnswer: true, valid: { socketId, channel }, expect: 200 };
      });
    // Warm up (JIT, buffers, the first of each code path) so the baseline is not the empty process.
    for (const r of valid(300)) await exchange(port, r);
    const before = await stats();

    // Slowloris, alongside the fuzz: bodies trickled a byte at a time (cut off by the body timeout), headers
    // trickled forever (Node's headersTimeout, not the handler, owns those), and one slow but timely body.
    const slowBodies = Array.from({ length: 6 }, () => trickleBody(port, 150));
    const slowHeaders = Array.from({ length: 3 }, () => trickleHeaders(port, 200));
    const timely = (() => {
      const socketId = socketIdFor(rng);
      const channel = 'private-fuzz.timely';
      const bytes = request(formBody([['socket_id', socketId], ['channel_name', channel]]), FORM);
      return trickleRequest(port, bytes, 5, 100).then((answer) => ({ answer, socketId, channel }));
    })();

    const requests = Array.from({ length: REQUESTS }, (_, i) => generate(rng, i));
    const failures: string[] = [];
    const seen: Record<string, Record<string, number>> = {};
    let next = 0;
    const worker = async () => {
      while (next < requests.length) {
        const req = requests[next++]!;
        const answer = await exchange(port, req, req.delivery.kind === 'stall' ? BODY_TIMEOUT_MS + 4000 : 5000);
        const tally = (seen[req.category] ??= {});
        tally[answer.status ?? 'none'] = (tally[answer.status ?? 'none'] ?? 0) + 1;
        const where = `seed ${SEED} case ${req.id} (${req.category})`;
        if (answer.status !== null && answer.status >= 500) failures.push(`${where}: HTTP ${answer.status} ${answer.body.slice(0, 200)}`);
        if (answer.status === null && req.mustAnswer) failures.push(`${where}: no response (${answer.closed ? 'connection closed' : 'timed out'} after ${answer.ms} ms)`);
        if (req.expect !== undefined && answer.status !== null && answer.status !== req.expect) {
          failures.push(`${where}: HTTP ${answer.status}, expected ${req.expect}: ${answer.body.slice(0, 200)}`);
        }
        if (req.valid && answer.status === 200 && JSON.stringify(JSON.parse(answer.body)) !== JSON.stringify(signedBody(req.valid.socketId, req.valid.channel))) {
          failures.push(`${where}: wrong signature ${answer.body}`);
        }
        if (req.delivery.kind === 'stall' && answer.status === 408 && answer.ms > BODY_TIMEOUT_MS + 2000) failures.push(`${where}: 408 only after ${answer.ms} ms`);
        if (answer.status !== null && answer.status !== 200 && req.category !== 'garbage' && req.category !== 'chunked-bad' && req.category !== 'method') {
          // Every refusal from the handler is a JSON error with a code.
          try {
            const body = JSON.parse(answer.body) as { error?: { code?: unknown } };
            if (typeof body.error?.code !== 'string' && answer.body !== '') failures.push(`${where}: no error code in ${answer.body.slice(0, 200)}`);
          } catch {
            if (answer.status !== 400 || answer.body !== '') failures.push(`${where}: HTTP ${answer.status} body is not JSON: ${answer.body.slice(0, 100)}`);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));

    // The slow bodies were cut off with 408 after about the body timeout, and their connections closed.
    for (const slow of await Promise.all(slowBodies)) {
      expect(slow.status).toBe(408);
      expect(slow.ms).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 50);
      expect(slow.ms).toBeLessThan(BODY_TIMEOUT_MS + 2500);
      expect(slow.closedByServer).toBe(true);
    }
    const { answer: timelyAnswer, socketId, channel } = await timely;
    expect(timelyAnswer.status).toBe(200);
    expect(JSON.parse(timelyAnswer.body)).toEqual(signedBody(socketId, channel));

    expect(failures.slice(0, 20), JSON.stringify(seen)).toEqual([]);
    expect(alive(), childStderr).toBe(true);
    // The generator covered what it claims to (and the expected refusals happened).
    for (const category of ['valid', 'garbage', 'random-body', 'mutated-form', 'mutated-json', 'deep-json', 'huge', 'huge-chunked', 'content-type', 'path', 'chunked', 'stalled', 'truncated', 'aborted']) {
      expect(Object.values(seen[category] ?? {}).reduce((a, b) => a + b, 0), category).toBeGreaterThan(10);
    }
    expect(seen.valid?.['200']).toBe(Object.values(seen.valid!).reduce((a, b) => a + b, 0));

    // Header tricklers are still holding their connections: the server answered everything else meanwhile.
    for (const h of slowHeaders) h.stop();
    const afterSlow = await Promise.all(slowHeaders.map((h) => h.result));
    expect(afterSlow.every((h) => h.bytes > 10)).toBe(true);

    // Nothing is stuck in the handler, nothing was a 5xx or an internal error on the server's side either.
    let after = await stats();
    for (let i = 0; i < 40 && after.pending > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      after = await stats();
    }
    expect(after.pending).toBe(0);
    expect(after.problems.internal).toBe(0);
    expect(Object.keys(after.statuses).filter((s) => Number(s) >= 500)).toEqual([]);
    expect(after.handled - before.handled).toBeGreaterThan(REQUESTS * 0.8);

    // Bounded memory: after a full collection, the heap is within a few MB of the warmed-up baseline (the
    // bodies were gigabytes in total), and the process's resident size did not balloon.
    const heapGrowth = after.memory.heapUsed - before.memory.heapUsed;
    const rssGrowth = after.memory.rss - before.memory.rss;
    expect(heapGrowth, `heap grew by ${(heapGrowth / 1e6).toFixed(1)} MB`).toBeLessThan(16e6);
    expect(rssGrowth, `RSS grew by ${(rssGrowth / 1e6).toFixed(1)} MB`).toBeLessThan(100e6);
  });

  it('still signs valid requests afterwards, many at once', async () => {
    expect(alive(), childStderr).toBe(true);
    const rng = new Rng(SEED + 1);
    const cases = Array.from({ length: 50 }, () => ({ socketId: socketIdFor(rng), channel: channelFor(rng) }));
    const answers = await Promise.all(
      cases.map(async ({ socketId, channel }, i) => {
        const json = i % 2 === 0;
        const res = await fetch(`http://127.0.0.1:${port}${ROUTE}`, {
          method: 'POST',
          headers: { 'content-type': json ? 'application/json' : FORM, 'x-user': '1' },
          body: json ? JSON.stringify({ socket_id: socketId, channel_name: channel }) : formBody([['socket_id', socketId], ['channel_name', channel]]),
        });
        return { status: res.status, body: await res.json() };
      }),
    );
    answers.forEach((answer, i) => {
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual(signedBody(cases[i]!.socketId, cases[i]!.channel));
    });
  });
});

// ---------------------------------------------------------------------------------------------------------
// Slow clients.

/** Headers at once, then a declared 60-byte body one byte every `everyMs`, until the server answers or closes. */
function trickleBody(port: number, everyMs: number): Promise<Answer & { closedByServer: boolean }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let answeredAt = 0;
    const timer = setInterval(() => {
      if (!socket.destroyed) socket.write('a');
    }, everyMs);
    const finish = (closedByServer: boolean) => {
      clearInterval(timer);
      clearTimeout(limit);
      socket.destroy();
      const parsed = parseResponse(data);
      resolve({ status: parsed?.status ?? null, body: parsed?.body ?? '', ms: (answeredAt || Date.now()) - started, closed: true, closedByServer });
    };
    // Time allowed for the server to close the connection after answering.
    const limit = setTimeout(() => finish(false), BODY_TIMEOUT_MS + 4000);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      if (!answeredAt && parseResponse(data)) answeredAt = Date.now();
    });
    socket.on('close', () => finish(true));
    socket.on('error', () => {});
    socket.write(head('POST', ROUTE, [['Content-Length', 60], ['Content-Type', FORM], ['X-User', '1']]));
  });
}

/** Header bytes one every `everyMs`, never finishing the head, until stopped. */
function trickleHeaders(port: number, everyMs: number): { stop: () => void; result: Promise<{ bytes: number; closedByServer: boolean }> } {
  const socket = connect(port, '127.0.0.1');
  const text = `POST ${ROUTE} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${'a'.repeat(10_000)}`;
  let sent = 0;
  let closedByServer = false;
  let stopped = false;
  const timer = setInterval(() => {
    if (!socket.destroyed && sent < text.length) socket.write(text[sent++]!);
  }, everyMs);
  const result = new Promise<{ bytes: number; closedByServer: boolean }>((resolve) => {
    socket.on('close', () => {
      clearInterval(timer);
      closedByServer = !stopped;
      resolve({ bytes: sent, closedByServer });
    });
  });
  socket.on('error', () => {});
  return {
    stop: () => {
      stopped = true;
      socket.destroy();
    },
    result,
  };
}

/** A whole request in `pieces` parts, `gapMs` apart. */
function trickleRequest(port: number, bytes: Buffer, pieces: number, gapMs: number): Promise<Answer> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    const size = Math.ceil(bytes.length / pieces);
    let i = 0;
    const timer = setInterval(() => {
      socket.write(bytes.subarray(i * size, (i + 1) * size));
      if (++i >= pieces) clearInterval(timer);
    }, gapMs);
    const finish = () => {
      clearInterval(timer);
      socket.destroy();
      const parsed = parseResponse(data);
      resolve({ status: parsed?.status ?? null, body: parsed?.body ?? '', ms: Date.now() - started, closed: true });
    };
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      if (parseResponse(data)?.complete) finish();
    });
    socket.on('close', finish);
    socket.on('error', () => {});
  });
}

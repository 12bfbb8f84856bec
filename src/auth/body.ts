/**
 * Reading an auth request's body within limits (size and time), and answering without reading it: a body
 * refused early is discarded within bounds, so the client reads the answer instead of a connection reset.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { AuthorizeFailure } from './authorize.js';
import { responseHeaders, send } from './response.js';

/**
 * After refusing a body it has not read (413, or another refusal of a large or chunked body), the handler
 * sends the answer with `Connection: close` but keeps reading and discarding the rest of the body, up to
 * this many bytes and for at most DISCARD_MS, before the connection is closed. Closing a socket while the
 * client is still writing makes the kernel reset the connection, and a client busy writing then sees the
 * reset instead of the 413. Past the byte limit the handler stops reading (the client's writes wait) and
 * closes when the time is up, so an upload of any size costs at most this much reading.
 */
const DISCARD_BYTES = 1024 * 1024;
const DISCARD_MS = 2_000;

/** Why a body could not be read. */
export const TOO_LARGE = Symbol('too large');
export const TIMED_OUT = Symbol('timed out');
const ABORTED = Symbol('aborted');
export type BodyResult = string | typeof TOO_LARGE | typeof TIMED_OUT | typeof ABORTED;

/**
 * Reads at most `limit` bytes of the body as UTF-8 and calls `done` once: with the text, or why not. A body
 * that arrives in one chunk (nearly every subscription request) is decoded from that chunk, without copying.
 * A client that goes away mid-body is noticed by the deadline sweep (a `close` listener per request would
 * cost more than the rest of the reading).
 */
export function readBody(req: IncomingMessage, limit: number, deadlines: Deadlines, done: (result: BodyResult) => void): void {
  if (req.readableEnded) return done('');
  let first: Buffer | undefined;
  let more: Buffer[] | undefined;
  let size = 0;
  let finished = false;
  const finish = (result: BodyResult) => {
    if (finished) return;
    finished = true;
    deadlines.delete(deadline);
    first = more = undefined;
    done(result);
  };
  const deadline = deadlines.add(req, finish);
  // The listeners stay: after the answer the rest of the body keeps flowing (and is dropped), so the
  // socket is never left stalled.
  req.on('data', (chunk: Buffer | string) => {
    if (finished) return;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += bytes.length;
    if (size > limit) return finish(TOO_LARGE);
    if (first === undefined) first = bytes;
    else (more ??= [first]).push(bytes);
  });
  req.on('end', () => {
    if (finished) return;
    finish(more ? Buffer.concat(more, size).toString('utf8') : first ? first.toString('utf8') : '');
  });
}

interface Deadline {
  at: number;
  req: IncomingMessage;
  expire: (why: typeof TIMED_OUT | typeof ABORTED) => void;
  prev: Deadline | undefined;
  next: Deadline | undefined;
  linked: boolean;
}

/**
 * The bodies one handler is reading, watched by one shared timer instead of a timer and a `close` listener
 * per request: each sweep gives up on bodies past their deadline and on requests the client abandoned.
 * The list is in insertion order, which is also deadline order (every entry has the same timeout); adding
 * and removing an entry only relinks two neighbours. The timer runs only while bodies are being read, and
 * never keeps the process alive. It ticks every tenth of the timeout (10 ms to 1 s), so a deadline fires
 * up to one tick late and an abandoned request is let go within one tick. The clock is monotonic, so a
 * change of the system time moves no deadline.
 */
export class Deadlines {
  private head: Deadline | undefined;
  private tail: Deadline | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly every: number;

  constructor(private readonly timeoutMs: number) {
    this.every = Math.min(1000, Math.max(10, Math.ceil(timeoutMs / 10)));
  }

  add(req: IncomingMessage, expire: Deadline['expire']): Deadline {
    const deadline: Deadline = { at: performance.now() + this.timeoutMs, req, expire, prev: this.tail, next: undefined, linked: true };
    if (this.tail) this.tail.next = deadline;
    else this.head = deadline;
    this.tail = deadline;
    this.timer ??= setInterval(() => this.sweep(), this.every).unref();
    return deadline;
  }

  delete(deadline: Deadline): void {
    if (!deadline.linked) return;
    deadline.linked = false;
    if (deadline.prev) deadline.prev.next = deadline.next;
    else this.head = deadline.next;
    if (deadline.next) deadline.next.prev = deadline.prev;
    else this.tail = deadline.prev;
    deadline.prev = deadline.next = undefined;
  }

  private sweep(): void {
    const now = performance.now();
    for (let deadline = this.head; deadline; ) {
      const next = deadline.next;
      const late = deadline.at <= now;
      if (late || deadline.req.destroyed) {
        this.delete(deadline);
        deadline.expire(late ? TIMED_OUT : ABORTED);
        // Answering may have settled other requests too: start over if the next one left the list.
        if (next && !next.linked) {
          deadline = this.head;
          continue;
        }
      }
      deadline = next;
    }
    if (!this.head && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

/**
 * Answers before reading the body. A body that is absent or declared small is left to Node, which reads
 * and drops it and keeps the connection; a large or chunked one is discarded within bounds.
 */
export function answerBeforeBody(req: IncomingMessage, res: ServerResponse, result: AuthorizeFailure, limit: number, allow?: string): void {
  const headers = req.headers;
  const declared = headers['content-length'];
  const small = headers['transfer-encoding'] === undefined && (declared === undefined || Number(declared) <= limit);
  if (small) return send(res, result, allow);
  return answerThenDiscard(req, res, result, allow);
}

/**
 * Sends the whole answer with `Connection: close`, then keeps reading and discarding what the client is
 * still sending (at most DISCARD_BYTES, for at most DISCARD_MS) before the connection is closed, so the
 * client reads the answer instead of a connection reset (see DISCARD_BYTES).
 */
export function answerThenDiscard(req: IncomingMessage, res: ServerResponse, result: AuthorizeFailure, allow?: string): void {
  if (res.headersSent || res.writableEnded || res.destroyed) return;
  if (req.complete || req.readableEnded) return send(res, result, allow, true);
  const text = JSON.stringify(result.body);
  res.writeHead(result.status, responseHeaders(text, allow, true));
  // The body has its Content-Length: the client has the whole answer now. Ending the response is what
  // closes the connection, so that waits for the end of the upload or the limits.
  res.write(text);
  let discarded = 0;
  const close = () => {
    clearTimeout(timer);
    if (!res.writableEnded && !res.destroyed) res.end();
  };
  const timer = setTimeout(close, DISCARD_MS);
  req.on('data', (chunk: Buffer | string) => {
    discarded += chunk.length;
    // Stop reading: the client's writes wait, nothing is reset until the time is up.
    if (discarded > DISCARD_BYTES) req.pause();
  });
  req.on('end', close);
  req.on('close', close);
  req.resume();
}

/**
 * Bulk sending (what `broadcast emit --file` runs), as a library: a sender that batches, keeps per-channel
 * order and accounts for every event. The NDJSON input side is in ndjson.ts.
 *
 * Design of the sender (see "Bulk emit" in README.md):
 * - Every channel has a FIFO queue of its pending events. A channel is "busy" while a request containing it
 *   is in flight, and a request is only started for channels that are not busy, from the heads of their
 *   queues. So two requests that carry the same channel are never in flight together, and each channel's
 *   events reach the server in input order (a batch keeps its own order: servers apply it in sequence).
 * - A batch (at most 10 events) takes a run of events from one channel's queue and, when that channel has
 *   fewer than 10 ready, tops up from other ready channels; many channels therefore fill many requests.
 * - A line with several channels, or an encrypted channel, goes out as its own trigger. It sits in the queue
 *   of each of its channels and starts only when it is at the head of all of them and none is busy.
 * - Memory is bounded: the reader stops while `window` events are queued.
 * - Once a request for a channel fails, that channel's later events are not sent but written to the
 *   failed output, so a re-run of that output keeps every channel's order (the sent part is a prefix).
 * - When the server is clearly down (several consecutive connection failures, after the driver's own
 *   retries) or rejects the credentials, no further request starts and everything not sent goes straight
 *   to the failed output.
 */
import type { BatchEvent, Driver } from '../transport/types.js';
import { DeliveryError } from '../core/errors.js';
import { triggerGroups } from '../core/channels.js';
import { LIMITS } from '../core/validation.js';
import { formatEventLine, isBatchable, parseEventLine, type BulkEvent, type LineRules, type NdjsonLine } from './ndjson.js';


// ---------------------------------------------------------------------------------------------------------
// Scheduling

/** A unit of work the scheduler hands out: a batch request, one trigger, or events to write as failed. */
export type Job =
  | { kind: 'batch'; events: BulkEvent[]; channels: string[] }
  | { kind: 'trigger'; events: [BulkEvent]; channels: string[] }
  | { kind: 'fail'; events: BulkEvent[]; channels: string[] };

/** A queue with O(1) shift that compacts itself. */
class Queue<T> {
  private items: T[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  peek(): T | undefined {
    return this.items[this.head];
  }
  push(item: T): void {
    this.items.push(item);
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined as T;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

/**
 * Decides what to send next so that each channel's events go out in order and no two requests in flight
 * share a channel (see the design notes at the top of this file). Pure and synchronous.
 */
export class ChannelScheduler {
  private readonly queues = new Map<string, Queue<BulkEvent>>();
  private readonly busy = new Set<string>();
  private readonly poisoned = new Set<string>();
  /** Channels whose head may be ready, in the order they became so (round-robin across channels). */
  private readonly candidates = new Queue<string>();
  private readonly isCandidate = new Set<string>();
  private count = 0;
  /** When set, every event goes out as `fail`. */
  private failAll = false;

  constructor(readonly batchSize: number = LIMITS.eventsPerBatch) {
    if (!(batchSize >= 1 && batchSize <= LIMITS.eventsPerBatch)) throw new RangeError(`batchSize must be 1-${LIMITS.eventsPerBatch}`);
  }

  /** Events queued and not yet handed out. */
  get pending(): number {
    return this.count;
  }

  /** Channels with a request in flight. */
  get inFlightChannels(): ReadonlySet<string> {
    return this.busy;
  }

  push(event: BulkEvent): void {
    this.count++;
    for (const channel of event.channels) {
      let queue = this.queues.get(channel);
      if (!queue) {
        queue = new Queue();
        this.queues.set(channel, queue);
      }
      queue.push(event);
      if (queue.length === 1 && !this.busy.has(channel)) this.candidate(channel);
    }
  }

  /** From now on, events of these channels are handed out as `fail` (after what is already in flight). */
  poison(channels: Iterable<string>): void {
    for (const channel of channels) this.poisoned.add(channel);
  }

  /** Every remaining event is handed out as `fail`. */
  poisonAll(): void {
    this.failAll = true;
  }

  isPoisoned(channel: string): boolean {
    return this.failAll || this.poisoned.has(channel);
  }

  /** The next job, marking its channels busy; undefined when nothing can start now. */
  next(): Job | undefined {
    for (;;) {
      const channel = this.candidates.shift();
      if (channel === undefined) return undefined;
      this.isCandidate.delete(channel);
      const queue = this.queues.get(channel);
      const head = queue?.peek();
      if (!queue || !head || this.busy.has(channel)) continue;
      if (!isBatchable(head)) {
        // A multi-channel or encrypted event: it starts when it heads every one of its queues, all free.
        const ready = head.channels.every((c) => !this.busy.has(c) && this.queues.get(c)?.peek() === head);
        if (!ready) continue;
        for (const c of head.channels) this.queues.get(c)!.shift();
        this.count--;
        const failing = head.channels.some((c) => this.isPoisoned(c));
        if (failing) this.poison(head.channels);
        return this.start({ kind: failing ? 'fail' : 'trigger', events: [head], channels: head.channels });
      }
      if (this.isPoisoned(channel)) {
        const events: BulkEvent[] = [];
        this.fill(queue, events, Infinity);
        return this.start({ kind: 'fail', events, channels: [channel] });
      }
      const events: BulkEvent[] = [];
      const channels = [channel];
      this.fill(queue, events, this.batchSize);
      this.busy.add(channel);
      // Top up from other channels that are ready with batchable heads (kept for later otherwise).
      const skipped: string[] = [];
      while (events.length < this.batchSize) {
        const other = this.candidates.shift();
        if (other === undefined) break;
        this.isCandidate.delete(other);
        const q = this.queues.get(other);
        const h = q?.peek();
        if (!q || !h || this.busy.has(other)) continue;
        if (!isBatchable(h) || this.isPoisoned(other)) {
          skipped.push(other);
          continue;
        }
        this.fill(q, events, this.batchSize);
        this.busy.add(other);
        channels.push(other);
      }
      for (const c of skipped) this.candidate(c);
      return { kind: 'batch', events, channels };
    }
  }

  /** The job finished (sent, failed or written): its channels are free again. */
  done(job: Job): void {
    for (const channel of job.channels) {
      this.busy.delete(channel);
      const queue = this.queues.get(channel);
      if (queue && queue.length > 0) this.candidate(channel);
      else if (queue) this.queues.delete(channel);
    }
  }

  /** Removes and returns every queued event, in input order (for flushing to the failed output). */
  drain(): BulkEvent[] {
    const seen = new Set<BulkEvent>();
    for (const queue of this.queues.values()) {
      for (let e = queue.shift(); e; e = queue.shift()) seen.add(e);
    }
    this.queues.clear();
    this.count = 0;
    return [...seen].sort((a, b) => a.line - b.line);
  }

  /** Moves the batchable events at the head of `queue` to `events`, until it holds `max`. */
  private fill(queue: Queue<BulkEvent>, events: BulkEvent[], max: number): void {
    for (let head = queue.peek(); head && events.length < max && isBatchable(head); head = queue.peek()) {
      queue.shift();
      this.count--;
      events.push(head);
    }
  }

  private start(job: Job): Job {
    for (const c of job.channels) this.busy.add(c);
    return job;
  }

  private candidate(channel: string): void {
    if (this.isCandidate.has(channel)) return;
    this.isCandidate.add(channel);
    this.candidates.push(channel);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Sending

/** Where events that were not confirmed sent go (e.g. the `--failed-out` file). */
export interface FailedSink {
  /** One line of input format, without the line break. Called in an order that keeps each channel's order. */
  write(line: string): void;
  /** Resolves when the sink can take more (backpressure); optional. */
  ready?(): Promise<void>;
}

export interface BulkProgress {
  sent: number;
  failed: number;
  requests: number;
  elapsedMs: number;
}

export interface BulkSendOptions {
  /** Requests in flight at most (default 32). */
  concurrency?: number;
  /** At most this many events per second (default: no limit). */
  rate?: number;
  /** Events per batch request, 1-10 (default 10, and at most `rate`). */
  batchSize?: number;
  /** Checked against each line again as it is sent. */
  rules?: LineRules;
  /** Receives every event not confirmed sent, in input format. */
  failed?: FailedSink;
  /** Stops starting requests (the rest goes to `failed`); requests in flight finish. */
  signal?: AbortSignal;
  /** Consecutive connection failures (after the driver's retries) that mean the server is down (default 3). */
  maxConnectionFailures?: number;
  /** Called about every `progressIntervalMs` (default 250) while sending. */
  onProgress?: (progress: BulkProgress) => void;
  progressIntervalMs?: number;
  /** Events queued at most (default concurrency × batch size × 4). */
  window?: number;
}

export interface BulkResult {
  /** Events read (valid lines). */
  events: number;
  sent: number;
  failed: number;
  /** HTTP requests started (batch and trigger; a trigger to more than 100 channels takes several). */
  requests: number;
  batches: number;
  triggers: number;
  durationMs: number;
  /** Why sending stopped early, if it did. */
  stopped?: 'server-down' | 'rejected' | 'interrupted';
  /** Distinct failure messages, with how many events each affected (at most 20). */
  errors: { message: string; events: number; hint?: string }[];
}

/**
 * Sends events through a driver, keeping each channel's order: NDJSON lines (parsed and checked here;
 * invalid ones count as failed) or events already parsed by `parseEventLine`, in input order. Never throws
 * for delivery failures: they are counted, and written to `options.failed`.
 */
export async function sendBulk(
  driver: Driver,
  lines: AsyncIterable<(NdjsonLine | BulkEvent)[]> | Iterable<(NdjsonLine | BulkEvent)[]>,
  options: BulkSendOptions = {},
): Promise<BulkResult> {
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? 32));
  const rate = options.rate !== undefined && options.rate > 0 ? options.rate : undefined;
  const batchSize = Math.max(1, Math.min(options.batchSize ?? LIMITS.eventsPerBatch, LIMITS.eventsPerBatch, rate ? Math.floor(rate) || 1 : Infinity));
  const window = options.window ?? concurrency * batchSize * 4;
  // The reader is woken when the queue is down to half the window, so it reads in strides, not per request.
  const lowWater = Math.max(1, Math.floor(window / 2));
  const maxConnectionFailures = options.maxConnectionFailures ?? 3;
  const scheduler = new ChannelScheduler(batchSize);
  const limiter = rate ? new RateLimiter(rate, batchSize) : undefined;
  const started = performance.now();
  const result: BulkResult = { events: 0, sent: 0, failed: 0, requests: 0, batches: 0, triggers: 0, durationMs: 0, errors: [] };
  const errors = new Map<string, { message: string; events: number; hint?: string }>();
  let inFlight = 0;
  let readerDone = false;
  let consecutiveConnectionFailures = 0;
  let crash: unknown;

  // The main loop sleeps here; it is woken when it can read again, when nothing is in flight, or on a stop.
  let waiting: (() => void) | undefined;
  const wake = (force = false) => {
    if (!waiting) return;
    if (force || limiter || inFlight === 0 || result.stopped || (!readerDone && scheduler.pending <= lowWater)) {
      const w = waiting;
      waiting = undefined;
      w();
    }
  };
  const sleep = () => new Promise<void>((resolve) => (waiting = resolve));

  const stop = (why: NonNullable<BulkResult['stopped']>) => {
    result.stopped ??= why;
    scheduler.poisonAll();
    wake(true);
  };
  const onAbort = () => stop('interrupted');
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener('abort', onAbort, { once: true });

  const recordError = (error: unknown, events: number) => {
    // Grouped without the driver's retry note ("(5 attempts in 3.2 s)"), which differs for each request.
    const message = (error instanceof Error ? error.message : String(error)).replace(/ \(\d+ attempts in [\d.]+ s[^)]*\)$/, '');
    const entry = errors.get(message);
    if (entry) entry.events += events;
    else if (errors.size < 20) errors.set(message, { message, events, ...(error instanceof DeliveryError && error.hint ? { hint: error.hint } : {}) });
  };
  const writeFailed = (line: string) => {
    result.failed++;
    options.failed?.write(line);
  };

  // Starts every job that can start now; returns how many were handed out. With a rate limit, each job
  // first waits for its tokens (only the main loop pumps then); without one, nothing here awaits.
  const pump = async (): Promise<number> => {
    let handed = 0;
    while (!result.stopped && inFlight < concurrency) {
      const job = scheduler.next();
      if (!job) break;
      handed++;
      if (job.kind === 'fail') {
        for (const e of job.events) writeFailed(e.raw);
        scheduler.done(job);
        continue;
      }
      if (limiter) {
        await limiter.take(job.events.length);
        if (result.stopped) {
          // Stopped while waiting for the rate limiter: this job was not sent.
          for (const e of job.events) writeFailed(e.raw);
          scheduler.done(job);
          break;
        }
      }
      inFlight++;
      void run(job);
    }
    return handed;
  };

  const run = async (job: Job): Promise<void> => {
    try {
      if (job.kind === 'batch') {
        result.requests++;
        result.batches++;
        await driver.triggerBatch(job.events.map(toBatchEvent));
        result.sent += job.events.length;
        consecutiveConnectionFailures = 0;
      } else {
        await runTrigger(job.events[0]);
      }
    } catch (error) {
      recordError(error, job.events.length);
      scheduler.poison(job.channels);
      for (const e of job.events) writeFailed(e.raw);
      judge(error);
    }
    inFlight--;
    try {
      scheduler.done(job);
      // Without a rate limit the next requests start right here, not after a round trip through the main loop.
      if (!limiter) await pump();
    } catch (error) {
      crash ??= error;
      wake(true);
    }
    wake();
  };

  // A trigger: at most 100 channels a request, each encrypted channel alone (as Broadcast.send does).
  const runTrigger = async (event: BulkEvent): Promise<void> => {
    result.triggers++;
    const groups = triggerGroups(event.channels);
    result.requests += groups.length;
    const outcomes = await Promise.allSettled(
      groups.map((channels) => driver.trigger({ channels, event: event.event, data: event.data, socketId: event.socketId })),
    );
    const failedGroups = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [{ channels: groups[i]!, error: o.reason as unknown }] : []));
    if (failedGroups.length === 0) {
      result.sent++;
      consecutiveConnectionFailures = 0;
      return;
    }
    if (failedGroups.length === groups.length) throw failedGroups[0]!.error;
    // Some channels got it: only the others are failed (and only they are written out).
    const failedChannels = failedGroups.flatMap((g) => g.channels);
    recordError(failedGroups[0]!.error, 1);
    scheduler.poison(failedChannels);
    writeFailed(formatEventLine({ ...event, channels: failedChannels }));
    judge(failedGroups[0]!.error);
  };

  // Decides from a failure whether to stop altogether.
  const judge = (error: unknown) => {
    const status = error instanceof DeliveryError ? error.status : undefined;
    if (status === 401 || status === 403 || status === 404) return stop('rejected');
    if (error instanceof DeliveryError && status === undefined) {
      if (++consecutiveConnectionFailures >= maxConnectionFailures) stop('server-down');
    }
  };

  let timer: NodeJS.Timeout | undefined;
  if (options.onProgress) {
    const report = () =>
      options.onProgress!({ sent: result.sent, failed: result.failed, requests: result.requests, elapsedMs: performance.now() - started });
    timer = setInterval(report, options.progressIntervalMs ?? 250);
    timer.unref?.();
  }

  const iterator = Symbol.asyncIterator in lines ? lines[Symbol.asyncIterator]() : toAsync(lines)[Symbol.asyncIterator]();
  try {
    for (;;) {
      if (crash) throw crash;
      // Read while there is room (requests already in flight go on meanwhile).
      while (!readerDone && !result.stopped && scheduler.pending < window) {
        const next = await iterator.next();
        if (next.done) {
          readerDone = true;
          break;
        }
        for (const item of next.value) {
          result.events++;
          if ('channels' in item) {
            scheduler.push(item);
            continue;
          }
          let event: BulkEvent;
          try {
            event = parseEventLine(item.text, item.line, options.rules);
          } catch (error) {
            // The input changed since it was checked (or was never checked): not sendable.
            recordError(error, 1);
            writeFailed(item.text);
            continue;
          }
          scheduler.push(event);
        }
        if (!limiter) await pump();
        if (options.failed?.ready) await options.failed.ready();
      }
      if (result.stopped) break;
      const handed = await pump();
      if (result.stopped) break;
      if (readerDone && scheduler.pending === 0 && inFlight === 0) break;
      const canRead = !readerDone && scheduler.pending < window;
      if (canRead) continue;
      if (inFlight === 0 && handed === 0) {
        throw new Error(`bulk sender stalled with ${scheduler.pending} events queued (a bug: please report it)`);
      }
      if (inFlight > 0) await sleep();
      if (options.failed?.ready) await options.failed.ready();
    }
    if (crash) throw crash;
    if (result.stopped) {
      // Let what is in flight finish (it may still succeed), then write the rest out in input order.
      while (inFlight > 0) await sleep();
      for (const e of scheduler.drain()) writeFailed(e.raw);
      while (!readerDone) {
        const next = await iterator.next();
        if (next.done) break;
        for (const item of next.value) {
          result.events++;
          writeFailed('channels' in item ? item.raw : item.text);
        }
        if (options.failed?.ready) await options.failed.ready();
      }
    }
  } finally {
    if (timer) clearInterval(timer);
    options.signal?.removeEventListener('abort', onAbort);
    if (!readerDone) await iterator.return?.(undefined);
  }
  result.durationMs = performance.now() - started;
  result.errors = [...errors.values()];
  return result;
}

async function* toAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}

function toBatchEvent(e: BulkEvent): BatchEvent {
  const entry: BatchEvent = { channel: e.channels[0]!, event: e.event, data: e.data };
  if (e.socketId) entry.socketId = e.socketId;
  return entry;
}

/** A token bucket: at most `rate` events a second, in bursts of at most `burst`. */
export class RateLimiter {
  private tokens: number;
  private last = performance.now();
  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  async take(n: number): Promise<void> {
    for (;;) {
      const now = performance.now();
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
      this.last = now;
      if (this.tokens >= n) {
        this.tokens -= n;
        return;
      }
      const waitMs = ((n - this.tokens) * 1000) / this.rate;
      await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.ceil(waitMs))));
    }
  }
}

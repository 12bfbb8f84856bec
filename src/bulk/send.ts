/**
 * Bulk sending (`Broadcast.sendMany`, `broadcast emit --file`): many events as batch requests and single
 * triggers, each channel's events in input order, within a concurrency and rate limit, with every event
 * accounted for: sent, or failed and handed to the failed output. See "Bulk emit" in README.md.
 *
 * The steps, each its own piece:
 * - reading: `EventReader` pulls the input a chunk at a time and turns each item into a checked event;
 * - ordering, and grouping into batches and triggers: `ChannelScheduler` (scheduler.ts);
 * - pumping: `BulkSender.pump` starts what the scheduler hands out, within `concurrency` and `rate`;
 * - sending one job: `BulkSender.send`, a batch request, or one event to its channel groups through
 *   `deliver` (transport/deliver.ts, the same path and partial-failure handling as `Broadcast.send`);
 * - failure accounting, and when to stop: `Ledger`;
 * - the failed output: a `FailedSink` (failed-out.ts writes one to a file).
 *
 * Memory is bounded: the reader stops while `window` events are queued. Once a request for a channel fails,
 * that channel's later events are not sent but written to the failed output, so a re-run of that output
 * keeps every channel's order. When the server is clearly down (several consecutive connection failures,
 * after the driver's own retries) or rejects the credentials, no further request starts and everything not
 * sent goes straight to the failed output.
 */
import type { BatchEvent, Driver } from '../transport/types.js';
import { deliver } from '../transport/deliver.js';
import { DeliveryError } from '../core/errors.js';
import { triggerGroups } from '../core/channels.js';
import { LIMITS } from '../core/validation.js';
import { formatEventLine, parseEventLine, type BulkEvent, type LineRules, type NdjsonLine } from './ndjson.js';
import { RateLimiter } from './rate.js';
import { ChannelScheduler, type Job } from './scheduler.js';
import type { FailedSink } from './failed-out.js';

export type { FailedSink } from './failed-out.js';

/** An event given as an object: its channel (or channels), its name, its data, and a socket to exclude. */
export interface EventInput {
  channel?: string;
  channels?: string[];
  event: string;
  data?: unknown;
  socketId?: string;
}

/** One item of bulk input: an event object, an NDJSON line (`readNdjsonLines`), or an event from `parseEventLine`. */
export type BulkItem = EventInput | NdjsonLine | BulkEvent;

/** Bulk input, in order: items one by one, or in chunks (arrays, as `readNdjsonLines` yields them). */
export type BulkInput = AsyncIterable<BulkItem | BulkItem[]> | Iterable<BulkItem | BulkItem[]>;

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
  /** What each event is checked against as it is sent (`Broadcast.sendMany` gives the connection's). */
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
  /** Events read (valid or not). */
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
 * Sends events through a driver, keeping each channel's order (what `Broadcast.sendMany` runs). Items are
 * checked against `options.rules` as they are read; an invalid one counts as failed. Never throws for
 * delivery failures: they are counted, and written to `options.failed`.
 */
export async function sendBulk(driver: Driver, input: BulkInput, options: BulkSendOptions = {}): Promise<BulkResult> {
  const started = performance.now();
  const ledger = new Ledger(options.failed, options.maxConnectionFailures ?? 3);
  const reader = new EventReader(input, options.rules, ledger);
  const sender = new BulkSender(driver, reader, ledger, options);
  const onAbort = () => sender.stop('interrupted');
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const progress = options.onProgress
    ? setInterval(() => {
        const { sent, failed, requests } = ledger.result;
        options.onProgress!({ sent, failed, requests, elapsedMs: performance.now() - started });
      }, options.progressIntervalMs ?? 250)
    : undefined;
  progress?.unref?.();
  try {
    await sender.run();
  } finally {
    clearInterval(progress);
    options.signal?.removeEventListener('abort', onAbort);
    await reader.close();
  }
  return ledger.finish(performance.now() - started);
}

/** Single items read before the sender gets to start requests (chunks are taken whole). */
const ITEMS_PER_READ = 256;

/** Reading: pulls the input a chunk at a time and turns each item into a checked event. */
class EventReader {
  /** The input has ended. */
  done = false;
  private position = 0;
  private readonly iterator: AsyncIterator<BulkItem | BulkItem[]> | Iterator<BulkItem | BulkItem[]>;
  private readonly sync: boolean;

  constructor(
    input: BulkInput,
    private readonly rules: LineRules | undefined,
    private readonly ledger: Ledger,
  ) {
    this.sync = !(Symbol.asyncIterator in input);
    this.iterator = Symbol.asyncIterator in input ? input[Symbol.asyncIterator]() : input[Symbol.iterator]();
  }

  /**
   * Reads the next chunk and hands its events to `take`, in input order; an item that is not a valid event
   * is failed at once. Single items from a synchronous input are read a few hundred at a time.
   */
  async read(take: (event: BulkEvent) => void): Promise<void> {
    for (let items = 0; items < ITEMS_PER_READ; items++) {
      const next = await this.iterator.next();
      if (next.done) {
        this.done = true;
        return;
      }
      if (Array.isArray(next.value)) {
        for (const item of next.value) this.accept(item, take);
        return;
      }
      this.accept(next.value, take);
      if (!this.sync) return;
    }
  }

  /** After a stop: everything not read yet goes straight to the failed output, unchecked. */
  async discard(): Promise<void> {
    while (!this.done) {
      const next = await this.iterator.next();
      if (next.done) {
        this.done = true;
        return;
      }
      for (const item of Array.isArray(next.value) ? next.value : [next.value]) {
        this.ledger.result.events++;
        let line: string | undefined;
        try {
          line = lineOf(item);
        } catch {
          // An event object that cannot be written as JSON: counted, with no line to write.
        }
        this.ledger.failed(line);
      }
      await this.ledger.ready();
    }
  }

  /** Releases the input if it was not read to its end. */
  async close(): Promise<void> {
    if (!this.done) await this.iterator.return?.(undefined);
  }

  private accept(item: BulkItem, take: (event: BulkEvent) => void): void {
    this.ledger.result.events++;
    this.position++;
    if ('raw' in item) return take(item);
    let text: string | undefined;
    try {
      text = lineOf(item);
      take(parseEventLine(text, 'text' in item ? item.line : this.position, this.rules));
    } catch (error) {
      // Not sendable (or, for a checked file, changed since it was checked).
      this.ledger.record(error, 1);
      this.ledger.failed(text);
    }
  }
}

/** An item as a line of input (an event object is written as its line would be; throws if it cannot be). */
function lineOf(item: BulkItem): string {
  if ('raw' in item) return item.raw;
  if ('text' in item) return item.text;
  return JSON.stringify({ channel: item.channel, channels: item.channels, event: item.event, data: item.data, socket_id: item.socketId });
}

/** Failure accounting: what was sent, what failed (handed to the failed output) and why, and when to stop. */
class Ledger {
  readonly result: BulkResult = { events: 0, sent: 0, failed: 0, requests: 0, batches: 0, triggers: 0, durationMs: 0, errors: [] };
  private readonly errors = new Map<string, BulkResult['errors'][number]>();
  private consecutiveConnectionFailures = 0;

  constructor(
    private readonly sink: FailedSink | undefined,
    private readonly maxConnectionFailures: number,
  ) {}

  sent(events: number): void {
    this.result.sent += events;
    this.consecutiveConnectionFailures = 0;
  }

  /** One event not sent: counted, and its line written to the failed output (when it has one). */
  failed(line: string | undefined): void {
    this.result.failed++;
    if (line !== undefined) this.sink?.write(line);
  }

  /** Why `events` events failed, grouped by message. */
  record(error: unknown, events: number): void {
    // Grouped without the driver's retry note ("(5 attempts in 3.2 s)"), which differs for each request.
    const message = (error instanceof Error ? error.message : String(error)).replace(/ \(\d+ attempts in [\d.]+ s[^)]*\)$/, '');
    const entry = this.errors.get(message);
    if (entry) entry.events += events;
    else if (this.errors.size < 20) this.errors.set(message, { message, events, ...(error instanceof DeliveryError && error.hint ? { hint: error.hint } : {}) });
  }

  /** Whether a failed request means no other should start: the credentials or app were rejected, or the server is down. */
  verdict(error: unknown): BulkResult['stopped'] {
    const status = error instanceof DeliveryError ? error.status : undefined;
    if (status === 401 || status === 403 || status === 404) return 'rejected';
    if (error instanceof DeliveryError && status === undefined && ++this.consecutiveConnectionFailures >= this.maxConnectionFailures) {
      return 'server-down';
    }
    return undefined;
  }

  /** Resolves when the failed output can take more. */
  async ready(): Promise<void> {
    if (this.sink?.ready) await this.sink.ready();
  }

  finish(durationMs: number): BulkResult {
    this.result.durationMs = durationMs;
    this.result.errors = [...this.errors.values()];
    return this.result;
  }
}

/** Pumping and sending: starts the scheduler's jobs within the limits, and sends each. */
class BulkSender {
  private readonly scheduler: ChannelScheduler;
  private readonly limiter?: RateLimiter;
  private readonly concurrency: number;
  private readonly window: number;
  /** The reader is woken when the queue is down to this (half the window): it reads in strides, not per request. */
  private readonly lowWater: number;
  private inFlight = 0;
  private crash: unknown;
  /** The main loop sleeps here; it is woken when it can read again, when nothing is in flight, or on a stop. */
  private waiting?: () => void;

  constructor(
    private readonly driver: Driver,
    private readonly reader: EventReader,
    private readonly ledger: Ledger,
    options: BulkSendOptions,
  ) {
    this.concurrency = Math.max(1, Math.floor(options.concurrency ?? 32));
    const rate = options.rate !== undefined && options.rate > 0 ? options.rate : undefined;
    const batchSize = Math.max(1, Math.min(options.batchSize ?? LIMITS.eventsPerBatch, LIMITS.eventsPerBatch, rate ? Math.floor(rate) || 1 : Infinity));
    this.window = options.window ?? this.concurrency * batchSize * 4;
    this.lowWater = Math.max(1, Math.floor(this.window / 2));
    this.scheduler = new ChannelScheduler(batchSize);
    this.limiter = rate ? new RateLimiter(rate, batchSize) : undefined;
  }

  private get stopped(): boolean {
    return this.ledger.result.stopped !== undefined;
  }

  /** No request starts after this; what is queued or unread goes to the failed output. */
  stop(why: NonNullable<BulkResult['stopped']>): void {
    this.ledger.result.stopped ??= why;
    this.scheduler.poisonAll();
    this.wake(true);
  }

  /** Sends everything; after a stop, lets what is in flight finish (it may succeed) and fails the rest in input order. */
  async run(): Promise<void> {
    await this.sendAll();
    if (this.crash) throw this.crash;
    if (!this.stopped) return;
    while (this.inFlight > 0) await this.sleep();
    for (const e of this.scheduler.drain()) this.ledger.failed(e.raw);
    await this.reader.discard();
  }

  private async sendAll(): Promise<void> {
    for (;;) {
      if (this.crash) return;
      await this.fill();
      if (this.stopped) return;
      const handed = await this.pump();
      if (this.stopped) return;
      const pending = this.scheduler.pending;
      if (this.reader.done && pending === 0 && this.inFlight === 0) return;
      if (!this.reader.done && pending < this.window) continue;
      if (this.inFlight === 0 && handed === 0) {
        throw new Error(`bulk sender stalled with ${pending} events queued (a bug: please report it)`);
      }
      if (this.inFlight > 0) await this.sleep();
      await this.ledger.ready();
    }
  }

  /** Reads while there is room in the window (requests already in flight go on meanwhile). */
  private async fill(): Promise<void> {
    while (!this.reader.done && !this.stopped && this.scheduler.pending < this.window) {
      await this.reader.read((event) => this.scheduler.push(event));
      if (!this.limiter) await this.pump();
      await this.ledger.ready();
    }
  }

  /**
   * Starts every job that can start now; returns how many were handed out. With a rate limit, each job first
   * waits for its tokens (only the main loop pumps then); without one, nothing here awaits.
   */
  private async pump(): Promise<number> {
    let handed = 0;
    while (!this.stopped && this.inFlight < this.concurrency) {
      const job = this.scheduler.next();
      if (!job) break;
      handed++;
      if (job.kind === 'fail') {
        for (const e of job.events) this.ledger.failed(e.raw);
        this.scheduler.done(job);
        continue;
      }
      if (this.limiter) {
        await this.limiter.take(job.events.length);
        if (this.stopped) {
          // Stopped while waiting for the rate limiter: this job was not sent.
          for (const e of job.events) this.ledger.failed(e.raw);
          this.scheduler.done(job);
          break;
        }
      }
      this.inFlight++;
      void this.send(job);
    }
    return handed;
  }

  /** Sends one job, accounts for it, frees its channels and starts what can follow. */
  private async send(job: Job): Promise<void> {
    try {
      if (job.kind === 'batch') {
        this.ledger.result.requests++;
        this.ledger.result.batches++;
        await this.driver.triggerBatch(job.events.map(toBatchEvent));
        this.ledger.sent(job.events.length);
      } else {
        await this.sendTrigger(job.events[0]);
      }
    } catch (error) {
      this.fail(error, job.channels, job.events.map((e) => e.raw));
    }
    this.inFlight--;
    try {
      this.scheduler.done(job);
      // Without a rate limit the next requests start right here, not after a round trip through the main loop.
      if (!this.limiter) await this.pump();
    } catch (error) {
      this.crash ??= error;
      this.wake(true);
    }
    this.wake();
  }

  /** One event on its own: to its channel groups, as `Broadcast.send` sends it. */
  private async sendTrigger(event: BulkEvent): Promise<void> {
    const groups = triggerGroups(event.channels);
    this.ledger.result.triggers++;
    this.ledger.result.requests += groups.length;
    const delivery = await deliver(this.driver, groups, event);
    if (delivery.failed.length === 0) return this.ledger.sent(1);
    if (delivery.sent.length === 0) throw delivery.error;
    // Some channels got it: only the others failed, and only they are written out.
    this.fail(delivery.error, delivery.failed, [formatEventLine({ ...event, channels: delivery.failed })]);
  }

  /** A failed request: its channels send nothing more, its events go to the failed output, and maybe everything stops. */
  private fail(error: unknown, channels: string[], lines: string[]): void {
    this.ledger.record(error, lines.length);
    this.scheduler.poison(channels);
    for (const line of lines) this.ledger.failed(line);
    const stop = this.ledger.verdict(error);
    if (stop) this.stop(stop);
  }

  private sleep(): Promise<void> {
    return new Promise<void>((resolve) => (this.waiting = resolve));
  }

  private wake(force = false): void {
    const waiting = this.waiting;
    if (!waiting) return;
    if (force || this.limiter || this.inFlight === 0 || this.stopped || (!this.reader.done && this.scheduler.pending <= this.lowWater)) {
      this.waiting = undefined;
      waiting();
    }
  }
}

function toBatchEvent(e: BulkEvent): BatchEvent {
  const entry: BatchEvent = { channel: e.channels[0]!, event: e.event, data: e.data };
  if (e.socketId) entry.socketId = e.socketId;
  return entry;
}

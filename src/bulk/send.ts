/**
 * Bulk sending (`Broadcast.sendMany`, `broadcast emit --file`): many events as batch requests and single
 * triggers, each channel's events in input order, within a concurrency and rate limit, with every event
 * accounted for: sent, or not sent and why. See docs/bulk.md.
 *
 * The steps, each its own piece:
 * - reading: `EventReader` pulls the input a chunk at a time and turns each item into a checked event;
 * - ordering, and grouping into batches and triggers: `ChannelScheduler` (scheduler.ts);
 * - pumping: `BulkSender.pump` starts requests within `concurrency` (requests in flight) and `rate` (messages
 *   a second, one per channel per event, as Pusher counts them). A trigger to more than 100 channels is
 *   several requests (`TriggerRun`), each started, paced and counted on its own;
 * - sending one request: `BulkSender.sendBatch`, or one channel group of a trigger through `deliver`
 *   (transport/deliver.ts, the path `Broadcast.send` takes);
 * - accounting, and when to stop: `Ledger`. A confirmed request is told to the journal (`BulkJournal`)
 *   before anything else happens, so a journal always holds every event the server confirmed;
 * - the failed output: a `FailedSink` (events not sent, in input format, each channel's in order).
 *
 * Memory is bounded: the reader stops while `window` events are queued. Once a request for a channel fails,
 * that channel's later events are held back (not sent), so the failed output keeps every channel's order.
 * When the server is clearly down (several consecutive connection failures after the driver's retries, or
 * many requests in a row without an answer) or rejects the credentials, no further request starts and
 * everything not sent is accounted as not attempted.
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

/** Why sending stopped before the end: the server was unreachable, did not answer, rejected us, or a signal. */
export type StopReason = 'server-down' | 'unresponsive' | 'rejected' | 'interrupted';

/**
 * Told what the server confirmed, as it happens (`emit --file` keeps its journal with it). Calls are
 * synchronous and come before anything else is done with the answer.
 */
export interface BulkJournal {
  /** These events were confirmed; with `channels`, only those channels of the one event given. */
  sent(events: readonly BulkEvent[], channels?: readonly string[]): void;
  /** Sending stops early (once); `inFlight` are the events of the requests still in flight, which may arrive. */
  stopping?(why: StopReason, inFlight: readonly BulkEvent[]): void;
}

export interface BulkSendOptions {
  /** Requests in flight at most (default 32). */
  concurrency?: number;
  /** At most this many messages per second: one per channel per event, as Pusher counts them (default: no limit). */
  rate?: number;
  /** Events per batch request, 1-10 (default 10, and at most `rate`). */
  batchSize?: number;
  /** What each event is checked against as it is sent (`Broadcast.sendMany` gives the connection's). */
  rules?: LineRules;
  /** Receives every event not confirmed sent, in input format. */
  failed?: FailedSink;
  /** Told every confirmed request at once (see BulkJournal). */
  journal?: BulkJournal;
  /** Stops starting requests (the rest goes to `failed`); requests in flight finish. */
  signal?: AbortSignal;
  /** Consecutive connection failures (after the driver's retries) that mean the server is down (default 3). */
  maxConnectionFailures?: number;
  /**
   * Consecutive requests without an answer (timeouts) that mean the server is not answering (default twice
   * the concurrency, at least `maxConnectionFailures`): a few stalled requests are failures, not a stop.
   */
  maxNoAnswers?: number;
  /** Called about every `progressIntervalMs` (default 250) while sending. */
  onProgress?: (progress: BulkProgress) => void;
  progressIntervalMs?: number;
  /** Events queued at most (default concurrency × batch size × 4). */
  window?: number;
}

/** Why events were not sent: each one is counted under exactly one reason. */
export interface UnsentReasons {
  /** Its own request failed (or it was not a valid event). */
  failed: number;
  /** Not sent because an earlier event on one of its channels failed (it would have arrived out of order). */
  heldBack: number;
  /** Not attempted because sending stopped (`stopped` says why). */
  notAttempted: number;
}

export interface BulkResult {
  /** Events read (valid or not). */
  events: number;
  sent: number;
  /** Events not confirmed sent: `unsent.failed + unsent.heldBack + unsent.notAttempted`. */
  failed: number;
  unsent: UnsentReasons;
  /** Of `unsent.failed`, the events whose request may have reached the server (no answer, a reset after sending, a 5xx). */
  maybeDelivered: number;
  /** HTTP requests started (batch and trigger; a trigger to more than 100 channels takes several). */
  requests: number;
  batches: number;
  triggers: number;
  durationMs: number;
  /** Why sending stopped early, if it did. */
  stopped?: StopReason;
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
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? 32));
  const maxConnectionFailures = options.maxConnectionFailures ?? 3;
  const ledger = new Ledger(options.failed, options.journal, maxConnectionFailures, options.maxNoAnswers ?? Math.max(maxConnectionFailures, 2 * concurrency));
  const reader = new EventReader(input, options.rules, ledger);
  const sender = new BulkSender(driver, reader, ledger, { ...options, concurrency });
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
          if (this.ledger.keepsLines) line = lineOf(item);
        } catch {
          // An event object that cannot be written as JSON: counted, with no line to write.
        }
        this.ledger.unsent(line, 'notAttempted');
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
      this.ledger.unsent(text, 'failed');
    }
  }
}

/** An item as a line of input (an event object is written as its line would be; throws if it cannot be). */
function lineOf(item: BulkItem): string {
  if ('raw' in item) return item.raw;
  if ('text' in item) return item.text;
  return JSON.stringify({ channel: item.channel, channels: item.channels, event: item.event, data: item.data, socket_id: item.socketId });
}

/** Failure accounting: what was sent, what was not and why (handed to the failed output), and when to stop. */
class Ledger {
  readonly result: BulkResult = {
    events: 0,
    sent: 0,
    failed: 0,
    unsent: { failed: 0, heldBack: 0, notAttempted: 0 },
    maybeDelivered: 0,
    requests: 0,
    batches: 0,
    triggers: 0,
    durationMs: 0,
    errors: [],
  };
  private readonly errors = new Map<string, BulkResult['errors'][number]>();
  private unreachable = 0;
  private noAnswer = 0;

  constructor(
    private readonly sink: FailedSink | undefined,
    private readonly journal: BulkJournal | undefined,
    private readonly maxConnectionFailures: number,
    private readonly maxNoAnswers: number,
  ) {}

  /** Whether unsent events' lines are wanted (there is a failed output). */
  get keepsLines(): boolean {
    return this.sink !== undefined;
  }

  /** The server confirmed these events (or, with `channels`, those channels of the one event): told to the journal first. */
  confirmed(events: readonly BulkEvent[], channels?: readonly string[]): void {
    this.journal?.sent(events, channels);
    this.unreachable = 0;
    this.noAnswer = 0;
  }

  /** One event not sent, and why: counted, and its line written to the failed output (when it has one). */
  unsent(line: string | undefined, reason: keyof UnsentReasons, maybeDelivered = false): void {
    this.result.failed++;
    this.result.unsent[reason]++;
    if (maybeDelivered) this.result.maybeDelivered++;
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

  /**
   * Whether a failed request means no other should start: the credentials or app were rejected, the server
   * cannot be reached (consecutive connection failures), or it stopped answering (consecutive requests
   * without an answer, many more than are in flight at once: a few stalled requests are only failures).
   */
  verdict(error: unknown): StopReason | undefined {
    if (!(error instanceof DeliveryError)) return undefined;
    const status = error.status;
    if (status === 401 || status === 403 || status === 404) return 'rejected';
    if (status !== undefined) return undefined;
    if (maybeDelivered(error)) return ++this.noAnswer >= this.maxNoAnswers ? 'unresponsive' : undefined;
    return ++this.unreachable >= this.maxConnectionFailures ? 'server-down' : undefined;
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

/** A request's failure after which the server may still have received it (no answer, a reset, a 5xx). */
function maybeDelivered(error: unknown): boolean {
  return error instanceof DeliveryError && error.details?.maybeDelivered === true;
}

/**
 * One trigger on its way: its channel groups (at most 100 channels each, encrypted ones alone) are requests
 * of their own, each started within the limits; the event is accounted once all are answered or skipped.
 */
class TriggerRun {
  /** The next group to start. */
  next = 0;
  /** Groups taken (waiting for the rate limiter, or in flight) and not yet answered. */
  pending = 0;
  readonly sent = new Set<string>();
  readonly failed: string[] = [];
  error: unknown;
  maybeDelivered = false;
  finished = false;

  constructor(
    readonly job: Job & { kind: 'trigger' },
    readonly groups: string[][],
  ) {}

  get event(): BulkEvent {
    return this.job.events[0];
  }

  /** Every group was started (or skipped) and answered. */
  get settled(): boolean {
    return this.next >= this.groups.length && this.pending === 0;
  }
}

/** One HTTP request the pump starts: a batch, or one channel group of a trigger. */
type Request = { kind: 'batch'; job: Job & { kind: 'batch' }; messages: number } | { kind: 'group'; run: TriggerRun; channels: string[]; messages: number };

/** Pumping and sending: starts requests within the limits, and sends each. */
class BulkSender {
  private readonly scheduler: ChannelScheduler;
  private readonly limiter?: RateLimiter;
  private readonly concurrency: number;
  private readonly window: number;
  /** The reader is woken when the queue is down to this (half the window): it reads in strides, not per request. */
  private readonly lowWater: number;
  /** Requests in flight. */
  private inFlight = 0;
  /** Jobs with a request in flight (their events are "in flight" when sending stops). */
  private readonly active = new Set<Job>();
  /** A trigger whose groups are not all started yet: the pump takes its next group before a new job. */
  private expanding?: TriggerRun;
  /** Jobs and requests handed out so far (a loop that hands out nothing with nothing in flight is a bug). */
  private moves = 0;
  private crash: unknown;
  /** Aborted on a stop, so a wait for the rate limiter ends at once. */
  private readonly stopping = new AbortController();
  /** The main loop sleeps here; it is woken when it can read again, when nothing is in flight, or on a stop. */
  private waiting?: () => void;

  constructor(
    private readonly driver: Driver,
    private readonly reader: EventReader,
    private readonly ledger: Ledger,
    private readonly options: BulkSendOptions & { concurrency: number },
  ) {
    this.concurrency = options.concurrency;
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

  /** No request starts after this; what is queued or unread is accounted as not attempted. */
  stop(why: StopReason): void {
    if (this.stopped) return;
    this.ledger.result.stopped = why;
    this.scheduler.poisonAll();
    const run = this.expanding;
    if (run) {
      // The groups of a trigger that did not start are not attempted.
      this.expanding = undefined;
      run.next = run.groups.length;
      if (run.settled) this.finishTrigger(run);
    }
    this.options.journal?.stopping?.(why, [...this.active].flatMap((job) => job.events));
    this.stopping.abort();
    this.wake(true);
  }

  /** Sends everything; after a stop, lets what is in flight finish (it may succeed) and accounts for the rest in input order. */
  async run(): Promise<void> {
    await this.sendAll();
    if (this.crash) throw this.crash;
    if (!this.stopped) return;
    while (this.inFlight > 0) await this.sleep();
    for (const e of this.scheduler.drain()) this.ledger.unsent(e.raw, this.scheduler.reasonFor(e));
    await this.reader.discard();
  }

  private async sendAll(): Promise<void> {
    for (;;) {
      if (this.crash) return;
      await this.fill();
      if (this.stopped) return;
      const moves = this.moves;
      await this.pump();
      if (this.stopped) return;
      const pending = this.scheduler.pending;
      if (this.reader.done && pending === 0 && !this.expanding && this.inFlight === 0) return;
      if (!this.reader.done && pending < this.window) continue;
      if (this.inFlight === 0 && this.moves === moves) {
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
   * Starts every request that can start now. With a rate limit, each first waits for its messages' tokens
   * (only the main loop pumps then); without one, nothing here awaits.
   */
  private async pump(): Promise<void> {
    while (!this.stopped && this.inFlight < this.concurrency) {
      const request = this.nextRequest();
      if (!request) break;
      if (this.limiter) {
        await this.limiter.take(request.messages, this.stopping.signal);
        if (this.stopped) {
          this.skip(request);
          break;
        }
      }
      this.inFlight++;
      void this.send(request);
    }
  }

  /** The next request: the next group of a trigger on its way, else from the scheduler's next job. */
  private nextRequest(): Request | undefined {
    for (;;) {
      const run = this.expanding;
      if (run) {
        const channels = run.groups[run.next++]!;
        if (run.next >= run.groups.length) this.expanding = undefined;
        run.pending++;
        this.moves++;
        return { kind: 'group', run, channels, messages: channels.length };
      }
      const job = this.scheduler.next();
      if (!job) return undefined;
      this.moves++;
      if (job.kind === 'fail') {
        for (const e of job.events) this.ledger.unsent(e.raw, job.reason);
        this.scheduler.done(job);
        continue;
      }
      if (job.kind === 'batch') return { kind: 'batch', job, messages: job.events.length };
      this.ledger.result.triggers++;
      this.expanding = new TriggerRun(job, triggerGroups(job.events[0].channels));
    }
  }

  /** A request taken but not started because sending stopped meanwhile. */
  private skip(request: Request): void {
    if (request.kind === 'batch') {
      for (const e of request.job.events) this.ledger.unsent(e.raw, 'notAttempted');
      this.scheduler.done(request.job);
      return;
    }
    request.run.pending--;
    if (request.run.settled) this.finishTrigger(request.run);
  }

  /** Sends one request, then starts what can follow. */
  private async send(request: Request): Promise<void> {
    try {
      if (request.kind === 'batch') await this.sendBatch(request.job);
      else await this.sendGroup(request.run, request.channels);
    } catch (error) {
      this.crash ??= error;
    }
    this.inFlight--;
    try {
      // Without a rate limit the next requests start right here, not after a round trip through the main loop.
      if (!this.limiter) await this.pump();
    } catch (error) {
      this.crash ??= error;
      this.wake(true);
    }
    this.wake();
  }

  /** One batch request: its events are confirmed together, or fail together. */
  private async sendBatch(job: Job & { kind: 'batch' }): Promise<void> {
    this.active.add(job);
    this.ledger.result.requests++;
    this.ledger.result.batches++;
    let failure: { error: unknown } | undefined;
    try {
      await this.driver.triggerBatch(job.events.map(toBatchEvent));
    } catch (error) {
      failure = { error };
    }
    this.active.delete(job);
    if (!failure) {
      this.ledger.confirmed(job.events);
      this.ledger.result.sent += job.events.length;
    } else {
      this.ledger.record(failure.error, job.events.length);
      this.scheduler.poison(job.channels);
      const maybe = maybeDelivered(failure.error);
      for (const e of job.events) this.ledger.unsent(e.raw, 'failed', maybe);
      this.verdict(failure.error);
    }
    this.scheduler.done(job);
  }

  /** One channel group of a trigger, as `Broadcast.send` sends it. */
  private async sendGroup(run: TriggerRun, channels: string[]): Promise<void> {
    this.active.add(run.job);
    this.ledger.result.requests++;
    const delivery = await deliver(this.driver, [channels], run.event);
    run.pending--;
    if (delivery.failed.length === 0) {
      // A trigger of one request is confirmed whole; a longer one channel group by channel group.
      this.ledger.confirmed([run.event], run.groups.length > 1 ? channels : undefined);
      for (const c of channels) run.sent.add(c);
    } else {
      run.failed.push(...channels);
      run.error ??= delivery.error;
      run.maybeDelivered ||= maybeDelivered(delivery.error);
      this.verdict(delivery.error);
    }
    if (run.settled) this.finishTrigger(run);
  }

  /** A trigger's groups are all answered (or skipped after a stop): the event is sent, or not and why. */
  private finishTrigger(run: TriggerRun): void {
    if (run.finished) return;
    run.finished = true;
    this.active.delete(run.job);
    const event = run.event;
    const unsent = event.channels.filter((c) => !run.sent.has(c));
    if (unsent.length === 0) {
      this.ledger.result.sent++;
    } else {
      // Only the channels whose request failed hold back their later events; a stop holds back everything anyway.
      this.scheduler.poison(run.failed);
      if (run.failed.length > 0) this.ledger.record(run.error, 1);
      // Some channels got it: only the others are written out.
      const line = run.sent.size === 0 ? event.raw : formatEventLine({ ...event, channels: unsent });
      this.ledger.unsent(line, run.failed.length > 0 ? 'failed' : 'notAttempted', run.maybeDelivered);
    }
    this.scheduler.done(run.job);
  }

  private verdict(error: unknown): void {
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

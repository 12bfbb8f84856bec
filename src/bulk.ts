/**
 * Bulk sending of NDJSON events (what `broadcast emit --file` runs), as a library: a streaming line reader,
 * per-line validation, and a sender that batches, keeps per-channel order and accounts for every event.
 *
 * Design of the sender (see docs/readme/bulk.md):
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
import { channelType } from './channels.js';
import type { BatchEvent, Driver } from './drivers/types.js';
import { DeliveryError, ValidationError } from './errors.js';
import { LIMITS, channelNameProblem, chunk, serializePayload, validateEventName, validateSocketId } from './validation.js';

/** One line of input: its 1-based number and its text (without the line break). */
export interface NdjsonLine {
  line: number;
  text: string;
}

/** A validated event from one line. */
export interface BulkEvent {
  line: number;
  /** Full channel names, de-duplicated, in the order given. */
  channels: string[];
  event: string;
  data: unknown;
  socketId?: string;
  /** The line as read: written to the failed output unchanged. */
  raw: string;
}

/** What a line is checked against. */
export interface LineRules {
  /** Largest serialized payload, in KB (the connection's `maxPayloadKb`, default 10). */
  maxPayloadKb?: number;
  /**
   * Encrypted channels are refused with this reason (e.g. the connection has no master key); undefined
   * allows them.
   */
  encryptedProblem?: string;
}

const FIELDS = new Set(['channel', 'channels', 'event', 'name', 'data', 'socket_id']);
const EXAMPLE = '{"channel":"orders","event":"order.shipped","data":{"id":1}}';

/** Bytes of one line beyond which it is refused without being parsed (keeps memory bounded). */
export function maxLineBytes(maxPayloadKb: number = LIMITS.defaultMaxPayloadKb): number {
  return Math.max(1 << 20, Math.ceil(maxPayloadKb * 1024 * 8));
}

/** A line too long to hold; the reader throws it. */
export class LineTooLongError extends ValidationError {
  constructor(readonly line: number, limit: number) {
    super(`line ${line}: longer than ${limit} bytes (is it really NDJSON, one event per line?)`);
  }
}

/**
 * Splits a byte stream into lines, with their numbers, yielding the lines of each chunk together (fewer
 * awaits than one per line). Blank lines are skipped but counted; `\r\n` endings and a leading BOM are
 * accepted. Memory stays bounded by the chunk size plus one line (at most `maxBytes`).
 */
export async function* readNdjsonLines(
  input: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  options: { maxBytes?: number } = {},
): AsyncGenerator<NdjsonLine[]> {
  const maxBytes = options.maxBytes ?? maxLineBytes();
  let carry: Buffer[] = [];
  let carryBytes = 0;
  let lineNo = 0;
  const add = (lines: NdjsonLine[], text: string) => {
    lineNo++;
    if (text.charCodeAt(text.length - 1) === 13) text = text.slice(0, -1);
    if (lineNo === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    // A UTF-16 code unit takes at most 3 bytes in UTF-8: only a long line needs counting.
    if (text.length * 3 > maxBytes && Buffer.byteLength(text) > maxBytes) throw new LineTooLongError(lineNo, maxBytes);
    if (!isBlank(text)) lines.push({ line: lineNo, text });
  };
  for await (const piece of input) {
    const buffer = typeof piece === 'string' ? Buffer.from(piece) : piece;
    const last = buffer.lastIndexOf(10);
    if (last !== -1) {
      const lines: NdjsonLine[] = [];
      let from = 0;
      if (carryBytes > 0) {
        // The end of a line that began in an earlier chunk.
        from = buffer.indexOf(10) + 1;
        carry.push(buffer.subarray(0, from - 1));
        add(lines, Buffer.concat(carry).toString('utf8'));
        carry = [];
        carryBytes = 0;
      }
      if (from <= last) {
        // The rest, up to the chunk's last line break, is decoded at once (a line break never splits a
        // character) and then split: much faster than decoding each line on its own.
        const text = buffer.toString('utf8', from, last);
        let start = 0;
        for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
          add(lines, text.slice(start, end));
          start = end + 1;
        }
        add(lines, text.slice(start));
      }
      if (lines.length > 0) yield lines;
    }
    if (last + 1 < buffer.length) {
      carryBytes += buffer.length - last - 1;
      if (carryBytes > maxBytes) throw new LineTooLongError(lineNo + 1, maxBytes);
      // Copy: the stream may reuse its buffer.
      carry.push(Buffer.from(buffer.subarray(last + 1)));
    }
  }
  if (carryBytes > 0) {
    const lines: NdjsonLine[] = [];
    add(lines, Buffer.concat(carry).toString('utf8'));
    if (lines.length > 0) yield lines;
  }
}

function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13 && c !== 11 && c !== 12) return false;
  }
  return true;
}

/** An invalid line: `line N: problem`. */
export class LineError extends ValidationError {
  constructor(readonly line: number, readonly problem: string) {
    super(`line ${line}: ${problem}`);
  }
}

/**
 * Parses and validates one NDJSON line: `{"channel": "a"}` or `{"channels": [...]}`, `"event"` (or `"name"`),
 * optional `"data"` (any JSON; default `{}`) and `"socket_id"`. Throws a LineError naming the problem.
 */
export function parseEventLine(text: string, line: number, rules: LineRules = {}): BulkEvent {
  const fail = (problem: string): never => {
    throw new LineError(line, problem);
  };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    fail(`invalid JSON (${(error as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(`expected a JSON object like ${EXAMPLE}`);
  }
  const record = value as Record<string, unknown>;
  for (const key in record) {
    if (!FIELDS.has(key)) fail(`unknown field ${JSON.stringify(key)} (allowed: channel or channels, event or name, data, socket_id)`);
  }
  let channels: string[];
  if (record.channel !== undefined) {
    if (record.channels !== undefined) fail('give "channel" or "channels", not both');
    channels = [record.channel as string];
  } else if (record.channels !== undefined) {
    if (!Array.isArray(record.channels) || record.channels.length === 0) fail('"channels" must be a non-empty array of channel names');
    channels = record.channels as string[];
  } else {
    return fail(`missing "channel" (or "channels"), e.g. ${EXAMPLE}`);
  }
  for (const name of channels) {
    const problem = channelNameProblem(name);
    if (problem) fail(`invalid channel name ${JSON.stringify(name)}: ${problem}`);
    if (rules.encryptedProblem && channelType(name) === 'encrypted') fail(`channel "${name}" is encrypted, but ${rules.encryptedProblem}`);
  }
  if (channels.length > 1) channels = [...new Set(channels)];
  if (record.event !== undefined && record.name !== undefined) fail('give "event" or "name", not both');
  const event = record.event ?? record.name;
  if (event === undefined) fail('missing "event" (the event name)');
  try {
    validateEventName(event);
  } catch (error) {
    fail(lowerFirst((error as Error).message));
  }
  const data = record.data === undefined ? {} : record.data;
  const limit = (rules.maxPayloadKb ?? LIMITS.defaultMaxPayloadKb) * 1024;
  // Short payloads cannot be over the limit: skip serializing them (the common case, and pass 2 repeats it).
  if (text.length * 3 > limit) {
    let bytes: number;
    try {
      bytes = Buffer.byteLength(serializePayload(data));
    } catch (error) {
      return fail(lowerFirst((error as Error).message));
    }
    if (bytes > limit) fail(`the data is ${bytes} bytes; the limit for this connection is ${limit} bytes (${limit / 1024} KB)`);
  }
  let socketId: string | undefined;
  if (record.socket_id !== undefined) {
    try {
      socketId = validateSocketId(record.socket_id);
    } catch (error) {
      fail(lowerFirst((error as Error).message));
    }
  }
  return { line, channels, event: event as string, data, ...(socketId ? { socketId } : {}), raw: text };
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/** An event as a line of input (what the failed output holds when only some of its channels failed). */
export function formatEventLine(event: Pick<BulkEvent, 'channels' | 'event' | 'data' | 'socketId'>): string {
  return JSON.stringify({
    ...(event.channels.length === 1 ? { channel: event.channels[0] } : { channels: event.channels }),
    event: event.event,
    data: event.data,
    ...(event.socketId ? { socket_id: event.socketId } : {}),
  });
}

/** What a validation pass found. */
export interface NdjsonCheck {
  /** Valid events. */
  events: number;
  /** Lines read, blank ones included. */
  lines: number;
  /** Events that go out as a batch entry (one channel, not encrypted); the others are single triggers. */
  batchable: number;
  /** The first invalid lines (at most `maxErrors`), in order. */
  errors: { line: number; problem: string }[];
  /** True when more lines were invalid than listed. */
  moreErrors: boolean;
  /** The parsed events, when asked for with `retainBytes` and the input was small enough. */
  retained?: BulkEvent[];
}

/**
 * Validates every line of an NDJSON stream: the first pass of `emit --file`. Stops reading after
 * `maxErrors` invalid lines. Keeps nothing, unless `retainBytes` is given: then the parsed events are kept
 * (`retained`) while their lines total at most that many bytes, so a small input need not be read twice.
 */
export async function checkNdjson(
  lines: AsyncIterable<NdjsonLine[]>,
  rules: LineRules = {},
  options: { maxErrors?: number; retainBytes?: number } = {},
): Promise<NdjsonCheck> {
  const maxErrors = options.maxErrors ?? 10;
  const result: NdjsonCheck = { events: 0, lines: 0, batchable: 0, errors: [], moreErrors: false };
  let retained: BulkEvent[] | undefined = options.retainBytes ? [] : undefined;
  let retainedBytes = 0;
  try {
    for await (const batch of lines) {
      for (const { line, text } of batch) {
        result.lines = line;
        try {
          const event = parseEventLine(text, line, rules);
          result.events++;
          if (isBatchable(event)) result.batchable++;
          if (retained) {
            retainedBytes += text.length;
            if (retainedBytes > options.retainBytes!) retained = undefined;
            else retained.push(event);
          }
        } catch (error) {
          if (!(error instanceof LineError)) throw error;
          if (result.errors.length >= maxErrors) {
            result.moreErrors = true;
            return result;
          }
          result.errors.push({ line: error.line, problem: error.problem });
        }
      }
    }
  } catch (error) {
    if (!(error instanceof LineTooLongError)) throw error;
    result.errors.push({ line: error.line, problem: error.message.replace(/^line \d+: /, '') });
  }
  if (retained && result.errors.length === 0) result.retained = retained;
  return result;
}

/** One channel, not encrypted: can be an entry of a batch request. */
export function isBatchable(event: Pick<BulkEvent, 'channels'>): boolean {
  // The test of channelType(…) === 'encrypted', inlined: this runs several times for every event sent.
  return event.channels.length === 1 && !event.channels[0]!.startsWith('private-encrypted-');
}

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

  // Starts every job that can start now (no rate limit); returns how many were handed out.
  const pump = (): number => {
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
      if (!limiter) pump();
    } catch (error) {
      crash ??= error;
      wake(true);
    }
    wake();
  };

  // A trigger: at most 100 channels a request, each encrypted channel alone (as Broadcast.send does).
  const runTrigger = async (event: BulkEvent): Promise<void> => {
    result.triggers++;
    const plain = event.channels.filter((c) => channelType(c) !== 'encrypted');
    const groups = [...chunk(plain, LIMITS.channelsPerTrigger), ...event.channels.filter((c) => channelType(c) === 'encrypted').map((c) => [c])];
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

  // With a rate limit, jobs start here, each after its tokens.
  const pumpLimited = async (): Promise<number> => {
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
      await limiter!.take(job.events.length);
      if (result.stopped) {
        // Stopped while waiting for the rate limiter: this job was not sent.
        for (const e of job.events) writeFailed(e.raw);
        scheduler.done(job);
        break;
      }
      inFlight++;
      void run(job);
    }
    return handed;
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
        if (!limiter) pump();
        if (options.failed?.ready) await options.failed.ready();
      }
      if (result.stopped) break;
      const handed = limiter ? await pumpLimited() : pump();
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

/**
 * The per-channel ordering of bulk sending: which events go out next, grouped into batch requests and single
 * triggers, so that each channel's events reach the server in input order.
 *
 * - Every channel has a FIFO queue of its pending events. A channel is "busy" while a request containing it
 *   is in flight, and a request is only started for channels that are not busy, from the heads of their
 *   queues. So two requests that carry the same channel are never in flight together, and each channel's
 *   events reach the server in input order (a batch keeps its own order: servers apply it in sequence).
 * - A batch (at most 10 events) takes a run of events from one channel's queue and, when that channel has
 *   fewer than 10 ready, tops up from other ready channels; many channels therefore fill many requests.
 * - A line with several channels, or an encrypted channel, goes out as its own trigger. It sits in the queue
 *   of each of its channels and starts only when it is at the head of all of them and none is busy.
 * - Once a channel is "poisoned" (a request for it failed), its later events are handed out as `fail`
 *   (`heldBack`), so the failed output keeps every channel's order (the sent part is a prefix). After a stop
 *   (`poisonAll`) the rest is handed out as `fail` too (`notAttempted`, unless a failure held it back first).
 */
import { LIMITS } from '../core/validation.js';
import { isBatchable, type BulkEvent } from './ndjson.js';

/** Why events are handed out as `fail`: held behind a failure on one of their channels, or the run stopped. */
export type FailReason = 'heldBack' | 'notAttempted';

/** A unit of work the scheduler hands out: a batch request, one trigger, or events not to send. */
export type Job =
  | { kind: 'batch'; events: BulkEvent[]; channels: string[] }
  | { kind: 'trigger'; events: [BulkEvent]; channels: string[] }
  | { kind: 'fail'; events: BulkEvent[]; channels: string[]; reason: FailReason };

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

  /** Why an event that is not sent was not: a failure on one of its channels came first, or the stop. */
  reasonFor(event: Pick<BulkEvent, 'channels'>): FailReason {
    return event.channels.some((c) => this.poisoned.has(c)) ? 'heldBack' : 'notAttempted';
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
        if (!head.channels.some((c) => this.isPoisoned(c))) return this.start({ kind: 'trigger', events: [head], channels: head.channels });
        const reason = this.reasonFor(head);
        // Held back on one channel, so not sent on any: its other channels' later events wait behind it too.
        if (reason === 'heldBack') this.poison(head.channels);
        return this.start({ kind: 'fail', events: [head], channels: head.channels, reason });
      }
      if (this.isPoisoned(channel)) {
        const events: BulkEvent[] = [];
        this.fill(queue, events, Infinity);
        return this.start({ kind: 'fail', events, channels: [channel], reason: this.poisoned.has(channel) ? 'heldBack' : 'notAttempted' });
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

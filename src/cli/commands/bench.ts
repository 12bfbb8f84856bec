/**
 * `broadcast bench`: measures the user's own server. A pusher-js subscriber (src/subscriber.ts) listens on
 * fresh public channels while events are published through the HTTP API (batch requests of 10, one
 * publisher per channel, several channels at once, or paced by --rate); reports publish throughput,
 * end-to-end latency percentiles, losses, duplicates and per-channel reordering. Events not published or not
 * received make the outcome a delivery failure (exit 1), so CI can use it as a smoke test.
 *
 * The steps: `benchConnection` and `planOf` (checked before anything is sent), `subscribe`, `publish`,
 * `drain` (wait for stragglers), `reportOf` and `shortfall` (the outcome).
 */
import { EventEmitter } from 'node:events';
import { RateLimiter } from '../../bulk/rate.js';
import type { Broadcast } from '../../core/broadcast.js';
import type { PusherConnection } from '../../config/schema.js';
import type { Driver } from '../../transport/types.js';
import { BroadcastError, ConfigError, DeliveryError, UsageError } from '../../core/errors.js';
import { LIMITS } from '../../core/validation.js';
import { DEFAULTS } from '../../config/defaults.js';
import type { Subscriber } from '../../subscriber.js';
import { defineCommand } from '../command.js';
import { openBroadcast, stoppedBy, type Context, type NetworkOptions } from '../context.js';

export interface BenchOptions extends NetworkOptions {
  count?: number;
  /** The old name of --count. */
  events?: number;
  size?: number;
  rate?: number;
}

/** Publish requests in flight (when no --rate is given). */
const CONCURRENCY = 16;
/** How long to wait for stragglers after the last publish, at most. */
const DRAIN_MS = 5000;

export interface LatencySummary {
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export interface BenchResult {
  connection: string;
  channels: string[];
  /** Events published (--count). */
  count: number;
  /** Bytes of data per event. */
  size: number;
  /** --rate (events/s), or null for as fast as possible. */
  rate: number | null;
  publish: { durationMs: number; eventsPerSecond: number; requests: number; failed: number; errors: { message: string; events: number }[] };
  delivery: { received: number; lost: number; duplicates: number; outOfOrder: number; durationMs: number };
  /** End to end, publish to receipt; null when nothing arrived. */
  latencyMs: LatencySummary | null;
}

export default defineCommand<BenchResult>({
  async run(ctx, options: BenchOptions) {
    const count = options.count ?? options.events ?? DEFAULTS.benchCount;
    const size = options.size ?? DEFAULTS.benchSize;
    const broadcast = await openBroadcast(ctx, options);
    let subscriber: Subscriber | undefined;
    try {
      const connection = benchConnection(broadcast);
      const plan = planOf(connection, { count, size, rate: options.rate });
      const tally = new Tally(count);
      subscriber = await subscribe(ctx, { name: broadcast.resolved.name, connection }, plan, tally);
      ctx.io.note(
        `bench: ${count} events of ${size} bytes on ${plan.channels.length} channel${plan.channels.length === 1 ? '' : 's'} ` +
          `${plan.base}-* (connection "${broadcast.connectionName}")${plan.rate ? ` at ${plan.rate}/s` : ''}`,
      );
      const published = publishStats();
      const progress = progressLine(ctx, () => `published ${published.sent}/${count} · received ${tally.received}`);
      try {
        await publish(ctx, broadcast.driver, plan, published);
        await drain(tally, count - published.failed, ctx.signal);
      } finally {
        progress.stop();
      }
      const result = reportOf(broadcast.connectionName, plan, published, tally);
      return { result, error: stoppedBy(ctx) ?? shortfall(result) };
    } finally {
      subscriber?.disconnect();
      broadcast.close();
    }
  },

  render(io, r) {
    const s = io.style;
    const l = r.latencyMs;
    io.out(`${s.bold('publish')}   ${r.count - r.publish.failed}/${r.count} events in ${(r.publish.durationMs / 1000).toFixed(2)} s: ${s.bold(String(r.publish.eventsPerSecond))} events/s (${r.publish.requests} requests)`);
    io.out(`${s.bold('latency')}   ${l ? `p50 ${l.p50} ms · p95 ${l.p95} ms · p99 ${l.p99} ms · max ${l.max} ms` : 'no events received'}`);
    const lossText = r.delivery.lost === 0 ? s.green('0 lost') : s.red(`${r.delivery.lost} lost`);
    io.out(
      `${s.bold('delivery')}  ${r.delivery.received}/${r.count - r.publish.failed} received, ${lossText}, ${r.delivery.duplicates} duplicates, ` +
        `${r.delivery.outOfOrder} out of order (per channel)`,
    );
    for (const e of r.publish.errors.slice(0, 5)) io.note(`${io.errStyle.red('publish failed:')} ${e.events} events: ${e.message}`);
  },
});

/** What will be published where: checked before anything is sent. */
interface BenchPlan {
  count: number;
  size: number;
  rate?: number;
  /** The channels' common prefix (`bench-<random>`); one channel per publisher. */
  base: string;
  channels: string[];
  batchSize: number;
}

/** The connection, if it has a server to measure. */
function benchConnection(broadcast: Broadcast): PusherConnection {
  const connection = broadcast.resolved.connection;
  if (connection.driver !== 'pusher') {
    throw new ConfigError(`broadcast bench needs a server: connection "${broadcast.connectionName}" uses the ${connection.driver} driver`, {
      hint: 'Set PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET (with PUSHER_HOST and PUSHER_PORT for soketi or Reverb), or pick one with --connection',
    });
  }
  return connection;
}

function planOf(connection: PusherConnection, asked: { count: number; size: number; rate?: number }): BenchPlan {
  const limit = (connection.maxPayloadKb ?? LIMITS.defaultMaxPayloadKb) * 1024;
  const minimum = payload(0, 0, 0).length;
  if (asked.size < minimum || asked.size > limit) {
    throw new UsageError(`--size must be between ${minimum} and ${limit} bytes (the connection's payload limit), not ${asked.size}`);
  }
  // Batches of up to 10, one publisher per channel (so each channel's order is meaningful).
  const batchSize = Math.max(1, Math.min(LIMITS.eventsPerBatch, asked.rate ?? LIMITS.eventsPerBatch));
  const publishers = asked.rate ? Math.max(1, Math.min(CONCURRENCY, Math.ceil(asked.rate / 100))) : CONCURRENCY;
  const base = `bench-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const channels = Array.from({ length: publishers }, (_, i) => `${base}-${i}`);
  return { ...asked, base, channels, batchSize };
}

/**
 * What the subscriber received: each sequence number once with its latency, duplicates, per-channel
 * reordering. `until` waits for a number of arrivals.
 */
class Tally {
  received = 0;
  duplicates = 0;
  outOfOrder = 0;
  /** When the last new event arrived (ms, performance time origin based). */
  lastArrival = 0;
  private readonly seen: Uint8Array;
  private readonly latencies: Float64Array;
  private readonly lastSeq = new Map<string, number>();
  private readonly arrivals = new EventEmitter();

  constructor(private readonly count: number) {
    this.seen = new Uint8Array(count);
    this.latencies = new Float64Array(count);
  }

  record(channel: string, data: unknown, arrived: number): void {
    const body = (typeof data === 'string' ? safeParse(data) : data) as { seq?: unknown; t?: unknown } | undefined;
    const seq = body?.seq;
    if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0 || seq >= this.count) return;
    if (this.seen[seq]) {
      this.duplicates++;
      return;
    }
    this.seen[seq] = 1;
    this.latencies[this.received++] = arrived - Number(body!.t);
    const last = this.lastSeq.get(channel) ?? -1;
    if (seq < last) this.outOfOrder++;
    else this.lastSeq.set(channel, seq);
    this.lastArrival = arrived;
    this.arrivals.emit('arrival');
  }

  /** Resolves once `expected` events have arrived, after `ms` at most, or when `signal` aborts. */
  until(expected: number, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.received >= expected || signal.aborted) done();
      };
      const done = () => {
        clearTimeout(timer);
        this.arrivals.off('arrival', check);
        signal.removeEventListener('abort', check);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.arrivals.on('arrival', check);
      signal.addEventListener('abort', check, { once: true });
      check();
    });
  }

  latency(): LatencySummary | null {
    const sorted = Array.from(this.latencies.subarray(0, this.received)).sort((a, b) => a - b);
    if (sorted.length === 0) return null;
    return {
      min: round(sorted[0]!),
      p50: round(percentile(sorted, 50)),
      p95: round(percentile(sorted, 95)),
      p99: round(percentile(sorted, 99)),
      max: round(sorted[sorted.length - 1]!),
      mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
    };
  }
}

/** Wall-clock milliseconds with sub-millisecond precision: comparable between publisher and subscriber. */
const now = () => performance.timeOrigin + performance.now();

async function subscribe(ctx: Context, { name, connection }: { name: string; connection: PusherConnection }, plan: BenchPlan, tally: Tally): Promise<Subscriber> {
  const { createSubscriber } = await import('../../subscriber.js');
  const subscriber = await createSubscriber(connection, {
    connectionName: name,
    connectTimeoutMs: connection.timeout ?? DEFAULTS.connectTimeoutMs,
    signal: ctx.signal,
    onEvent: ({ channel, data }) => tally.record(channel, data, now()),
  });
  try {
    for (const channel of plan.channels) await subscriber.subscribe(channel);
    return subscriber;
  } catch (error) {
    subscriber.disconnect();
    throw error;
  }
}

interface Published {
  startedAt: number;
  durationMs: number;
  requests: number;
  /** Events, by the error their request failed with. */
  errors: Map<string, number>;
  failed: number;
  /** Events handed to the server so far (for the progress line). */
  sent: number;
}

function publishStats(): Published {
  return { startedAt: now(), durationMs: 0, requests: 0, errors: new Map(), failed: 0, sent: 0 };
}

/** Publishes every event in batches, one publisher per channel, until done or stopped; counts into `stats`. */
async function publish(ctx: Context, driver: Driver, plan: BenchPlan, stats: Published): Promise<void> {
  const limiter = plan.rate ? new RateLimiter(plan.rate, plan.batchSize) : undefined;
  const batches = batchRanges(plan.count, plan.batchSize);
  stats.startedAt = now();
  const publisher = async (channel: string) => {
    // One shared iterator: each publisher takes the next batch when its previous request is answered.
    for (const [first, size] of batches) {
      if (ctx.signal.aborted) return;
      if (limiter) await limiter.take(size);
      const t = now();
      stats.requests++;
      stats.sent += size;
      try {
        await driver.triggerBatch(Array.from({ length: size }, (_, i) => ({ channel, event: 'bench', data: payload(first + i, t, plan.size) })));
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        stats.failed += size;
        stats.errors.set(message, (stats.errors.get(message) ?? 0) + size);
      }
    }
  };
  await Promise.all(plan.channels.map(publisher));
  stats.durationMs = now() - stats.startedAt;
}

/** `[first seq, size]` of each batch. */
function* batchRanges(count: number, batchSize: number): Generator<[number, number]> {
  for (let first = 0; first < count; first += batchSize) yield [first, Math.min(batchSize, count - first)];
}

/** Waits for the events still in flight, at most DRAIN_MS. */
async function drain(tally: Tally, expected: number, signal: AbortSignal): Promise<void> {
  if (tally.received < expected) await tally.until(expected, DRAIN_MS, signal);
}

function reportOf(connection: string, plan: BenchPlan, published: Published, tally: Tally): BenchResult {
  const { count } = plan;
  const { failed } = published;
  return {
    connection,
    channels: plan.channels,
    count,
    size: plan.size,
    rate: plan.rate ?? null,
    publish: {
      durationMs: round(published.durationMs),
      eventsPerSecond: Math.round(((count - failed) * 1000) / Math.max(published.durationMs, 1e-3)),
      requests: published.requests,
      failed,
      errors: [...published.errors.entries()].map(([message, events]) => ({ message, events })),
    },
    delivery: {
      received: tally.received,
      // A request that failed after the server took it can still deliver: never below zero.
      lost: Math.max(0, count - failed - tally.received),
      duplicates: tally.duplicates,
      outOfOrder: tally.outOfOrder,
      durationMs: round((tally.received > 0 ? tally.lastArrival : now()) - published.startedAt),
    },
    latencyMs: tally.latency(),
  };
}

/** The outcome's error when events were not published or did not arrive: `partial_delivery`, or `delivery` if none arrived. */
function shortfall(r: BenchResult): BroadcastError | undefined {
  const { failed } = r.publish;
  const { lost, received } = r.delivery;
  if (failed === 0 && lost === 0) return undefined;
  const why = [failed > 0 && `${failed} could not be published`, lost > 0 && `${lost} published did not arrive within ${DRAIN_MS / 1000} s`].filter(Boolean);
  return new DeliveryError(`${failed + lost} of ${r.count} events were not delivered: ${why.join(', ')}`, {
    code: received > 0 ? 'partial_delivery' : 'delivery',
  });
}

/** `text()` as the progress line (Io.progress), rewritten four times a second. */
function progressLine(ctx: Context, text: () => string): { stop(): void } {
  const timer = setInterval(() => ctx.io.progress(text()), 250);
  return {
    stop() {
      clearInterval(timer);
      ctx.io.clearProgress();
    },
  };
}

/** The event data: `{"seq":…,"t":…,"pad":"xxx"}` padded to exactly `size` bytes when serialized. */
export function payload(seq: number, t: number, size: number): string {
  const head = `{"seq":${seq},"t":${t},"pad":"`;
  return `${head}${'x'.repeat(Math.max(0, size - head.length - 2))}"}`;
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

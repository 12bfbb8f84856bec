/**
 * `broadcast bench`: measures the user's own server. A pusher-js subscriber (src/subscriber.ts) listens on
 * fresh public channels while events are published through the HTTP API (batch requests of 10, one
 * publisher per channel, several channels at once, or paced by --rate); reports publish throughput,
 * end-to-end latency percentiles, losses, duplicates and per-channel reordering.
 */
import { RateLimiter } from '../../bulk/rate.js';
import { openBroadcast, type Context, type NetworkOptions } from '../context.js';
import type { PusherConnection } from '../../config/schema.js';
import type { BatchEvent } from '../../transport/types.js';
import { ConfigError, ExitCode, UsageError } from '../../core/errors.js';
import { LIMITS } from '../../core/validation.js';
import { DEFAULTS } from '../../config/defaults.js';

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

export interface BenchReport {
  ok: boolean;
  connection: string;
  channels: string[];
  events: number;
  size: number;
  rate: number | null;
  publish: { durationMs: number; eventsPerSecond: number; requests: number; failed: number; errors: string[] };
  delivery: { received: number; lost: number; duplicates: number; outOfOrder: number; durationMs: number };
  latencyMs: { min: number; p50: number; p95: number; p99: number; max: number; mean: number } | null;
}

export default async function bench(ctx: Context, options: BenchOptions): Promise<number> {
  const { io } = ctx;
  const events = options.count ?? options.events ?? DEFAULTS.benchCount;
  const size = options.size ?? DEFAULTS.benchSize;
  const broadcast = await openBroadcast(ctx, options);
  let subscriber: Awaited<ReturnType<typeof import('../../subscriber.js').createSubscriber>> | undefined;
  try {
    const connection = broadcast.resolved.connection;
    if (connection.driver !== 'pusher') {
      throw new ConfigError(`broadcast bench needs a server: connection "${broadcast.connectionName}" uses the ${connection.driver} driver`, {
        hint: 'Set PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET (with PUSHER_HOST and PUSHER_PORT for soketi or Reverb), or pick one with --connection',
      });
    }
    const limit = (connection.maxPayloadKb ?? LIMITS.defaultMaxPayloadKb) * 1024;
    const minimum = payload(0, 0, 0).length;
    if (size < minimum || size > limit) {
      throw new UsageError(`--size must be between ${minimum} and ${limit} bytes (the connection's payload limit), not ${size}`);
    }

    // Publish: batches of up to 10, one publisher per channel (so each channel's order is meaningful).
    const batchSize = Math.max(1, Math.min(LIMITS.eventsPerBatch, options.rate ?? LIMITS.eventsPerBatch));
    const concurrency = options.rate ? Math.max(1, Math.min(CONCURRENCY, Math.ceil(options.rate / 100))) : CONCURRENCY;
    const base = `bench-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    const channels = Array.from({ length: concurrency }, (_, i) => `${base}-${i}`);
    const lastSeq = new Map<string, number>();
    const now = () => performance.timeOrigin + performance.now();
    const seen = new Uint8Array(events);
    const latencies = new Float64Array(events);
    let received = 0;
    let duplicates = 0;
    let outOfOrder = 0;
    let lastArrival = 0;
    let allArrived: (() => void) | undefined;

    const { createSubscriber } = await import('../../subscriber.js');
    subscriber = await createSubscriber(connection as PusherConnection, {
      connectTimeoutMs: connection.timeout ?? 10_000,
      onEvent: ({ channel, data }) => {
        const arrived = now();
        const body = (typeof data === 'string' ? safeParse(data) : data) as { seq?: unknown; t?: unknown } | undefined;
        const seq = body?.seq;
        if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0 || seq >= events) return;
        if (seen[seq]) {
          duplicates++;
          return;
        }
        seen[seq] = 1;
        latencies[received++] = arrived - Number(body!.t);
        const last = lastSeq.get(channel) ?? -1;
        if (seq < last) outOfOrder++;
        else lastSeq.set(channel, seq);
        lastArrival = arrived;
        if (received === events) allArrived?.();
      },
    });
    for (const channel of channels) await subscriber.subscribe(channel);
    io.note(`bench: ${events} events of ${size} bytes on ${channels.length} channel${channels.length === 1 ? '' : 's'} ${base}-* (connection "${broadcast.connectionName}")${options.rate ? ` at ${options.rate}/s` : ''}`);

    const driver = broadcast.driver;
    const limiter = options.rate ? new RateLimiter(options.rate, batchSize) : undefined;
    const errors = new Map<string, number>();
    let failed = 0;
    let requests = 0;
    let next = 0;
    const progress = io.stderr.isTTY && !io.json ? setInterval(() => io.stderr.write(`\r\x1b[Kpublished ${next}/${events} · received ${received}`), 250) : undefined;
    const published = now();
    const worker = async (channel: string) => {
      while (next < events) {
        const first = next;
        const count = Math.min(batchSize, events - first);
        next += count;
        if (limiter) await limiter.take(count);
        const t = now();
        const batch: BatchEvent[] = [];
        for (let seq = first; seq < first + count; seq++) batch.push({ channel, event: 'bench', data: payload(seq, t, size) });
        requests++;
        try {
          await driver.triggerBatch(batch);
        } catch (error) {
          failed += count;
          const message = error instanceof Error ? error.message : String(error);
          errors.set(message, (errors.get(message) ?? 0) + count);
        }
      }
    };
    await Promise.all(channels.map(worker));
    const publishMs = now() - published;

    // Wait for the rest to arrive (or give up after DRAIN_MS without a full set).
    const expected = events - failed;
    if (received < expected) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, DRAIN_MS);
        allArrived = () => {
          clearTimeout(timer);
          resolve();
        };
        if (received >= expected) allArrived();
      });
    }
    if (progress) {
      clearInterval(progress);
      io.stderr.write('\r\x1b[K');
    }
    const sorted = Array.from(latencies.subarray(0, received)).sort((a, b) => a - b);
    const report: BenchReport = {
      ok: failed === 0 && received === events,
      connection: broadcast.connectionName,
      channels,
      events,
      size,
      rate: options.rate ?? null,
      publish: {
        durationMs: round(publishMs),
        eventsPerSecond: Math.round(((events - failed) * 1000) / Math.max(publishMs, 1e-3)),
        requests,
        failed,
        errors: [...errors.entries()].map(([message, n]) => `${n} events: ${message}`),
      },
      delivery: {
        received,
        lost: events - failed - received,
        duplicates,
        outOfOrder,
        durationMs: round((received > 0 ? lastArrival : now()) - published),
      },
      latencyMs: sorted.length
        ? {
            min: round(sorted[0]!),
            p50: round(percentile(sorted, 50)),
            p95: round(percentile(sorted, 95)),
            p99: round(percentile(sorted, 99)),
            max: round(sorted[sorted.length - 1]!),
            mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
          }
        : null,
    };
    print(ctx, report);
    return report.ok ? ExitCode.ok : ExitCode.failed;
  } finally {
    subscriber?.disconnect();
    broadcast.close();
  }
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

function print(ctx: Context, r: BenchReport): void {
  const { io } = ctx;
  if (io.json) {
    io.writeJson(r);
    return;
  }
  const s = io.style;
  const l = r.latencyMs;
  io.out(`${s.bold('publish')}   ${r.events - r.publish.failed}/${r.events} events in ${(r.publish.durationMs / 1000).toFixed(2)} s: ${s.bold(String(r.publish.eventsPerSecond))} events/s (${r.publish.requests} requests)`);
  io.out(
    `${s.bold('latency')}   ${l ? `p50 ${l.p50} ms · p95 ${l.p95} ms · p99 ${l.p99} ms · max ${l.max} ms` : 'no events received'}`,
  );
  const lossText = r.delivery.lost === 0 ? s.green('0 lost') : s.red(`${r.delivery.lost} lost`);
  io.out(
    `${s.bold('delivery')}  ${r.delivery.received}/${r.events - r.publish.failed} received, ${lossText}, ${r.delivery.duplicates} duplicates, ` +
      `${r.delivery.outOfOrder} out of order (per channel)`,
  );
  for (const e of r.publish.errors.slice(0, 5)) io.err(`${s.red('publish failed:')} ${e}`);
  if (r.delivery.lost > 0) io.err(`${s.red('error:')} ${r.delivery.lost} published events did not arrive within ${DRAIN_MS / 1000} s`);
}

/**
 * The console's health checks, shown in its header: the config, the server answering HTTP, the credentials
 * accepted by a signed API call, a WebSocket subscription to a private channel, and the round-trip latency of
 * an event sent over the HTTP API and received on that subscription. Each later check needs the earlier ones.
 */
import { randomBytes } from 'node:crypto';
import type { Broadcast } from '../../core/broadcast.js';
import { connectionUrl, type PusherConnection } from '../../config/schema.js';
import type { Subscriber } from '../../subscriber.js';

export type CheckName = 'config' | 'server' | 'credentials' | 'websocket' | 'roundtrip';

export interface ConsoleCheck {
  name: CheckName;
  status: 'pass' | 'fail' | 'skip';
  /** One line: what was found. */
  detail: string;
  hint?: string;
  /** How long the check took; for `roundtrip`, from sending the event to receiving it. */
  latencyMs?: number;
}

/** The event name of the round-trip probe. */
const PROBE_EVENT = 'broadcast.console';

export interface CheckInput {
  broadcast: Broadcast;
  /** What the config check found (`loaded broadcast.config.ts`, …). */
  configDetail: string;
  /** The private channel the round trip runs on (the follower ignores it). */
  probeChannel: string;
  timeoutMs: number;
}

/** Runs every check in order; never throws. */
export async function runChecks(input: CheckInput): Promise<ConsoleCheck[]> {
  const { broadcast, probeChannel, timeoutMs } = input;
  const connection = broadcast.resolved.connection as PusherConnection;
  const checks: ConsoleCheck[] = [{ name: 'config', status: 'pass', detail: input.configDetail }];
  const skipAfter = (failed: CheckName, ...names: CheckName[]) => {
    for (const name of names) checks.push({ name, status: 'skip', detail: `skipped: the ${failed} check failed` });
    return checks;
  };
  const failed = (name: CheckName, error: unknown): ConsoleCheck => ({
    name,
    status: 'fail',
    detail: error instanceof Error ? error.message : String(error),
    ...((error as { hint?: string })?.hint ? { hint: (error as { hint: string }).hint } : {}),
  });

  const url = connectionUrl(connection);
  let started = performance.now();
  try {
    const res = await fetch(`${url}/`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer().catch(() => undefined);
    checks.push({ name: 'server', status: 'pass', detail: `${url} answered HTTP ${res.status}`, latencyMs: since(started) });
  } catch (error) {
    const reason = (error as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : ((error as { cause?: Error }).cause?.message ?? (error as Error).message);
    checks.push({ name: 'server', status: 'fail', detail: `${url}: ${reason}`, hint: 'Is the server running? Check the host and port of the connection' });
    return skipAfter('server', 'credentials', 'websocket', 'roundtrip');
  }

  started = performance.now();
  try {
    await broadcast.driver.get('/channels', { filter_by_prefix: probeChannel });
    checks.push({ name: 'credentials', status: 'pass', detail: 'signed GET /channels accepted', latencyMs: since(started) });
  } catch (error) {
    checks.push(failed('credentials', error));
    return skipAfter('credentials', 'websocket', 'roundtrip');
  }

  let subscriber: Subscriber | undefined;
  let arrived: ((at: number) => void) | undefined;
  const nonce = randomBytes(8).toString('hex');
  started = performance.now();
  try {
    const { createSubscriber } = await import('../../subscriber.js');
    subscriber = await createSubscriber(connection, {
      connectionName: broadcast.resolved.name,
      connectTimeoutMs: timeoutMs,
      subscribeTimeoutMs: timeoutMs,
      onEvent: (e) => {
        if (e.event === PROBE_EVENT && (e.data as { nonce?: unknown } | null)?.nonce === nonce) arrived?.(performance.now());
      },
    });
    await subscriber.subscribe(probeChannel);
    checks.push({ name: 'websocket', status: 'pass', detail: 'connected and subscribed to a private channel', latencyMs: since(started) });
  } catch (error) {
    subscriber?.disconnect();
    checks.push(failed('websocket', error));
    return skipAfter('websocket', 'roundtrip');
  }

  try {
    let timer: NodeJS.Timeout | undefined;
    const back = new Promise<number | undefined>((resolve) => {
      arrived = resolve;
      timer = setTimeout(() => resolve(undefined), timeoutMs);
    });
    started = performance.now();
    await broadcast.channel(probeChannel, PROBE_EVENT, { nonce });
    const at = await back;
    clearTimeout(timer);
    checks.push(
      at === undefined
        ? { name: 'roundtrip', status: 'fail', detail: `the event was accepted but did not arrive within ${timeoutMs} ms`, hint: 'The HTTP API and the WebSocket may be different servers or apps' }
        : { name: 'roundtrip', status: 'pass', detail: 'an event sent over the HTTP API arrived on the WebSocket', latencyMs: Math.round(at - started) },
    );
  } catch (error) {
    checks.push(failed('roundtrip', error));
  } finally {
    subscriber.disconnect();
  }
  return checks;
}

function since(started: number): number {
  return Math.round(performance.now() - started);
}

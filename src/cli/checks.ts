/**
 * The checks of a pusher connection's server, shared by `broadcast doctor` and the console's header: the server
 * answers HTTP, this machine's clock against the server's, the credentials (a signed API call), a WebSocket
 * subscription to a private channel, and the round trip of an event sent over the HTTP API.
 *
 * Each check is a step: what it needs from the checks before it (else it is skipped), and a function that runs
 * it and returns the check with what it found for the checks after it. `runSteps` runs steps in order.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Broadcast } from '../core/broadcast.js';
import { connectionFields, connectionUrl, type BroadcastConfig, type PusherConnection } from '../config/schema.js';
import { deadline } from '../core/deadline.js';
import { BroadcastError, describeFetchError } from '../core/errors.js';
import { CLOCK_FIX, describeSkew, TIMESTAMP_WINDOW_S } from '../transport/rejection.js';
import { LOCAL_SOKETI } from './scaffold.js';
import type { CloseCode, ReceivedEvent, Subscriber } from '../subscriber.js';

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

export interface Check {
  name: string;
  status: CheckStatus;
  /** One line: what was found. */
  detail: string;
  /** What to do about a warning or failure. */
  hint?: string;
  /** How long a passing check took (server, credentials, websocket); for roundtrip, from sending the event to receiving it. */
  latencyMs?: number;
  /** websocket: the close code the server refused the connection with, explained. */
  closeCode?: CloseCode;
  /** clock: this machine's clock minus the server's (from its `Date` header), in seconds. */
  clockSkewSeconds?: number;
}

/** What the checks so far established; each check reads it and adds what it found. */
export interface Findings {
  config?: BroadcastConfig;
  connectionName?: string;
  broadcast?: Broadcast;
  connection?: PusherConnection;
  reachable?: boolean;
  /** The server's `Date` header and when (this machine's clock, ms) its answer was half-way. */
  serverDate?: { header: string | null; localMs: number };
  credentials?: boolean;
  websocket?: { subscriber: Subscriber; channel: string; events: EventEmitter };
}

export interface CheckOptions {
  /** Each request's and each wait's time limit. */
  timeoutMs: number;
  /** Stops the checks: the one running gives up, the others do not run. */
  signal: AbortSignal;
  /** The private channels the checks subscribe to and send on (`<channelPrefix><random>`), and the event name. */
  probe: { channelPrefix: string; event: string };
}

export interface Step {
  name: string;
  /** Why the check cannot run after what the earlier checks found (it is then skipped), or undefined. */
  needs?(found: Findings): string | undefined;
  run(found: Findings, options: CheckOptions): Promise<{ check: Omit<Check, 'name'>; found?: Findings }>;
}

/**
 * Runs `steps` in order from what is already `found`: a step whose needs are not met is skipped. Stops when
 * `options.signal` is aborted (a check cut short says nothing, so it is left out). The caller releases what the
 * checks opened (`found.websocket.subscriber`).
 */
export async function runSteps(steps: Step[], options: CheckOptions, found: Findings = {}, onStep?: (step: Step, index: number) => void): Promise<{ checks: Check[]; found: Findings }> {
  const checks: Check[] = [];
  for (const [index, step] of steps.entries()) {
    const unmet = step.needs?.(found);
    if (unmet) {
      checks.push({ name: step.name, status: 'skip', detail: `skipped: ${unmet}` });
      continue;
    }
    onStep?.(step, index);
    const { check, found: more } = await step.run(found, options);
    found = { ...found, ...more };
    if (options.signal.aborted) break;
    checks.push({ name: step.name, ...check });
  }
  return { checks, found };
}

const serverNeeded = (found: Findings) => (!found.connection ? 'no usable connection' : !found.reachable ? 'the server is not reachable' : undefined);

/** The checks of the server behind a connection, in order; they need `broadcast`, `connection` and `connectionName` found. */
export const SERVER_STEPS = {
  server: { name: 'server', needs: (found) => (found.connection ? undefined : 'no usable connection'), run: checkServer },
  clock: { name: 'clock', needs: serverNeeded, run: checkClock },
  credentials: { name: 'credentials', needs: serverNeeded, run: checkCredentials },
  websocket: { name: 'websocket', needs: serverNeeded, run: checkWebSocket },
  roundtrip: {
    name: 'roundtrip',
    needs: (found) => {
      const missing = [!found.credentials && 'credentials', !found.websocket && 'websocket'].filter(Boolean);
      return missing.length ? `needs the ${missing.join(' and ')} check${missing.length > 1 ? 's' : ''} to pass` : undefined;
    },
    run: checkRoundtrip,
  },
} satisfies Record<string, Step>;

/** Hosts on this machine, where a refused connection means no server was started. */
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]', '0.0.0.0']);

/** The server answers HTTP at all. */
async function checkServer({ connection, connectionName }: Findings, { timeoutMs, signal }: CheckOptions): ReturnType<Step['run']> {
  const url = connectionUrl(connection!);
  const started = performance.now();
  const sentAt = Date.now();
  // The limit covers the whole answer, its body included.
  const limit = deadline(timeoutMs, signal);
  try {
    const res = await fetch(`${url}/`, { signal: limit.signal });
    const serverDate = { header: res.headers.get('date'), localMs: (sentAt + Date.now()) / 2 };
    await res.arrayBuffer().catch(() => undefined);
    const latencyMs = since(started);
    return { check: { status: 'pass', detail: `${url} answered HTTP ${res.status} in ${latencyMs} ms`, latencyMs }, found: { reachable: true, serverDate } };
  } catch (error) {
    const reason = describeFetchError(error, timeoutMs);
    // Nothing listens on a local port: most often the development server was never started, so say how.
    const local = reason === 'connection refused' && LOCAL_HOSTS.has(connection!.host ?? '');
    const where = connectionFields(connectionName ?? 'pusher', ['host', 'port', 'scheme']);
    return {
      check: {
        status: 'fail',
        detail: `${url}: ${reason}${local ? ' (nothing listens on that port)' : ''}`,
        hint: local
          ? [`Is the server running? Check the host and port (${where}).`, ...LOCAL_SOKETI].join('\n')
          : `Is the server running? Check the host and port (${where})`,
      },
    };
  } finally {
    limit.clear();
  }
}

/** Past this many seconds off the server's clock, the clock check warns (it fails past Pusher's window). */
const CLOCK_WARN_S = 30;

/**
 * This machine's clock against the server's `Date` header (whole seconds, so within about a second): Pusher
 * Channels refuses requests signed more than 600 s off its clock. soketi and Reverb do not check, but webhooks'
 * age checks and logs suffer from a wrong clock all the same.
 */
async function checkClock({ serverDate }: Findings): ReturnType<Step['run']> {
  const server = serverDate?.header ? Date.parse(serverDate.header) : Number.NaN;
  if (!serverDate || Number.isNaN(server)) {
    return { check: { status: 'skip', detail: 'skipped: the server sent no Date header to compare with' } };
  }
  // The header is cut to the second: the server's time was, on average, half a second past it.
  const skew = Math.round((serverDate.localMs - (server + 500)) / 1000);
  const off = `this machine's clock is ${describeSkew(skew)} the server's`;
  if (Math.abs(skew) <= CLOCK_WARN_S) {
    return { check: { status: 'pass', detail: Math.abs(skew) <= 1 ? 'this machine\'s clock agrees with the server\'s (within 1 s)' : off, clockSkewSeconds: skew } };
  }
  const fail = Math.abs(skew) > TIMESTAMP_WINDOW_S;
  return {
    check: {
      status: fail ? 'fail' : 'warn',
      detail: `${off}${fail ? `: Pusher Channels refuses requests signed more than ${TIMESTAMP_WINDOW_S} s off its clock` : ''}`,
      hint: `${CLOCK_FIX}. Pusher Channels refuses requests signed more than ${TIMESTAMP_WINDOW_S} s off (soketi and Reverb do not check)`,
      clockSkewSeconds: skew,
    },
  };
}

/** A signed HTTP API call is accepted (app id and secret). */
async function checkCredentials({ broadcast }: Findings, { probe }: CheckOptions): ReturnType<Step['run']> {
  const started = performance.now();
  try {
    await broadcast!.driver.get('/channels', { filter_by_prefix: probe.channelPrefix });
    const latencyMs = since(started);
    return { check: { status: 'pass', detail: `signed GET /channels accepted in ${latencyMs} ms`, latencyMs }, found: { credentials: true } };
  } catch (error) {
    return { check: failed(error) };
  }
}

/** A WebSocket connects with the key and subscribes to a private channel, signed locally. */
async function checkWebSocket({ connection, connectionName }: Findings, { timeoutMs, signal, probe }: CheckOptions): ReturnType<Step['run']> {
  const { createSubscriber, webSocketAddress } = await import('../subscriber.js');
  const channel = `${probe.channelPrefix}${randomBytes(6).toString('hex')}`;
  // The round trip waits here for its event; the subscriber's callbacks are fixed when it is created.
  const events = new EventEmitter();
  const started = performance.now();
  let subscriber: Subscriber | undefined;
  try {
    subscriber = await createSubscriber(connection!, {
      ...(connectionName !== undefined ? { connectionName } : {}),
      connectTimeoutMs: timeoutMs,
      subscribeTimeoutMs: timeoutMs,
      signal,
      onEvent: (e) => events.emit('event', e),
    });
    await subscriber.subscribe(channel);
    const a = webSocketAddress(connection!);
    const latencyMs = since(started);
    return {
      check: { status: 'pass', detail: `${a.tls ? 'wss' : 'ws'}://${a.host}:${a.port} connected and subscribed to a private channel in ${latencyMs} ms`, latencyMs },
      found: { websocket: { subscriber, channel, events } },
    };
  } catch (error) {
    subscriber?.disconnect();
    return { check: failed(error) };
  }
}

/** An event emitted over the HTTP API comes back on the WebSocket. */
async function checkRoundtrip({ broadcast, websocket }: Findings, { timeoutMs, signal, probe }: CheckOptions): ReturnType<Step['run']> {
  const { channel, events } = websocket!;
  const nonce = randomBytes(8).toString('hex');
  const back = arrival(events, probe.event, nonce, timeoutMs, signal);
  const started = performance.now();
  try {
    await broadcast!.channel(channel, probe.event, { nonce });
  } catch (error) {
    back.cancel();
    return { check: failed(error) };
  }
  const at = await back.at;
  if (at === undefined) {
    return {
      check: {
        status: 'fail',
        detail: `the event was accepted but did not arrive on ${channel} within ${timeoutMs} ms`,
        hint: 'The HTTP API and the WebSocket may be different servers or apps: check that the host, port and app id point at the same app',
      },
    };
  }
  const latencyMs = Math.round(at - started);
  const slow = latencyMs > 1000;
  return {
    check: {
      status: slow ? 'warn' : 'pass',
      detail: `an event on a private test channel came back in ${latencyMs} ms`,
      latencyMs,
      ...(slow ? { hint: 'Over a second: the server or the network is slow' } : {}),
    },
  };
}

/** When the round-trip `event` with `nonce` arrives (performance.now()), or undefined after `timeoutMs` or a stop. */
function arrival(events: EventEmitter, event: string, nonce: string, timeoutMs: number, signal: AbortSignal): { at: Promise<number | undefined>; cancel(): void } {
  let cancel = () => {};
  const at = new Promise<number | undefined>((resolve) => {
    const onEvent = (e: ReceivedEvent) => {
      if (e.event === event && (e.data as { nonce?: unknown } | null)?.nonce === nonce) finish(performance.now());
    };
    const finish = (value: number | undefined) => {
      clearTimeout(timer);
      events.off('event', onEvent);
      signal.removeEventListener('abort', cancel);
      resolve(value);
    };
    cancel = () => finish(undefined);
    const timer = setTimeout(cancel, timeoutMs);
    events.on('event', onEvent);
    signal.addEventListener('abort', cancel, { once: true });
  });
  return { at, cancel };
}

/** A failed check from an error: its message, hint and close code. */
export function failed(error: unknown): Omit<Check, 'name'> {
  const message = error instanceof Error ? error.message : String(error);
  const hint = error instanceof BroadcastError ? error.hint : undefined;
  const closeCode = error instanceof BroadcastError ? (error.details?.closeCode as CloseCode | undefined) : undefined;
  return { status: 'fail', detail: message.split('\n')[0]!, ...(hint ? { hint } : {}), ...(closeCode ? { closeCode } : {}) };
}

function since(started: number): number {
  return Math.round(performance.now() - started);
}

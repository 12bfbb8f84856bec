/**
 * `broadcast doctor`: checks a setup end to end, one check after the other: the config, the connection, the
 * server, this machine's clock against the server's, the credentials, a WebSocket subscription, a round trip,
 * the auth route. Each check passes, warns,
 * fails or is skipped (when a check it depends on did not pass), so an unreachable server ends the run within
 * one request timeout. Any failed check makes the outcome `checks_failed` (exit 1).
 *
 * Each check is a step: what it needs from the checks before it (else it is skipped), and a function that
 * runs it and returns the check with what it found for the checks after it.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Broadcast } from '../../core/broadcast.js';
import { connectionFields, connectionUrl, ENV_CONNECTIONS, resolveConnection, secretsOf, type BroadcastConfig, type PusherConnection } from '../../config/schema.js';
import { BroadcastError, describeNetworkError } from '../../core/errors.js';
import { CLOCK_FIX, describeSkew, TIMESTAMP_WINDOW_S } from '../../transport/rejection.js';
import { DEFAULTS } from '../../config/defaults.js';
import { LOCAL_SOKETI } from '../scaffold.js';
import type { CloseCode, ReceivedEvent, Subscriber } from '../../subscriber.js';
import { defineCommand } from '../command.js';
import { stoppedBy, type Context, type NetworkOptions } from '../context.js';
import type { Io } from '../io.js';

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

export interface Check {
  name: string;
  status: CheckStatus;
  /** One line: what was found. */
  detail: string;
  /** What to do about a warning or failure. */
  hint?: string;
  /** roundtrip: milliseconds from sending the event to receiving it. */
  latencyMs?: number;
  /** websocket: the close code the server refused the connection with, explained. */
  closeCode?: CloseCode;
  /** clock: this machine's clock minus the server's (from its `Date` header), in seconds. */
  clockSkewSeconds?: number;
}

export interface DoctorResult {
  /** The connection checked, once it was resolved. */
  connection?: string;
  /** In the order they ran; a run stopped by a signal lists those that finished. */
  checks: Check[];
}

export default defineCommand<DoctorResult>({
  async run(ctx, options: NetworkOptions) {
    const limits: Limits = { timeoutMs: options.timeout ?? DEFAULTS.doctorTimeoutMs, retries: options.retries ?? DEFAULTS.doctorRetries };
    const checks: Check[] = [];
    let found: Findings = {};
    try {
      for (const step of STEPS) {
        const unmet = step.needs?.(found);
        if (unmet) {
          checks.push({ name: step.name, status: 'skip', detail: `skipped: ${unmet}` });
          continue;
        }
        // Which check is running, for a person waiting on a slow one (the report comes at the end, on stdout).
        ctx.io.progress(ctx.io.errStyle.dim(`checking ${step.name}… (${checks.length + 1}/${STEPS.length})`));
        const { check, found: more } = await step.run(ctx, found, limits);
        found = { ...found, ...more };
        // A check cut short by a stop signal says nothing about the setup.
        if (ctx.signal.aborted) break;
        checks.push({ name: step.name, ...check });
      }
    } finally {
      ctx.io.clearProgress();
      found.websocket?.subscriber.disconnect();
      found.broadcast?.close();
    }
    const result: DoctorResult = { ...(found.connectionName !== undefined ? { connection: found.connectionName } : {}), checks };
    return { result, error: stoppedBy(ctx) ?? checksFailed(checks) };
  },

  render(io, { checks }) {
    for (const check of checks) renderCheck(io, check);
    const count = (status: CheckStatus) => checks.filter((c) => c.status === status).length;
    const [warned, failed, skipped] = [count('warn'), count('fail'), count('skip')];
    const parts = [
      `${count('pass')} passed`,
      warned && `${warned} warning${warned === 1 ? '' : 's'}`,
      failed && `${failed} failed`,
      skipped && `${skipped} skipped`,
    ].filter(Boolean);
    io.out('');
    io.out(failed ? io.style.red(parts.join(', ')) : io.style.green(parts.join(', ')));
  },
});

/** Per-request limits for the checks that call the server. */
interface Limits {
  timeoutMs: number;
  retries: number;
}

/** What the checks so far established; each check reads it and adds what it found. */
interface Findings {
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

interface Step {
  name: string;
  /** Why the check cannot run after what the earlier checks found (it is then skipped), or undefined. */
  needs?(found: Findings): string | undefined;
  run(ctx: Context, found: Findings, limits: Limits): Promise<{ check: Omit<Check, 'name'>; found?: Findings }>;
}

const ROUNDTRIP_EVENT = 'broadcast.doctor';

const serverNeeded = (found: Findings) => (!found.connection ? 'no usable connection' : !found.reachable ? 'the server is not reachable' : undefined);

const STEPS: Step[] = [
  { name: 'config', run: checkConfig },
  { name: 'connection', needs: (found) => (found.config ? undefined : 'the config did not load'), run: checkConnection },
  { name: 'server', needs: (found) => (found.connection ? undefined : 'no usable connection'), run: checkServer },
  { name: 'clock', needs: serverNeeded, run: checkClock },
  { name: 'credentials', needs: serverNeeded, run: checkCredentials },
  { name: 'websocket', needs: serverNeeded, run: checkWebSocket },
  {
    name: 'roundtrip',
    needs: (found) => {
      const missing = [!found.credentials && 'credentials', !found.websocket && 'websocket'].filter(Boolean);
      return missing.length ? `needs the ${missing.join(' and ')} check${missing.length > 1 ? 's' : ''} to pass` : undefined;
    },
    run: checkRoundtrip,
  },
  { name: 'auth-route', needs: (found) => (found.config ? undefined : 'the config did not load'), run: checkAuthRoute },
];

/** A config file was found and loads (or the PUSHER_* or REVERB_* variables are complete). */
async function checkConfig(ctx: Context): ReturnType<Step['run']> {
  const { loadConfig, displayPath } = await import('../../config/load.js');
  try {
    const loaded = await loadConfig({ cwd: ctx.cwd, configPath: ctx.options.config });
    const found = { config: loaded.config };
    if (loaded.filepath) return { check: { status: 'pass', detail: `loaded ${displayPath(loaded.filepath, ctx.cwd)}` }, found };
    const complete = Object.values(ENV_CONNECTIONS).filter((variables) => (['appId', 'key', 'secret'] as const).every((f) => ctx.env[variables[f]]));
    if (complete.length > 0) {
      const names = complete.map((variables) => variables.appId.replace(/_APP_ID$/, '_*')).join(' and ');
      return { check: { status: 'pass', detail: `no config file; using the ${names} environment variables` }, found };
    }
    return {
      check: {
        status: 'warn',
        detail: 'no broadcast.config.* found, and neither the PUSHER_* nor the REVERB_* variables are complete',
        hint: 'Run `broadcast init`, or set PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET (REVERB_APP_ID, REVERB_APP_KEY and REVERB_APP_SECRET for Laravel Reverb)',
      },
      found,
    };
  } catch (error) {
    return { check: failed(error) };
  }
}

/** The selected connection is complete and can deliver (a pusher connection). */
async function checkConnection(ctx: Context, { config }: Findings, limits: Limits): ReturnType<Step['run']> {
  const { io } = ctx;
  try {
    const resolved = resolveConnection(config!, ctx.env, ctx.options.connection);
    io.addSecrets(secretsOf(resolved.connection));
    const named = { connectionName: resolved.name };
    if (resolved.connection.driver !== 'pusher') {
      return {
        check: {
          status: 'fail',
          detail: `connection "${resolved.name}" uses the ${resolved.connection.driver} driver: nothing is delivered`,
          hint: 'Set PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET (with PUSHER_HOST and PUSHER_PORT for soketi), or REVERB_APP_ID, REVERB_APP_KEY, REVERB_APP_SECRET, REVERB_HOST and REVERB_PORT for Laravel Reverb, or choose a pusher connection with --connection',
        },
        found: named,
      };
    }
    const { Broadcast } = await import('../../core/broadcast.js');
    const broadcast = new Broadcast(config!, {
      env: ctx.env,
      connection: resolved.name,
      logger: () => {},
      // Doctor reports what it sees; retries would only slow down the report of a dead server.
      timeout: limits.timeoutMs,
      retries: limits.retries,
      onRequest: ({ method, path, status, ms }) => io.debug(`${method} ${path} → ${status ?? 'no response'} (${ms.toFixed(0)} ms)`),
    });
    const connection = broadcast.resolved.connection as PusherConnection;
    const where = connection.host ? connectionUrl(connection) : `Pusher Channels, cluster ${connection.cluster ?? 'mt1'}`;
    const encrypted = connection.encryptionMasterKeyBase64 ? ', encryption master key set' : '';
    return {
      check: { status: 'pass', detail: `"${resolved.name}": ${where}, app ${connection.appId}, key ${connection.key}${encrypted}` },
      found: { ...named, broadcast, connection },
    };
  } catch (error) {
    return { check: failed(error) };
  }
}

/** Hosts on this machine, where a refused connection means no server was started. */
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]', '0.0.0.0']);

/** The server answers HTTP at all. */
async function checkServer(ctx: Context, { connection, connectionName }: Findings, { timeoutMs }: Limits): ReturnType<Step['run']> {
  const url = connectionUrl(connection!);
  const started = performance.now();
  const sentAt = Date.now();
  try {
    const res = await fetch(`${url}/`, { signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), ctx.signal]) });
    const serverDate = { header: res.headers.get('date'), localMs: (sentAt + Date.now()) / 2 };
    await res.arrayBuffer().catch(() => undefined);
    return { check: { status: 'pass', detail: `${url} answered HTTP ${res.status} in ${since(started)} ms` }, found: { reachable: true, serverDate } };
  } catch (error) {
    const reason = networkReason(error, timeoutMs);
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
  }
}

/** Past this many seconds off the server's clock, the clock check warns (it fails past Pusher's window). */
const CLOCK_WARN_S = 30;

/**
 * This machine's clock against the server's `Date` header (whole seconds, so within about a second): Pusher
 * Channels refuses requests signed more than 600 s off its clock. soketi and Reverb do not check, but webhooks'
 * age checks and logs suffer from a wrong clock all the same.
 */
async function checkClock(_ctx: Context, { serverDate }: Findings): ReturnType<Step['run']> {
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
async function checkCredentials(_ctx: Context, { broadcast }: Findings): ReturnType<Step['run']> {
  const started = performance.now();
  try {
    await broadcast!.driver.get('/channels', { filter_by_prefix: 'private-broadcast-doctor-' });
    return { check: { status: 'pass', detail: `signed GET /channels accepted in ${since(started)} ms` }, found: { credentials: true } };
  } catch (error) {
    return { check: failed(error) };
  }
}

/** A WebSocket connects with the key and subscribes to a private channel, signed locally. */
async function checkWebSocket(ctx: Context, { connection, connectionName }: Findings, { timeoutMs }: Limits): ReturnType<Step['run']> {
  const { createSubscriber, webSocketAddress } = await import('../../subscriber.js');
  const channel = `private-broadcast-doctor-${randomBytes(6).toString('hex')}`;
  // The round trip waits here for its event; the subscriber's callbacks are fixed when it is created.
  const events = new EventEmitter();
  const started = performance.now();
  let subscriber: Subscriber | undefined;
  try {
    subscriber = await createSubscriber(connection!, {
      ...(connectionName !== undefined ? { connectionName } : {}),
      connectTimeoutMs: timeoutMs,
      subscribeTimeoutMs: timeoutMs,
      signal: ctx.signal,
      onEvent: (e) => events.emit('event', e),
    });
    await subscriber.subscribe(channel);
    const a = webSocketAddress(connection!);
    return {
      check: { status: 'pass', detail: `${a.tls ? 'wss' : 'ws'}://${a.host}:${a.port} connected and subscribed to a private channel in ${since(started)} ms` },
      found: { websocket: { subscriber, channel, events } },
    };
  } catch (error) {
    subscriber?.disconnect();
    return { check: failed(error) };
  }
}

/** An event emitted over the HTTP API comes back on the WebSocket. */
async function checkRoundtrip(ctx: Context, { broadcast, websocket }: Findings, { timeoutMs }: Limits): ReturnType<Step['run']> {
  const { channel, events } = websocket!;
  const nonce = randomBytes(8).toString('hex');
  const back = arrival(events, nonce, timeoutMs, ctx.signal);
  const started = performance.now();
  try {
    await broadcast!.channel(channel, ROUNDTRIP_EVENT, { nonce });
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

/** When the round-trip event with `nonce` arrives (performance.now()), or undefined after `timeoutMs` or a stop. */
function arrival(events: EventEmitter, nonce: string, timeoutMs: number, signal: AbortSignal): { at: Promise<number | undefined>; cancel(): void } {
  let cancel = () => {};
  const at = new Promise<number | undefined>((resolve) => {
    const onEvent = (e: ReceivedEvent) => {
      if (e.event === ROUNDTRIP_EVENT && (e.data as { nonce?: unknown } | null)?.nonce === nonce) finish(performance.now());
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

/** The auth route browsers post to is defined, and the channel rules compile. */
async function checkAuthRoute(_ctx: Context, { config }: Findings): ReturnType<Step['run']> {
  try {
    const { authRoutePath } = await import('../../auth/routes.js');
    const { rulesOf } = await import('../../auth/rules.js');
    const route = authRoutePath(config!);
    const rules = rulesOf(config!);
    const from = config!.auth?.route !== undefined ? 'from config' : 'default';
    const ruleText = rules.length === 0 ? 'no channel rules: any signed-in user may join private and presence channels' : `${rules.length} channel rule${rules.length === 1 ? '' : 's'}`;
    return { check: { status: 'pass', detail: `POST ${route} (${from}); ${ruleText}` } };
  } catch (error) {
    return { check: failed(error) };
  }
}

/** The outcome's error when a check failed: `checks_failed` (exit 1), naming them. */
function checksFailed(checks: Check[]): BroadcastError | undefined {
  const names = checks.filter((c) => c.status === 'fail').map((c) => c.name);
  if (names.length === 0) return undefined;
  return new BroadcastError(`${names.length} check${names.length === 1 ? '' : 's'} failed: ${names.join(', ')}`, {
    code: 'checks_failed',
    details: { failed: names },
  });
}

const MARKS: Record<CheckStatus, string> = { pass: '✓', warn: '!', fail: '✗', skip: '-' };

function renderCheck(io: Io, check: Check): void {
  const s = io.style;
  const paint = { pass: s.green, warn: s.yellow, fail: s.red, skip: s.dim }[check.status];
  io.out(`${paint(MARKS[check.status])} ${check.name.padEnd(12)} ${check.status === 'skip' ? s.dim(check.detail) : check.detail}`);
  // A hint may run over several lines (commands to copy): each is indented under the check.
  if (check.hint) io.out(`  ${' '.repeat(12)} ${s.dim(`hint: ${check.hint.split('\n').join(`\n  ${' '.repeat(12)}       `)}`)}`);
}

function failed(error: unknown): Omit<Check, 'name'> {
  const message = error instanceof Error ? error.message : String(error);
  const hint = error instanceof BroadcastError ? error.hint : undefined;
  const closeCode = error instanceof BroadcastError ? (error.details?.closeCode as CloseCode | undefined) : undefined;
  return { status: 'fail', detail: message.split('\n')[0]!, ...(hint ? { hint } : {}), ...(closeCode ? { closeCode } : {}) };
}

function since(started: number): number {
  return Math.round(performance.now() - started);
}

/** Why fetch failed, in words: refused, host not found, timed out, … */
function networkReason(error: unknown, timeoutMs: number): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  return describeNetworkError(e?.cause?.code, e?.cause?.message ?? e?.message ?? String(error));
}

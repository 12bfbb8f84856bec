/**
 * `broadcast doctor`: checks a setup end to end, one check after the other: the config, the connection, the
 * server, the credentials, a WebSocket subscription, a round trip, the auth route. Each check passes, warns,
 * fails or is skipped (when a check it depends on failed), so an unreachable server ends the run within one
 * request timeout. Exit 1 if any check fails.
 */
import { randomBytes } from 'node:crypto';
import type { Broadcast } from '../../core/broadcast.js';
import type { Context, NetworkOptions } from '../context.js';
import { connectionUrl, ENV_VARS, resolveConnection, secretsOf, type BroadcastConfig, type PusherConnection } from '../../config/schema.js';
import { BroadcastError } from '../../core/errors.js';
import { DEFAULTS } from '../../config/defaults.js';
import type { Subscriber } from '../../subscriber.js';

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
}

/** Doctor's per-request timeout unless --timeout is given: short, so a dead server is reported quickly. */
export const DOCTOR_TIMEOUT_MS = DEFAULTS.doctorTimeoutMs;

const ROUNDTRIP_EVENT = 'broadcast.doctor';

export default async function doctor(ctx: Context, options: NetworkOptions): Promise<number> {
  const { io } = ctx;
  const timeoutMs = options.timeout ?? DOCTOR_TIMEOUT_MS;
  const checks: Check[] = [];
  const add = (check: Check) => {
    checks.push(check);
    if (!io.json) printCheck(ctx, check);
  };
  const skip = (name: string, why: string) => add({ name, status: 'skip', detail: `skipped: ${why}` });

  // 1. The config file.
  const { loadConfig, displayPath } = await import('../../config/load.js');
  let config: BroadcastConfig | undefined;
  try {
    const loaded = await loadConfig({ cwd: ctx.cwd, configPath: ctx.options.config });
    config = loaded.config;
    if (loaded.filepath) {
      add({ name: 'config', status: 'pass', detail: `loaded ${displayPath(loaded.filepath, ctx.cwd)}` });
    } else {
      const missing = (['appId', 'key', 'secret'] as const).filter((f) => !ctx.env[ENV_VARS[f]]);
      if (missing.length === 0) {
        add({ name: 'config', status: 'pass', detail: 'no config file; using the PUSHER_* environment variables' });
      } else {
        add({
          name: 'config',
          status: 'warn',
          detail: 'no broadcast.config.* found and the PUSHER_* variables are incomplete',
          hint: 'Run `broadcast init`, or set PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET',
        });
      }
    }
  } catch (error) {
    add(failed('config', error));
  }

  // 2. The connection is complete and can deliver.
  let broadcast: Broadcast | undefined;
  let connection: PusherConnection | undefined;
  if (!config) {
    skip('connection', 'the config did not load');
  } else {
    try {
      const resolved = resolveConnection(config, ctx.env, ctx.options.connection);
      io.addSecrets(secretsOf(resolved.connection));
      if (resolved.connection.driver !== 'pusher') {
        add({
          name: 'connection',
          status: 'fail',
          detail: `connection "${resolved.name}" uses the ${resolved.connection.driver} driver: nothing is delivered`,
          hint: 'Set PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET (with PUSHER_HOST and PUSHER_PORT for soketi or Reverb), or choose a pusher connection with --connection',
        });
      } else {
        const { Broadcast } = await import('../../core/broadcast.js');
        broadcast = new Broadcast(config, {
          env: ctx.env,
          connection: resolved.name,
          logger: () => {},
          onRequest: ({ method, path, status, ms }) => io.debug(`${method} ${path} → ${status ?? 'no response'} (${ms.toFixed(0)} ms)`),
        });
        connection = broadcast.resolved.connection as PusherConnection;
        connection.timeout = timeoutMs;
        // Doctor reports what it sees; retries would only slow down the report of a dead server.
        connection.retries = options.retries ?? 0;
        const where = connection.host ? connectionUrl(connection) : `Pusher Channels, cluster ${connection.cluster ?? 'mt1'}`;
        const encrypted = connection.encryptionMasterKeyBase64 ? ', encryption master key set' : '';
        add({ name: 'connection', status: 'pass', detail: `"${resolved.name}": ${where}, app ${connection.appId}, key ${connection.key}${encrypted}` });
      }
    } catch (error) {
      add(failed('connection', error));
    }
  }

  let subscriber: Subscriber | undefined;
  try {
    // 3. The server answers HTTP at all.
    let reachable = false;
    if (!connection) {
      skip('server', 'no usable connection');
    } else {
      const url = connectionUrl(connection);
      const started = performance.now();
      try {
        const res = await fetch(`${url}/`, { signal: AbortSignal.timeout(timeoutMs) });
        await res.arrayBuffer().catch(() => undefined);
        reachable = true;
        add({ name: 'server', status: 'pass', detail: `${url} answered HTTP ${res.status} in ${ms(started)} ms` });
      } catch (error) {
        add({
          name: 'server',
          status: 'fail',
          detail: `${url}: ${networkReason(error, timeoutMs)}`,
          hint: `Is the server running? Check the host and port (${ENV_VARS.host}, ${ENV_VARS.port}, ${ENV_VARS.scheme})`,
        });
      }
    }

    // 4. A signed HTTP API call is accepted.
    let credentials = false;
    if (!broadcast || !reachable) {
      skip('credentials', connection ? 'the server is not reachable' : 'no usable connection');
    } else {
      const started = performance.now();
      try {
        await broadcast.driver.get('/channels', { filter_by_prefix: 'private-broadcast-doctor-' });
        credentials = true;
        add({ name: 'credentials', status: 'pass', detail: `signed GET /channels accepted in ${ms(started)} ms` });
      } catch (error) {
        add(failed('credentials', error));
      }
    }

    // 5. A WebSocket connection and a (locally signed) private subscription.
    const channel = `private-broadcast-doctor-${randomBytes(6).toString('hex')}`;
    let nonce = '';
    let arrived: ((at: number) => void) | undefined;
    if (!connection || !reachable) {
      skip('websocket', connection ? 'the server is not reachable' : 'no usable connection');
    } else {
      const started = performance.now();
      try {
        const { createSubscriber, webSocketAddress } = await import('../../subscriber.js');
        subscriber = await createSubscriber(connection, {
          connectTimeoutMs: timeoutMs,
          subscribeTimeoutMs: timeoutMs,
          onEvent: (e) => {
            if (e.event === ROUNDTRIP_EVENT && (e.data as { nonce?: unknown } | null)?.nonce === nonce) arrived?.(performance.now());
          },
        });
        await subscriber.subscribe(channel);
        const a = webSocketAddress(connection);
        add({
          name: 'websocket',
          status: 'pass',
          detail: `${a.tls ? 'wss' : 'ws'}://${a.host}:${a.port} connected and subscribed to a private channel in ${ms(started)} ms`,
        });
      } catch (error) {
        subscriber?.disconnect();
        subscriber = undefined;
        add(failed('websocket', error));
      }
    }

    // 6. An event emitted over the HTTP API comes back on the WebSocket.
    if (!broadcast || !subscriber || !credentials) {
      const missing = [!credentials && 'credentials', !subscriber && 'websocket'].filter(Boolean).join(' and ');
      skip('roundtrip', `needs the ${missing} check${missing.includes(' and ') ? 's' : ''} to pass`);
    } else {
      nonce = randomBytes(8).toString('hex');
      let timer: NodeJS.Timeout | undefined;
      const back = new Promise<number | undefined>((resolve) => {
        arrived = resolve;
        timer = setTimeout(() => resolve(undefined), timeoutMs);
      });
      const started = performance.now();
      try {
        await broadcast.channel(channel, ROUNDTRIP_EVENT, { nonce });
        const at = await back;
        if (at === undefined) {
          add({
            name: 'roundtrip',
            status: 'fail',
            detail: `the event was accepted but did not arrive on ${channel} within ${timeoutMs} ms`,
            hint: 'The HTTP API and the WebSocket may be different servers or apps: check that the host, port and app id point at the same app',
          });
        } else {
          const latencyMs = Math.round(at - started);
          const slow = latencyMs > 1000;
          add({
            name: 'roundtrip',
            status: slow ? 'warn' : 'pass',
            detail: `an event on a private test channel came back in ${latencyMs} ms`,
            latencyMs,
            ...(slow ? { hint: 'Over a second: the server or the network is slow' } : {}),
          });
        }
      } catch (error) {
        add(failed('roundtrip', error));
      } finally {
        clearTimeout(timer);
      }
    }
  } finally {
    subscriber?.disconnect();
    broadcast?.close();
  }

  // 7. The auth route browsers post to is defined (and the channel rules compile).
  if (!config) {
    skip('auth-route', 'the config did not load');
  } else {
    try {
      const { authRoutePath } = await import('../../auth/routes.js');
      const { rulesOf } = await import('../../auth/rules.js');
      const route = authRoutePath(config);
      const rules = rulesOf(config);
      const from = config.auth?.route !== undefined ? 'from config' : 'default';
      add({
        name: 'auth-route',
        status: 'pass',
        detail: `POST ${route} (${from}); ${rules.length === 0 ? 'no channel rules: any signed-in user may join private and presence channels' : `${rules.length} channel rule${rules.length === 1 ? '' : 's'}`}`,
      });
    } catch (error) {
      add(failed('auth-route', error));
    }
  }

  const ok = !checks.some((c) => c.status === 'fail');
  if (io.json) {
    io.writeJson({ checks, ok });
  } else {
    const count = (status: CheckStatus) => checks.filter((c) => c.status === status).length;
    const parts = [`${count('pass')} passed`, count('warn') && `${count('warn')} warning${count('warn') === 1 ? '' : 's'}`, count('fail') && `${count('fail')} failed`, count('skip') && `${count('skip')} skipped`].filter(Boolean);
    io.out('');
    io.out(ok ? io.style.green(parts.join(', ')) : io.style.red(parts.join(', ')));
  }
  return ok ? 0 : 1;
}

const MARKS: Record<CheckStatus, string> = { pass: '✓', warn: '!', fail: '✗', skip: '-' };

function printCheck(ctx: Context, check: Check): void {
  const s = ctx.io.style;
  const paint = { pass: s.green, warn: s.yellow, fail: s.red, skip: s.dim }[check.status];
  ctx.io.out(`${paint(MARKS[check.status])} ${check.name.padEnd(12)} ${check.status === 'skip' ? s.dim(check.detail) : check.detail}`);
  if (check.hint) ctx.io.out(`  ${' '.repeat(12)} ${s.dim(`hint: ${check.hint}`)}`);
}

function failed(name: string, error: unknown): Check {
  const message = error instanceof Error ? error.message : String(error);
  const hint = error instanceof BroadcastError ? error.hint : undefined;
  return { name, status: 'fail', detail: message.split('\n')[0]!, ...(hint ? { hint } : {}) };
}

function ms(started: number): number {
  return Math.round(performance.now() - started);
}

/** Why fetch failed, in words: refused, host not found, timed out, … */
function networkReason(error: unknown, timeoutMs: number): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  const code = e?.cause?.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  if (code === 'ECONNRESET') return 'connection reset';
  return code ?? e?.cause?.message ?? e?.message ?? String(error);
}

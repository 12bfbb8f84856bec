/**
 * `broadcast console`: a live admin page for any Pusher-protocol server, served on this machine. It shows the
 * connection's health, the occupied channels and their counts, the events on them (it follows every occupied
 * channel, src/follow.ts), presence members, and offers an event composer and a subscription signer. It runs
 * until Ctrl-C; the page's address (with its access token) is the one stream record on stdout.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { displayPath } from '../../config/load.js';
import { ENV_VARS, secretsOf } from '../../config/schema.js';
import { UsageError } from '../../core/errors.js';
import type { FollowRecord } from '../../follow.js';
import { defineCommand } from '../command.js';
import { openBroadcast, projectDir, stoppedBy } from '../context.js';
import { formatDuration } from '../../core/duration.js';

export interface ConsoleOptions {
  port?: number;
  host?: string;
  open?: boolean;
  readOnly?: boolean;
  /** Milliseconds between two polls of GET /channels. */
  interval?: number;
  maxChannels?: number;
}

/** The one stream record: where the page is. */
export interface ListeningRecord {
  type: 'listening';
  /** The page's address, with its access token. */
  url: string;
  host: string;
  port: number;
  readOnly: boolean;
}

/** What the console did, once stopped. */
export interface ConsoleResult {
  connection: string;
  host: string;
  port: number;
  readOnly: boolean;
  /** HTTP requests answered (refused ones included). */
  requests: number;
  /** Events received on the followed channels. */
  eventsReceived: number;
  /** Events sent from the page's composer. */
  eventsSent: number;
  /** Most channels followed at once. */
  channelsFollowed: number;
  durationMs: number;
}

/** The console's defaults (also shown by --help). */
export const CONSOLE_DEFAULTS = {
  host: '127.0.0.1',
  /** 0: a free port, picked by the system. */
  port: 0,
  /** Time limit for each API call the console makes (polls, checks, sends); no retries, the next poll is one. */
  requestTimeoutMs: 5_000,
} as const;

export default defineCommand<ConsoleResult, ListeningRecord>({
  async run(ctx, options: ConsoleOptions) {
    const { io } = ctx;
    const started = Date.now();
    const host = options.host ?? CONSOLE_DEFAULTS.host;
    const port = options.port ?? CONSOLE_DEFAULTS.port;
    const readOnly = Boolean(options.readOnly);
    const { FOLLOW_DEFAULTS, followChannels } = await import('../../follow.js');
    if (host.trim() === '') throw new UsageError('--host must not be empty');
    if (port > 65535) throw new UsageError(`--port must be at most 65535, not ${port}`);
    const intervalMs = options.interval ?? FOLLOW_DEFAULTS.intervalMs;
    if (intervalMs < FOLLOW_DEFAULTS.minIntervalMs) {
      throw new UsageError(`--interval must be at least ${formatDuration(FOLLOW_DEFAULTS.minIntervalMs)}, not ${formatDuration(intervalMs)}`);
    }
    const maxChannels = options.maxChannels ?? FOLLOW_DEFAULTS.maxChannels;

    const broadcast = await openBroadcast(ctx, { timeout: CONSOLE_DEFAULTS.requestTimeoutMs, retries: 0 });
    const { name: connectionName, connection } = broadcast.resolved;
    if (connection.driver !== 'pusher') {
      broadcast.close();
      throw new UsageError(`Connection "${connectionName}" uses the ${connection.driver} driver: there is no server to watch`, {
        hint: `Set ${ENV_VARS.appId}, ${ENV_VARS.key} and ${ENV_VARS.secret} (with ${ENV_VARS.host} and ${ENV_VARS.port} for soketi or Reverb), or pick a pusher connection with --connection`,
      });
    }

    const [{ loadRegistry }, { ConsoleApp }, { startConsoleServer }, { runChecks }, { newToken, isLoopback }] = await Promise.all([
      import('../registry.js'),
      import('../console/app.js'),
      import('../console/server.js'),
      import('../console/checks.js'),
      import('../console/access.js'),
    ]);
    const registry = await loadRegistry(broadcast.config, { baseDir: projectDir(ctx, broadcast), configPath: broadcast.configPath });
    for (const e of registry.errors) io.warn(`could not load ${displayPath(e.source, ctx.cwd)}: ${e.message}`);
    const configDetail = broadcast.configPath
      ? `loaded ${displayPath(broadcast.configPath, ctx.cwd)}`
      : 'no config file; using the PUSHER_* environment variables';

    const instance = randomBytes(4).toString('hex');
    // The round-trip check's channel: the follower leaves it alone.
    const probePrefix = `private-broadcast-console-${instance}-`;
    let received = 0;
    let mostFollowed = 0;
    let pollFailing = false;
    let socketFailing = false;
    const early: FollowRecord[] = [];
    let handle: ((record: FollowRecord) => void) | undefined;
    const stop = new AbortController();
    const follower = await followChannels(broadcast, {
      intervalMs,
      maxChannels,
      ignore: (channel) => channel.startsWith(probePrefix),
      user: { id: `broadcast-console-${instance}`, info: { name: 'broadcast console' } },
      onRecord: (record) => (handle ? handle(record) : early.push(record)),
      signal: stop.signal,
    });

    const app = new ConsoleApp({ broadcast, follower, registry, configDetail, readOnly, intervalMs, maxChannels });
    let checking = false;
    const check = () => {
      if (checking) return;
      checking = true;
      runChecks({ broadcast, configDetail, probePrefix, timeoutMs: CONSOLE_DEFAULTS.requestTimeoutMs })
        .then((checks) => {
          app.checks = checks;
          const update = { type: 'checks', checks };
          server?.publish(update);
          for (const c of checks) if (c.status === 'fail') io.warn(`check ${c.name} failed: ${c.detail}`);
        })
        .finally(() => (checking = false));
    };

    let server: Awaited<ReturnType<typeof startConsoleServer>> | undefined;
    try {
      server = await startConsoleServer({
        app,
        host,
        port,
        token: newToken(),
        readOnly,
        secrets: secretsOf(connection),
        onRerunChecks: check,
      });
    } catch (error) {
      stop.abort();
      broadcast.close();
      throw error;
    }
    const live = server;
    handle = (record) => {
      switch (record.type) {
        case 'event':
          received++;
          break;
        case 'channels':
          app.poll = { ok: true, at: record.at, latencyMs: record.latencyMs };
          mostFollowed = Math.max(mostFollowed, record.channels.filter((c) => c.follow === 'following').length);
          if (pollFailing) io.note(io.errStyle.green('The server answers again.'));
          pollFailing = false;
          break;
        case 'error':
          // Once per failing stretch: the page shows each failure, stderr only the change.
          if (record.source === 'api') {
            app.poll = { ok: false, at: record.at, error: record.message };
            if (!pollFailing) io.warn(`${record.message}${record.hint ? ` (${record.hint})` : ''}; trying again every ${formatDuration(intervalMs)}`);
            pollFailing = true;
          } else {
            if (!socketFailing) io.warn(`${record.message}; connecting again at the next poll`);
            socketFailing = true;
          }
          break;
        case 'connection':
          app.connectionState = record.state;
          if (record.state === 'connected') socketFailing = false;
          break;
        case 'warning':
          app.warnings.push(record.message);
          io.warn(record.message);
          break;
      }
      live.publish(record);
    };
    for (const record of early.splice(0)) handle(record);
    check();

    const listening: ListeningRecord = { type: 'listening', url: live.url, host, port: live.port, readOnly };
    ctx.emit(listening);
    io.note(`Console for connection "${connectionName}"${readOnly ? ' (read-only)' : ''}: open the address above. Press Ctrl-C to stop.`);
    if (!isLoopback(host)) {
      io.warn(`listening on ${host}, not only on this machine: anyone who can reach it and has the address (its token) can watch${readOnly ? '' : ' and send events'}. Prefer an SSH tunnel to 127.0.0.1.`);
    }
    if (options.open) openBrowser(live.url, (message) => io.warn(`could not open a browser (${message}); open the address yourself`));

    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) return resolve();
      ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    stop.abort();
    await live.close();
    broadcast.close();
    return {
      result: {
        connection: connectionName,
        host,
        port: live.port,
        readOnly,
        requests: live.requests(),
        eventsReceived: received,
        eventsSent: app.sent,
        channelsFollowed: mostFollowed,
        durationMs: Date.now() - started,
      },
      error: stoppedBy(ctx),
    };
  },

  renderRecord(io, record) {
    io.out(record.url);
  },

  render(io, r) {
    const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
    io.note(io.errStyle.dim(`Console stopped after ${formatDuration(Math.round(r.durationMs / 1000) * 1000 || r.durationMs)}: ${plural(r.eventsReceived, 'event')} received, ${r.eventsSent} sent, ${plural(r.requests, 'request')} answered.`));
  },
});

/** Opens `url` in the default browser, without waiting for it. */
function openBrowser(url: string, onError: (message: string) => void): void {
  const [command, args] =
    process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '""', url]] : ['xdg-open', [url]];
  try {
    const child = spawn(command as string, args as string[], { detached: true, stdio: 'ignore' });
    child.on('error', (error) => onError(error.message));
    child.unref();
  } catch (error) {
    onError((error as Error).message);
  }
}

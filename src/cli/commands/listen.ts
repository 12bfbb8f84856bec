/**
 * `broadcast listen <channels>`: subscribes with pusher-js (private, presence and encrypted channels signed
 * locally with the app secret) and prints events as they arrive; NDJSON with --json. Ends on --count,
 * --timeout, SIGINT (130) or SIGTERM (143), and fails fast (exit 1) when the server cannot be used.
 */
import { randomBytes } from 'node:crypto';
import { channelType } from '../../core/channels.js';
import { openBroadcast, type Context } from '../context.js';
import { readJsonOption, splitList } from '../input.js';
import { ENV_VARS } from '../../config/schema.js';
import { BroadcastError, ConfigError, DeliveryError, ExitCode, UsageError } from '../../core/errors.js';
import type { MemberChange, ReceivedEvent, Subscriber } from '../../subscriber.js';
import { validateChannelName } from '../../core/validation.js';
import { formatDuration } from '../duration.js';

export interface ListenOptions {
  user?: string;
  userInfo?: string;
  events?: string;
  count?: number;
  /** How long to listen (ms). */
  duration?: number;
  /** The old name of --duration (ms). */
  timeout?: number;
}

/** How a listen ended, as in the last NDJSON status record. */
export type ListenEnd = 'done' | 'timeout' | 'interrupted' | 'terminated' | 'failed';

/** Give up connecting or subscribing after this long (unless --timeout is shorter). */
const CONNECT_TIMEOUT_MS = 10_000;

export default async function listen(ctx: Context, channelList: string, options: ListenOptions): Promise<number> {
  const { io } = ctx;
  // Everything the user typed is checked before connecting.
  const channels = [...new Set(splitList(channelList, 'channel').map((c) => validateChannelName(c)))];
  const events = options.events === undefined ? undefined : new Set(splitList(options.events, 'event'));
  const presence = channels.some((c) => channelType(c) === 'presence');
  if (!presence && (options.user !== undefined || options.userInfo !== undefined)) {
    throw new UsageError('--user and --user-info apply to presence channels only', {
      hint: 'Add a presence- channel to the list, or drop --user',
    });
  }
  let userInfo: unknown;
  if (options.userInfo !== undefined) {
    userInfo = await readJsonOption(ctx, options.userInfo, '--user-info');
    if (userInfo === null || typeof userInfo !== 'object' || Array.isArray(userInfo)) {
      throw new UsageError('--user-info must be a JSON object', { hint: `e.g. --user-info '{"name":"Ada"}'` });
    }
  }
  const userId = options.user !== undefined ? parseUserId(options.user) : `broadcast-cli-${randomBytes(3).toString('hex')}`;

  const broadcast = await openBroadcast(ctx);
  const { name: connectionName, connection } = broadcast.resolved;
  if (connection.driver !== 'pusher') {
    throw new UsageError(`Connection "${connectionName}" uses the ${connection.driver} driver, which has no server to listen to`, {
      hint: `Set ${ENV_VARS.appId}, ${ENV_VARS.key} and ${ENV_VARS.secret} (with ${ENV_VARS.host} and ${ENV_VARS.port} for soketi or Reverb), or pick a pusher connection with --connection`,
    });
  }
  const encrypted = channels.find((c) => channelType(c) === 'encrypted');
  if (encrypted && !connection.encryptionMasterKeyBase64) {
    throw new ConfigError(`Channel "${encrypted}" is encrypted, but connection "${connectionName}" has no encryptionMasterKeyBase64`, {
      hint: `Set ${ENV_VARS.encryptionMasterKeyBase64} (the master key the server's events are encrypted with)`,
    });
  }
  if (presence && options.user === undefined) io.note(`Joining presence channels as user ${userId} (choose with --user)`);

  const { createSubscriber } = await import('../../subscriber.js');
  const s = io.style;
  const pretty = Boolean(io.stdout.isTTY) && !io.json;
  const timeoutMs = options.duration ?? options.timeout;

  return new Promise<number>((resolve) => {
    let subscriber: Subscriber | undefined;
    let subscribed = false;
    let finished = false;
    let matched = 0;
    let deadline: NodeJS.Timeout | undefined;

    const finish = (exitCode: number, status: ListenEnd, error?: unknown) => {
      if (finished) return;
      finished = true;
      if (deadline) clearTimeout(deadline);
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigterm);
      io.stdout.off('error', onStdoutError);
      subscriber?.disconnect();
      const known = error instanceof BroadcastError ? error : undefined;
      const message = error === undefined ? undefined : error instanceof Error ? error.message : String(error);
      if (message !== undefined) {
        io.err(`${s.red('error:')} ${message}`);
        if (known?.hint) io.err(`  ${s.dim('hint:')} ${known.hint}`);
      }
      if (io.json) {
        io.writeJson({
          type: 'status',
          status,
          exitCode,
          events: matched,
          ...(message !== undefined ? { error: { message, ...(known?.hint ? { hint: known.hint } : {}) } } : {}),
        });
      } else if (status !== 'failed') {
        io.note(s.dim(`${endText(status)} after ${matched} event${matched === 1 ? '' : 's'}`));
      }
      resolve(exitCode);
    };
    const onSigint = () => finish(ExitCode.interrupted, 'interrupted');
    const onSigterm = () => finish(ExitCode.terminated, 'terminated');
    // A closed pipe (`broadcast listen … | head -1`) ends the listen quietly.
    const onStdoutError = () => {
      finished = true;
      if (deadline) clearTimeout(deadline);
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigterm);
      subscriber?.disconnect();
      resolve(ExitCode.ok);
    };
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigterm);
    io.stdout.on('error', onStdoutError);

    if (timeoutMs !== undefined) {
      deadline = setTimeout(() => {
        if (!subscribed) {
          finish(ExitCode.failed, 'failed', new DeliveryError(`Not subscribed to every channel within --duration ${formatDuration(timeoutMs)}`));
        } else if (options.count !== undefined) {
          finish(ExitCode.failed, 'timeout', new DeliveryError(`Received ${matched} of ${options.count} events within --duration ${formatDuration(timeoutMs)}`, {
            hint: events ? `Only events named ${[...events].join(', ')} count (--events)` : undefined,
          }));
        } else {
          finish(ExitCode.ok, 'timeout');
        }
      }, timeoutMs);
    }

    const onEvent = (e: ReceivedEvent) => {
      if (finished || (events && !events.has(e.event))) return;
      matched++;
      if (io.json) {
        io.writeJson({ type: 'event', channel: e.channel, event: e.event, data: e.data, receivedAt: new Date(e.receivedAt).toISOString() });
      } else {
        const data = formatData(e.data, pretty);
        io.out(`${s.dim(clock(e.receivedAt))} ${s.cyan(e.channel)} ${s.bold(e.event)}${data.startsWith('\n') ? '' : ' '}${data}`);
      }
      if (options.count !== undefined && matched >= options.count) finish(ExitCode.ok, 'done');
    };
    const onMember = (m: MemberChange) => {
      if (finished) return;
      if (io.json) {
        io.writeJson({ type: 'member', channel: m.channel, action: m.action, user: m.member, receivedAt: new Date(m.receivedAt).toISOString() });
      } else {
        const sign = m.action === 'added' ? s.green('+ joined') : s.yellow('- left');
        const info = m.member.info === undefined ? '' : ` ${formatData(m.member.info, false)}`;
        io.out(`${s.dim(clock(m.receivedAt))} ${s.cyan(m.channel)} ${sign} ${m.member.id}${info}`);
      }
    };

    const connectTimeoutMs = Math.min(CONNECT_TIMEOUT_MS, timeoutMs ?? CONNECT_TIMEOUT_MS);
    const start = async () => {
      io.note(s.dim(`Connecting (connection "${connectionName}")…`));
      const created = await createSubscriber(connection, {
        user: presence ? { id: userId, ...(userInfo !== undefined ? { info: userInfo } : {}) } : undefined,
        onEvent,
        onMember,
        onState: ({ current }) => {
          if (!subscribed || finished) return;
          const text = current === 'connecting' ? 'connection lost; reconnecting…' : current === 'connected' ? 'reconnected' : `connection: ${current}`;
          io.note(s.yellow(text));
        },
        onError: (error) => finish(ExitCode.failed, 'failed', error),
        connectTimeoutMs,
        subscribeTimeoutMs: connectTimeoutMs,
      });
      if (finished) {
        created.disconnect();
        return;
      }
      subscriber = created;
      await Promise.all(channels.map((c) => created.subscribe(c)));
      if (finished) return;
      subscribed = true;
      const members = Object.fromEntries(channels.filter((c) => channelType(c) === 'presence').map((c) => [c, created.members(c)]));
      if (io.json) {
        io.writeJson({
          type: 'status',
          status: 'subscribed',
          connection: connectionName,
          socketId: created.socketId,
          channels,
          ...(presence ? { user: { id: userId, ...(userInfo !== undefined ? { info: userInfo } : {}) }, members } : {}),
        });
      } else {
        io.note(`Listening on ${channels.join(', ')} ${s.dim(`(socket ${created.socketId})`)}`);
        for (const [channel, list] of Object.entries(members)) {
          io.note(`  ${channel}: ${list.length} member${list.length === 1 ? '' : 's'} (${list.map((m) => m.id).join(', ')})`);
        }
        const until = [
          options.count !== undefined ? `${options.count} event${options.count === 1 ? '' : 's'}` : '',
          timeoutMs !== undefined ? formatDuration(timeoutMs) : '',
        ].filter(Boolean);
        io.note(s.dim(until.length ? `Stopping after ${until.join(' or ')}; Ctrl+C to stop sooner.` : 'Press Ctrl+C to stop.'));
      }
    };
    start().catch((error: unknown) => {
      const exitCode = error instanceof BroadcastError ? error.exitCode : ExitCode.failed;
      finish(exitCode, 'failed', error);
    });
  });
}

/** A user id as most backends write it: all digits as a number, else a string (as `auth:sign` does). */
function parseUserId(value: string): string | number {
  if (value === '') throw new UsageError('--user must not be empty');
  return /^(0|[1-9]\d*)$/.test(value) && Number.isSafeInteger(Number(value)) ? Number(value) : value;
}

function endText(status: ListenEnd): string {
  switch (status) {
    case 'done':
      return 'Done';
    case 'timeout':
      return 'Timed out';
    case 'interrupted':
      return 'Interrupted';
    case 'terminated':
      return 'Terminated';
    default:
      return 'Stopped';
  }
}

/** Local time of day with milliseconds: 14:03:07.123. */
function clock(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** Data as JSON: indented on a terminal, one line otherwise (so each event stays on one line). */
function formatData(data: unknown, pretty: boolean): string {
  if (pretty && data !== null && typeof data === 'object') return `\n${JSON.stringify(data, null, 2)}`;
  return JSON.stringify(data) ?? String(data);
}

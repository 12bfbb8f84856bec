/**
 * `broadcast webhook:listen`: a local webhook receiver to point a development server's webhooks at. Each
 * POST is verified (signature with the connection's secret, age, encrypted client events decrypted with its
 * master key) by the library's own handler, and each event is streamed as a record; refused POSTs too.
 * Ends on --count, --duration or a stop signal, as `listen` does.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BroadcastError, ConfigError, UsageError } from '../../core/errors.js';
import type { WebhookApp } from '../../webhook/verify.js';
import { WEBHOOK_DEFAULTS } from '../../webhook/defaults.js';
import type { PusherWebhookEvent } from '../../webhook/events.js';
import type { WebhookRejection } from '../../webhook/handler.js';
import { defineCommand, type Outcome } from '../command.js';
import { openBroadcast, stoppedBy, type Context } from '../context.js';
import { formatDuration } from '../../core/duration.js';
import type { Io } from '../io.js';

export interface WebhookListenOptions {
  port?: number;
  host?: string;
  path?: string;
  count?: number;
  /** ms */
  duration?: number;
  /** ms */
  maxAge?: number;
}


/** How a receiver that succeeded ended: --count reached, or --duration over. */
export type WebhookListenStatus = 'done' | 'duration';

export interface WebhookListenResult {
  status?: WebhookListenStatus;
  url: string;
  /** Events received (and shown). */
  events: number;
  /** POSTs refused (bad signature, stale, not a webhook, …). */
  rejected: number;
}

/** A typed event as a record: its fields (camelCase), which app signed it, when it was sent and received. */
export type WebhookEventRecord = { type: 'event'; key: string; sentAt: string; receivedAt: string } & PusherWebhookEvent;

export type WebhookListenRecord =
  | { type: 'listening'; url: string; connection: string; key: string }
  | WebhookEventRecord
  | ({ type: 'rejected'; receivedAt: string } & WebhookRejection);

export default defineCommand<WebhookListenResult, WebhookListenRecord>({
  async run(ctx, options: WebhookListenOptions) {
    const path = options.path ?? WEBHOOK_DEFAULTS.listenPath;
    const { validateRoutePath } = await import('../../auth/routes.js');
    try {
      validateRoutePath(path, '--path', 'webhook path');
    } catch (error) {
      throw new UsageError((error as Error).message, { hint: 'e.g. --path /webhooks/pusher' });
    }
    const broadcast = await openBroadcast(ctx);
    const { name, connection } = broadcast.resolved;
    broadcast.close();
    if (connection.driver !== 'pusher') {
      throw new ConfigError(`Connection "${name}" uses the ${connection.driver} driver and has no app secret to verify webhooks with`, {
        hint: 'Set PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET, or pick a pusher connection with --connection',
      });
    }
    const app: WebhookApp = {
      key: String(connection.key),
      secret: String(connection.secret ?? ''),
      ...(connection.encryptionMasterKeyBase64 ? { encryptionMasterKeyBase64: String(connection.encryptionMasterKeyBase64) } : {}),
    };
    return receive(ctx, options, path, name, app);
  },

  render(io, { status, events, rejected }) {
    const n = `${events} event${events === 1 ? '' : 's'}${rejected ? `, ${rejected} refused` : ''}`;
    if (status) io.note(io.errStyle.dim(`${status === 'done' ? 'Done' : 'Duration reached'} after ${n}`));
    else io.note(io.errStyle.dim(`Stopped after ${n}`));
  },

  renderRecord(io, record) {
    if (record.type === 'listening') {
      io.note(`Listening for webhooks of app key ${record.key} (connection "${record.connection}") on ${io.errStyle.bold(record.url)}`);
      io.note(io.errStyle.dim('Point the server\'s webhooks at this URL; Ctrl-C to stop.'));
    } else if (record.type === 'event') io.out(eventLine(io, record));
    else io.warn(`refused a POST (HTTP ${record.status}, ${record.reason}): ${record.message}`);
  },
});

async function receive(ctx: Context, options: WebhookListenOptions, path: string, connection: string, app: WebhookApp): Promise<Outcome<WebhookListenResult>> {
  const { createWebhookHandler } = await import('../../webhook/handler.js');
  const emit = (record: WebhookListenRecord) => ctx.emit(record);
  let events = 0;
  let rejected = 0;
  let finish: (status: WebhookListenStatus | 'signal') => void = () => {};
  const ended = new Promise<WebhookListenStatus | 'signal'>((resolve) => (finish = resolve));
  const handler = createWebhookHandler({
    apps: app,
    path,
    maxAgeMs: options.maxAge ?? WEBHOOK_DEFAULTS.maxAgeMs,
    onEvent(event, context) {
      // Events past --count (in the same POST) are acknowledged but not shown.
      if (options.count !== undefined && events >= options.count) return;
      events++;
      emit({ type: 'event', key: context.key, sentAt: new Date(context.timeMs).toISOString(), receivedAt: new Date().toISOString(), ...event });
    },
    onRejected(rejection) {
      rejected++;
      emit({ type: 'rejected', receivedAt: new Date().toISOString(), ...rejection });
    },
    onError(error) {
      ctx.io.warn(error instanceof Error ? error.message : String(error));
    },
  });
  const server = createServer((req, res) => {
    void handler(req, res).then(() => {
      if (options.count !== undefined && events >= options.count) finish('done');
    });
  });
  const url = await listenOn(server, options.port ?? WEBHOOK_DEFAULTS.listenPort, options.host ?? WEBHOOK_DEFAULTS.listenHost, path);
  const timer = options.duration === undefined ? undefined : setTimeout(() => finish('duration'), options.duration);
  const onSignal = () => finish('signal');
  ctx.signal.addEventListener('abort', onSignal, { once: true });
  if (ctx.signal.aborted) finish('signal');
  try {
    emit({ type: 'listening', url, connection, key: app.key });
    const how = await ended;
    const result: WebhookListenResult = { url, events, rejected };
    if (how === 'signal') return { result, error: stoppedBy(ctx) };
    if (how === 'duration' && options.count !== undefined && events < options.count) {
      return {
        result,
        error: new BroadcastError(`Received ${events} of ${options.count} events within ${formatDuration(options.duration!)}`, {
          code: 'not_received',
          hint: 'Is the server\'s webhook URL this one, and are the event types it sends the ones you expect?',
        }),
      };
    }
    return { result: { status: how, ...result } };
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener('abort', onSignal);
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** Starts listening; the URL to give the server. A port in use is the user's to change (exit 2). */
function listenOn(server: Server, port: number, host: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') reject(new UsageError(`Port ${port} is in use on ${host}`, { hint: 'Pick another with --port (0 for any free port)' }));
      else if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') reject(new UsageError(`Cannot listen on --host ${host}: ${error.code}`));
      else reject(error);
    });
    server.listen(port, host, () => {
      const address = server.address() as AddressInfo;
      const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      resolve(`http://${shown}:${address.port}${path}`);
    });
  });
}

function eventLine(io: Io, record: WebhookEventRecord): string {
  const s = io.style;
  const parts = [s.bold(record.name), record.channel];
  if (record.name === 'member_added' || record.name === 'member_removed') parts.push(`user ${record.userId}`);
  if (record.name === 'subscription_count') parts.push(`${record.subscriptionCount} subscriptions`);
  if (record.name === 'client_event') {
    parts.push(record.event);
    if (record.userId !== undefined) parts.push(`user ${record.userId}`);
    if (record.socketId !== undefined) parts.push(`socket ${record.socketId}`);
    parts.push(record.encrypted && !record.decrypted ? s.dim('(encrypted; set PUSHER_ENCRYPTION_MASTER_KEY_BASE64 to decrypt)') : record.data);
  }
  return `${s.dim(record.receivedAt.slice(11, 23))}  ${parts.join('  ')}`;
}

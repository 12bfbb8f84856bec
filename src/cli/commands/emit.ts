/** `broadcast emit <channels> <event>`, `broadcast emit <EventClass>`, and (emit-file.ts) `broadcast emit --file`. */
import type { Broadcast, BroadcastResult, PreparedBroadcast } from '../../core/broadcast.js';
import { defineCommand, type Outcome } from '../command.js';
import { openBroadcast, projectDir, type Context, type NetworkOptions } from '../context.js';
import { readJsonOption, splitList } from '../input.js';
import type { Io } from '../io.js';
import { UsageError } from '../../core/errors.js';
import { closestName, loadRegistry } from '../registry.js';
import type { BulkEmitResult, BulkDryRunResult } from './emit-file.js';

export interface EmitOptions extends NetworkOptions {
  data: string;
  socketId?: string;
  dryRun?: boolean;
  file?: string;
  failedOut?: string;
  concurrency?: number;
  rate?: number;
  /** Send to this signed-in user (#server-to-user-<id>) instead of channels: emit-user.ts. */
  user?: string;
}

/** What a single emit sent (or, with --dry-run, would send: `delivered` false). */
export interface EmitResult extends BroadcastResult {
  dryRun: boolean;
  /** Size of the serialized data. */
  bytes: number;
}

export type EmitCommandResult = EmitResult | BulkEmitResult | BulkDryRunResult;

/** The --file half, loaded by `run` only when it is used (render needs it afterwards, synchronously). */
let bulk: typeof import('./emit-file.js') | undefined;

export default defineCommand<EmitCommandResult>({
  async run(ctx, target: string | undefined, event: string | undefined, options: EmitOptions): Promise<Outcome<EmitCommandResult>> {
    if (options.user !== undefined) return (await import('./emit-user.js')).runEmitToUser(ctx, target, event, { ...options, user: options.user });
    // --file (and the options that only go with it) belong to the bulk path.
    if (options.file !== undefined || options.failedOut !== undefined || options.concurrency !== undefined || options.rate !== undefined) {
      bulk = await import('./emit-file.js');
      return bulk.runBulk(ctx, target, event, options);
    }
    if (target === undefined) {
      throw new UsageError('Missing <target>: give channel names and an event, a registered event class, or --file', {
        hint: "broadcast emit orders order.shipped --data '{\"id\":1}'",
      });
    }
    const data = await readJsonOption(ctx, options.data, '--data');
    const broadcast = await openBroadcast(ctx, options);
    try {
      const prepared = event === undefined
        ? await prepareEventClass(ctx, broadcast, target, data, options)
        : await broadcast.prepare(splitList(target, 'channel'), event, data, { socketId: options.socketId });
      const sent = options.dryRun ? undefined : await broadcast.send(prepared);
      return { result: emitResult(broadcast, prepared, sent) };
    } finally {
      broadcast.close();
    }
  },

  render(io, result) {
    if ('file' in result) bulk!.render(io, result);
    else renderSingle(io, result);
  },
});

function emitResult(broadcast: Broadcast, prepared: PreparedBroadcast, sent: BroadcastResult | undefined): EmitResult {
  return {
    dryRun: sent === undefined,
    connection: broadcast.connectionName,
    driver: broadcast.resolved.connection.driver,
    delivered: sent?.delivered ?? false,
    event: prepared.event,
    channels: prepared.channels,
    skipped: prepared.skipped,
    requests: prepared.requests.length,
    ...(prepared.socketId ? { socketId: prepared.socketId } : {}),
    bytes: prepared.bytes,
    data: prepared.data,
  };
}

async function prepareEventClass(
  ctx: Context,
  broadcast: Broadcast,
  name: string,
  data: unknown,
  options: EmitOptions,
): Promise<PreparedBroadcast> {
  const registry = await loadRegistry(broadcast.config, { baseDir: projectDir(ctx, broadcast), configPath: broadcast.configPath });
  const found = registry.events.find((e) => e.name === name);
  if (!found) {
    for (const e of registry.errors) ctx.io.warn(`could not load ${e.source}: ${e.message}`);
    const suggestion = closestName(name, registry.events.map((e) => e.name));
    throw new UsageError(`"${name}" is not a registered event${suggestion ? `; did you mean ${suggestion}?` : ''}`, {
      hint: `To send to a channel instead, name the event too: broadcast emit ${name} <event> --data '{...}'` +
        (registry.events.length ? ` (registered: ${registry.events.map((e) => e.name).join(', ')})` : ' (no events are registered; see `broadcast events`)'),
    });
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new UsageError(`--data for event ${name} must be a JSON object (its properties become the event's)`);
  }
  let instance;
  try {
    instance = new found.eventClass(data);
  } catch (error) {
    throw new UsageError(`Could not create ${name} from --data: ${(error as Error).message}`, { cause: error });
  }
  return broadcast.prepare(instance, { socketId: options.socketId });
}

function renderSingle(io: Io, r: EmitResult): void {
  const s = io.style;
  const channels = listChannels(r.channels);
  const requests = `${r.requests} request${r.requests === 1 ? '' : 's'}`;
  if (r.dryRun) {
    io.out(`${s.cyan('dry run:')} would send ${s.bold(r.event)} to ${channels} (${requests}, ${r.bytes} bytes, connection "${r.connection}")`);
    io.out(JSON.stringify(r.data));
  } else if (r.driver === 'pusher') {
    io.out(`${s.green('✓')} sent ${s.bold(r.event)} to ${channels} (${requests}, connection "${r.connection}")`);
  } else if (r.driver === 'null') {
    io.out(`discarded ${s.bold(r.event)} for ${channels} (connection "${r.connection}")`);
  }
  // The log driver has already written the event, as the command ran.
  for (const { channel, reason } of r.skipped) io.warn(`skipped ${channel}: ${reason}`);
  if (r.dryRun) return;
  if (r.driver === 'log') {
    io.note(
      `note: connection "${r.connection}" only prints events; nothing was delivered. ` +
        'Set PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET (with PUSHER_HOST and PUSHER_PORT for soketi or Reverb) to deliver.',
    );
  } else if (r.driver === 'null') {
    io.note(`note: connection "${r.connection}" discards events; nothing was delivered.`);
  }
}

function listChannels(channels: string[]): string {
  const shown = channels.slice(0, 5).join(', ');
  return channels.length > 5 ? `${shown} and ${channels.length - 5} more` : shown || '(no channels)';
}

/** `broadcast emit <channels> <event>` and `broadcast emit <EventClass>`. */
import type { Broadcast, BroadcastResult, PreparedBroadcast } from '../../core/broadcast.js';
import { openBroadcast, projectDir, type Context, type NetworkOptions } from '../context.js';
import { readJsonOption, splitList } from '../input.js';
import { UsageError } from '../../core/errors.js';
import { closestName, loadRegistry } from '../registry.js';

export interface EmitOptions extends NetworkOptions {
  data: string;
  socketId?: string;
  dryRun?: boolean;
  file?: string;
  failedOut?: string;
  concurrency?: number;
  rate?: number;
}

export default async function emit(ctx: Context, target: string | undefined, event: string | undefined, options: EmitOptions): Promise<number> {
  // --file (and the options that only go with it) belong to the bulk path.
  if (options.file !== undefined || options.failedOut !== undefined || options.concurrency !== undefined || options.rate !== undefined) {
    return (await import('./emit-file.js')).default(ctx, target, event, options);
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
    if (options.dryRun) {
      report(ctx, broadcast, prepared, undefined);
      return 0;
    }
    const result = await broadcast.send(prepared);
    report(ctx, broadcast, prepared, result);
    return 0;
  } finally {
    broadcast.close();
  }
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

function report(ctx: Context, broadcast: Broadcast, prepared: PreparedBroadcast, result: BroadcastResult | undefined): void {
  const { io } = ctx;
  const { driver } = broadcast.resolved.connection;
  if (io.json) {
    io.writeJson({
      ok: true,
      dryRun: result === undefined,
      connection: broadcast.connectionName,
      driver,
      delivered: result?.delivered ?? false,
      event: prepared.event,
      channels: prepared.channels,
      skipped: prepared.skipped,
      requests: prepared.requests.length,
      ...(prepared.socketId ? { socketId: prepared.socketId } : {}),
      bytes: prepared.bytes,
      data: prepared.data,
    });
  } else {
    const s = io.style;
    const channels = listChannels(prepared.channels);
    const requests = `${prepared.requests.length} request${prepared.requests.length === 1 ? '' : 's'}`;
    if (result === undefined) {
      io.out(`${s.cyan('dry run:')} would send ${s.bold(prepared.event)} to ${channels} (${requests}, ${prepared.bytes} bytes, connection "${broadcast.connectionName}")`);
      io.out(JSON.stringify(prepared.data));
    } else if (driver === 'pusher') {
      io.out(`${s.green('✓')} sent ${s.bold(prepared.event)} to ${channels} (${requests}, connection "${broadcast.connectionName}")`);
    } else {
      io.out(`${s.bold(prepared.event)} → ${channels}`);
      io.out(JSON.stringify(prepared.data));
    }
    for (const { channel, reason } of prepared.skipped) io.warn(`skipped ${channel}: ${reason}`);
  }
  if (result && driver === 'log') {
    io.note(
      `note: connection "${broadcast.connectionName}" only prints events; nothing was delivered. ` +
        'Set PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET (with PUSHER_HOST and PUSHER_PORT for soketi or Reverb) to deliver.',
    );
  } else if (result && driver === 'null') {
    io.note(`note: connection "${broadcast.connectionName}" discards events; nothing was delivered.`);
  }
}

function listChannels(channels: string[]): string {
  const shown = channels.slice(0, 5).join(', ');
  return channels.length > 5 ? `${shown} and ${channels.length - 5} more` : shown || '(no channels)';
}

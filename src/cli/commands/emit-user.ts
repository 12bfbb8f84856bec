/**
 * `broadcast emit --user <id> <event>`: an event to every connection signed in as a user, on
 * `#server-to-user-<id>`. Its result has the shape of a single emit, the channel being the user's.
 */
import { prepareUserMessage, sendUserMessage } from '../../auth/users.js';
import { UsageError } from '../../core/errors.js';
import type { Outcome } from '../command.js';
import { openBroadcast, type Context } from '../context.js';
import { readJsonOption } from '../input.js';
import { refuseUnconfiguredInCi, type EmitOptions, type EmitResult } from './emit.js';

export async function runEmitToUser(
  ctx: Context,
  event: string | undefined,
  extra: string | undefined,
  options: EmitOptions & { user: string },
): Promise<Outcome<EmitResult>> {
  const bulkFlag = (['file', 'failedOut', 'concurrency', 'rate'] as const).find((name) => options[name] !== undefined);
  if (bulkFlag) {
    const flag = `--${bulkFlag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    throw new UsageError(`--user and ${flag} cannot go together: --file names each event's channels in the file`);
  }
  if (event === undefined) {
    throw new UsageError('Missing <event>: with --user, give only the event name', { hint: `broadcast emit --user ${options.user} order.shipped --data '{"id":1}'` });
  }
  if (extra !== undefined) {
    throw new UsageError(`With --user, give only the event name, not channels: got "${event}" and "${extra}"`, {
      hint: `broadcast emit --user ${options.user} ${extra}`,
    });
  }
  const data = options.data === undefined ? {} : await readJsonOption(ctx, options.data, '--data');
  const broadcast = await openBroadcast(ctx, options);
  try {
    refuseUnconfiguredInCi(ctx, broadcast, options);
    const message = prepareUserMessage(broadcast, options.user, event, data, options.socketId === undefined ? {} : { socketId: options.socketId });
    const sent = options.dryRun ? undefined : await sendUserMessage(broadcast, message);
    return {
      result: {
        dryRun: sent === undefined,
        connection: broadcast.connectionName,
        driver: broadcast.resolved.connection.driver,
        delivered: sent?.delivered ?? false,
        event: message.event,
        channels: [message.channel],
        skipped: [],
        requests: 1,
        ...(message.socketId ? { socketId: message.socketId } : {}),
        bytes: message.bytes,
        data: message.data,
        warnings: [],
      },
    };
  } finally {
    broadcast.close();
  }
}

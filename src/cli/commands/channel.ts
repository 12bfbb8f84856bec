/** `broadcast channel <name>`: whether a channel is occupied, and its counts (HTTP API `GET /channels/<name>`). */
import { channelType } from '../../core/channels.js';
import { UsageError } from '../../core/errors.js';
import { validateChannelName } from '../../core/validation.js';
import { defineCommand } from '../command.js';
import { openBroadcast, type NetworkOptions } from '../context.js';
import { channelAttributes, parseInfo, type ChannelSummary } from './channels.js';

export interface ChannelOptions extends NetworkOptions {
  info?: string;
}

export interface ChannelResult extends ChannelSummary {
  connection: string;
  occupied: boolean;
}

export default defineCommand<ChannelResult>({
  async run(ctx, name: string, options: ChannelOptions) {
    validateChannelName(name);
    const info = parseInfo(options.info);
    if (info.includes('user_count') && channelType(name) !== 'presence') {
      throw new UsageError(`--info user_count applies to presence channels only; "${name}" is a ${channelType(name)} channel`, {
        hint: 'Use --info subscription_count for the number of connections',
      });
    }
    const broadcast = await openBroadcast(ctx, options);
    try {
      const body = await broadcast.driver.get<Record<string, unknown>>(`/channels/${name}`, info.length > 0 ? { info: info.join(',') } : {});
      return { result: { connection: broadcast.connectionName, name, occupied: body?.occupied === true, ...channelAttributes(body) } };
    } finally {
      broadcast.close();
    }
  },

  render(io, result) {
    const s = io.style;
    io.out(`${s.bold(result.name)}  ${result.occupied ? s.green('occupied') : s.dim('not occupied')}`);
    const labels = { userCount: 'users', subscriptionCount: 'subscriptions', cache: 'cache' } as const;
    for (const key of Object.keys(labels) as (keyof typeof labels)[]) {
      if (result[key] !== undefined) io.out(`  ${labels[key].padEnd(20)} ${typeof result[key] === 'object' ? JSON.stringify(result[key]) : String(result[key])}`);
    }
  },
});

/** `broadcast channel <name>`: whether a channel is occupied, and its counts (HTTP API `GET /channels/<name>`). */
import { CACHE_PREFIXES, channelType, isCacheChannel } from '../../core/channels.js';
import { UsageError } from '../../core/errors.js';
import { validateChannelName } from '../../core/validation.js';
import { defineCommand } from '../command.js';
import { openBroadcast, type NetworkOptions } from '../context.js';
import { channelSummary, describeCache, parseInfo, type ChannelSummary } from './channels.js';

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
    if (info.includes('cache') && !isCacheChannel(name)) {
      throw new UsageError(`--info cache applies to cache channels only; "${name}" is not one`, {
        hint: `Cache channels are named ${CACHE_PREFIXES.map((p) => `${p}…`).join(', ')}`,
      });
    }
    const broadcast = await openBroadcast(ctx, options);
    try {
      const body = await broadcast.driver.get<Record<string, unknown>>(`/channels/${name}`, info.length > 0 ? { info: info.join(',') } : {});
      if (info.includes('cache') && !(body && 'cache' in body)) {
        // Reverb leaves `cache` out when nothing is cached; soketi 1.6 never reports it.
        ctx.io.note('note: the server reported no cached event: nothing is cached, or it does not answer --info cache (soketi 1.6 does not)');
      }
      return { result: { connection: broadcast.connectionName, occupied: body?.occupied === true, ...channelSummary(name, body) } };
    } finally {
      broadcast.close();
    }
  },

  render(io, result) {
    const s = io.style;
    const marker = result.cacheChannel ? `  ${s.cyan('cache channel')}` : '';
    io.out(`${s.bold(result.name)}  ${result.occupied ? s.green('occupied') : s.dim('not occupied')}${marker}`);
    if (result.userCount !== undefined) io.out(`  ${'users'.padEnd(20)} ${result.userCount}`);
    if (result.subscriptionCount !== undefined) io.out(`  ${'subscriptions'.padEnd(20)} ${result.subscriptionCount}`);
    if ('cache' in result) io.out(`  ${'cached event'.padEnd(20)} ${describeCache(result.cache)}`);
  },
});

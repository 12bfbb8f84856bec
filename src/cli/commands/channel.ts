/** `broadcast channel <name>`: whether a channel is occupied, and its counts (HTTP API `GET /channels/<name>`). */
import { channelType } from '../../core/channels.js';
import { openBroadcast, type Context, type NetworkOptions } from '../context.js';
import { UsageError } from '../../core/errors.js';
import { validateChannelName } from '../../core/validation.js';
import { parseInfo } from './channels.js';

export interface ChannelOptions extends NetworkOptions {
  info?: string;
}

export default async function channel(ctx: Context, name: string, options: ChannelOptions): Promise<number> {
  const { io } = ctx;
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
    const { occupied, ...attributes } = body ?? {};
    const result = { name, occupied: occupied === true, ...attributes };
    if (io.json) {
      io.writeJson(result);
      return 0;
    }
    const s = io.style;
    io.out(`${s.bold(name)}  ${result.occupied ? s.green('occupied') : s.dim('not occupied')}`);
    for (const [key, value] of Object.entries(attributes)) io.out(`  ${key.padEnd(20)} ${String(value)}`);
    return 0;
  } finally {
    broadcast.close();
  }
}

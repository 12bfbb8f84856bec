/** `broadcast channels`: the occupied channels (HTTP API `GET /channels`). */
import { channelAttributes, isCacheChannel, type ChannelAttributes } from '../../core/channels.js';
import { UsageError } from '../../core/errors.js';
import { channelNameProblem } from '../../core/validation.js';
import { defineCommand } from '../command.js';
import { openBroadcast, type NetworkOptions } from '../context.js';
import { splitList } from '../input.js';
import { printTable } from '../table.js';

export interface ChannelsOptions extends NetworkOptions {
  prefix?: string;
  info?: string;
}

/** One occupied channel: its name, whether it is a cache channel, and the attributes asked for with --info. */
export interface ChannelSummary extends ChannelAttributes {
  name: string;
  /** A cache channel (`cache-`, `private-cache-`, `private-encrypted-cache-`, `presence-cache-`), from its name. */
  cacheChannel: boolean;
}

export interface ChannelsResult {
  connection: string;
  prefix: string | null;
  channels: ChannelSummary[];
}

/** Attributes the HTTP API can add to channel info. */
export const INFO_ATTRIBUTES = ['user_count', 'subscription_count', 'cache'] as const;

/** Parses `--info a,b`, refusing attributes the API does not know. */
export function parseInfo(value: string | undefined): string[] {
  if (value === undefined) return [];
  const attributes = [...new Set(splitList(value, '--info'))];
  const unknown = attributes.filter((a) => !(INFO_ATTRIBUTES as readonly string[]).includes(a));
  if (unknown.length > 0) {
    throw new UsageError(`Unknown --info attribute${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`, {
      hint: `Known attributes: ${INFO_ATTRIBUTES.join(', ')}`,
    });
  }
  return attributes;
}

/** A channel's summary from the server's attributes for it. */
export function channelSummary(name: string, attributes: Record<string, unknown> | undefined): ChannelSummary {
  return { name, cacheChannel: isCacheChannel(name), ...channelAttributes(attributes) };
}

/**
 * A cache channel's cached event as one line: `price.updated {"eur":1.1} (expires in 1800 s)`. Servers give it
 * as `{event, data, ttl}` (`data` a JSON string) or as the event Reverb stored; `null` means nothing is cached.
 */
export function describeCache(cache: unknown): string {
  if (cache === null) return 'nothing cached';
  if (typeof cache !== 'object' || Array.isArray(cache)) return JSON.stringify(cache);
  const { event, data, ttl } = cache as { event?: unknown; data?: unknown; ttl?: unknown };
  if (typeof event !== 'string') return JSON.stringify(cache);
  const shown = typeof data === 'string' ? data : JSON.stringify(data ?? null);
  const clipped = shown.length > 120 ? `${shown.slice(0, 120)}…` : shown;
  return `${event} ${clipped}${typeof ttl === 'number' ? ` (expires in ${ttl} s)` : ''}`;
}

interface ChannelsResponse {
  channels?: Record<string, Record<string, unknown>>;
}

export default defineCommand<ChannelsResult>({
  async run(ctx, options: ChannelsOptions) {
    const info = parseInfo(options.info);
    if (options.prefix !== undefined) {
      const problem = options.prefix === '' ? 'it is empty' : channelNameProblem(options.prefix);
      if (problem) throw new UsageError(`Invalid --prefix ${JSON.stringify(options.prefix)}: ${problem}`);
    }
    if (info.includes('user_count') && !options.prefix?.startsWith('presence-')) {
      throw new UsageError('--info user_count needs --prefix presence- (only presence channels have users)', {
        hint: 'broadcast channels --prefix presence- --info user_count',
      });
    }
    const broadcast = await openBroadcast(ctx, options);
    try {
      const params: Record<string, string> = {};
      if (options.prefix !== undefined) params.filter_by_prefix = options.prefix;
      if (info.length > 0) params.info = info.join(',');
      const body = await broadcast.driver.get<ChannelsResponse>('/channels', params);
      const channels = Object.entries(body?.channels ?? {})
        .map(([name, attributes]) => channelSummary(name, attributes))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      return { result: { connection: broadcast.connectionName, prefix: options.prefix ?? null, channels } };
    } finally {
      broadcast.close();
    }
  },

  render(io, { channels, prefix }) {
    if (channels.length === 0) {
      io.note(`No occupied channels${prefix !== null ? ` starting with ${prefix}` : ''}.`);
      return;
    }
    const columns = (['userCount', 'subscriptionCount', 'cache'] as const).filter((k) => channels.some((c) => c[k] !== undefined));
    const header = { userCount: 'users', subscriptionCount: 'subscriptions', cache: 'cached event' };
    const cell = (c: ChannelSummary, k: (typeof columns)[number]) => (c[k] === undefined ? '' : k === 'cache' ? describeCache(c.cache) : String(c[k]));
    // The kind column only when a cache channel is listed: the other kinds are plain from the names' prefixes.
    const kind = channels.some((c) => c.cacheChannel);
    printTable(
      io,
      ['channel', ...(kind ? ['kind'] : []), ...columns.map((k) => header[k])],
      channels.map((c) => [c.name, ...(kind ? [c.cacheChannel ? 'cache' : ''] : []), ...columns.map((k) => cell(c, k))]),
    );
    io.note(io.errStyle.dim(`${channels.length} occupied channel${channels.length === 1 ? '' : 's'}`));
  },
});

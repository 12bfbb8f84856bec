/** `broadcast channels`: the occupied channels (HTTP API `GET /channels`). */
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

/** One occupied channel: its name and the attributes asked for with --info. */
export interface ChannelSummary {
  name: string;
  userCount?: number;
  subscriptionCount?: number;
  cache?: unknown;
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

/** The HTTP API's snake_case channel attributes as the CLI's camelCase fields (`occupied` dropped: implied). */
export function channelAttributes(attributes: Record<string, unknown> | undefined): Omit<ChannelSummary, 'name'> {
  const out: Omit<ChannelSummary, 'name'> = {};
  if (typeof attributes?.user_count === 'number') out.userCount = attributes.user_count;
  if (typeof attributes?.subscription_count === 'number') out.subscriptionCount = attributes.subscription_count;
  if (attributes?.cache !== undefined) out.cache = attributes.cache;
  return out;
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
        .map(([name, attributes]) => ({ name, ...channelAttributes(attributes) }))
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
    const header = { userCount: 'users', subscriptionCount: 'subscriptions', cache: 'cache' };
    printTable(io, ['channel', ...columns.map((k) => header[k])], channels.map((c) => [c.name, ...columns.map((k) => String(c[k] ?? ''))]));
    io.note(io.errStyle.dim(`${channels.length} occupied channel${channels.length === 1 ? '' : 's'}`));
  },
});

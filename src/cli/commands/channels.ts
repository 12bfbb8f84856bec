/** `broadcast channels`: the occupied channels (HTTP API `GET /channels`), as a table or JSON. */
import { openBroadcast, type Context, type NetworkOptions } from '../context.js';
import { splitList } from '../input.js';
import { UsageError } from '../../core/errors.js';
import { channelNameProblem } from '../../core/validation.js';

export interface ChannelsOptions extends NetworkOptions {
  prefix?: string;
  info?: string;
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

interface ChannelsResponse {
  channels?: Record<string, Record<string, unknown>>;
}

export default async function channels(ctx: Context, options: ChannelsOptions): Promise<number> {
  const { io } = ctx;
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
    const list = Object.entries(body?.channels ?? {})
      .map(([name, attributes]) => {
        // Every listed channel is occupied; some servers (soketi) say so anyway.
        const { occupied: _occupied, ...rest } = attributes ?? {};
        return { name, ...rest };
      })
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (io.json) {
      io.writeJson({ channels: list });
      return 0;
    }
    if (list.length === 0) {
      io.note(`No occupied channels${options.prefix !== undefined ? ` starting with ${options.prefix}` : ''}.`);
      return 0;
    }
    const columns = [...new Set(list.flatMap((c) => Object.keys(c).filter((k) => k !== 'name')))];
    const rows = list.map((c) => [c.name, ...columns.map((k) => String((c as Record<string, unknown>)[k] ?? ''))]);
    printTable(ctx, ['channel', ...columns], rows);
    io.note(io.style.dim(`${list.length} occupied channel${list.length === 1 ? '' : 's'}`));
    return 0;
  } finally {
    broadcast.close();
  }
}

/** A plain aligned table: a bold header, then one row per line. */
export function printTable(ctx: Context, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  ctx.io.out(ctx.io.style.bold(line(header)));
  for (const row of rows) ctx.io.out(line(row));
}

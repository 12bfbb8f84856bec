/** `broadcast users <presence-channel>`: the members of a presence channel (HTTP API `GET /channels/<name>/users`). */
import { channelType } from '../../core/channels.js';
import { openBroadcast, type Context, type NetworkOptions } from '../context.js';
import { UsageError } from '../../core/errors.js';
import { validateChannelName } from '../../core/validation.js';

interface UsersResponse {
  users?: { id: string | number }[];
}

export default async function users(ctx: Context, name: string, options: NetworkOptions): Promise<number> {
  const { io } = ctx;
  validateChannelName(name);
  const type = channelType(name);
  if (type !== 'presence') {
    throw new UsageError(`"${name}" is a ${type} channel: only presence channels have a member list`, {
      hint: `Presence channel names start with presence-; for the number of connections use: broadcast channel ${name} --info subscription_count`,
    });
  }
  const broadcast = await openBroadcast(ctx, options);
  try {
    const body = await broadcast.driver.get<UsersResponse>(`/channels/${name}/users`);
    const list = (body?.users ?? []).map((u) => ({ id: u.id }));
    if (io.json) {
      io.writeJson({ channel: name, users: list });
      return 0;
    }
    for (const user of list) io.out(String(user.id));
    io.note(io.style.dim(list.length === 0 ? `No members in ${name}.` : `${list.length} member${list.length === 1 ? '' : 's'} in ${name}`));
    return 0;
  } finally {
    broadcast.close();
  }
}

/** `broadcast users <presence-channel>`: the members of a presence channel (HTTP API `GET /channels/<name>/users`). */
import { channelType } from '../../core/channels.js';
import { UsageError } from '../../core/errors.js';
import { validateChannelName } from '../../core/validation.js';
import { defineCommand } from '../command.js';
import { openBroadcast, type NetworkOptions } from '../context.js';

export interface UsersResult {
  connection: string;
  channel: string;
  /** Member ids, always strings (the HTTP API may give numbers). */
  users: { id: string }[];
}

interface UsersResponse {
  users?: { id: string | number }[];
}

export default defineCommand<UsersResult>({
  async run(ctx, name: string, options: NetworkOptions) {
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
      const users = (body?.users ?? []).map((u) => ({ id: String(u.id) }));
      return { result: { connection: broadcast.connectionName, channel: name, users } };
    } finally {
      broadcast.close();
    }
  },

  render(io, { channel, users }) {
    for (const user of users) io.out(user.id);
    io.note(io.errStyle.dim(users.length === 0 ? `No members in ${channel}.` : `${users.length} member${users.length === 1 ? '' : 's'} in ${channel}`));
  },
});

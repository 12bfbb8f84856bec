/**
 * `broadcast users:terminate <user-id> --force`: closes every connection signed in as a user (HTTP API
 * `POST /users/<id>/terminate_connections`). Refuses without --force: it disconnects a real person.
 */
import { terminateUserConnections, validateUserId, type TerminateResult } from '../../auth/users.js';
import { UsageError } from '../../core/errors.js';
import { defineCommand } from '../command.js';
import { openBroadcast, type NetworkOptions } from '../context.js';

export interface UsersTerminateOptions extends NetworkOptions {
  force?: boolean;
}

export default defineCommand<TerminateResult>({
  async run(ctx, userId: string, options: UsersTerminateOptions) {
    validateUserId(userId);
    if (!options.force) {
      throw new UsageError(`This disconnects every connection signed in as user ${userId}: add --force to do it`, {
        hint: `broadcast users:terminate ${userId} --force`,
      });
    }
    const broadcast = await openBroadcast(ctx, options);
    try {
      return { result: await terminateUserConnections(broadcast, userId) };
    } finally {
      broadcast.close();
    }
  },

  render(io, { userId, connection }) {
    io.out(`${io.style.green('✓')} asked the server to close the connections of user ${userId} (connection "${connection}")`);
    io.note(io.errStyle.dim('Only connections that signed in (pusher-js signin()) carry a user id; others are not affected.'));
  },
});

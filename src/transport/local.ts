/** The `log` driver prints events instead of sending them; the `null` driver discards them. */
import { UsageError } from '../core/errors.js';
import type { Driver, EventLogger } from './types.js';

const defaultLogger: EventLogger = (record) => {
  process.stderr.write(`[broadcast:log] ${record.event} → ${record.channels.join(', ')} ${JSON.stringify(record.data)}\n`);
};

export function createLocalDriver(driver: 'log' | 'null', logger: EventLogger = defaultLogger): Driver {
  const log = driver === 'log' ? logger : () => {};
  return {
    driver,
    delivers: false,
    async trigger({ channels, event, data, socketId }) {
      log({ channels, event, data, socketId });
    },
    async triggerBatch(events) {
      for (const e of events) log({ channels: [e.channel], event: e.event, data: e.data, socketId: e.socketId });
    },
    async get() {
      throw new UsageError(`The "${driver}" connection has no server to ask`, {
        hint: 'Configure a pusher connection (PUSHER_APP_ID, PUSHER_APP_KEY, PUSHER_APP_SECRET, PUSHER_HOST, PUSHER_PORT)',
      });
    },
    close() {},
  };
}

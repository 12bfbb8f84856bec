/** The `log` driver writes each event instead of sending it; the `null` driver discards them. */
import { UsageError } from '../core/errors.js';
import type { Driver, EventLogger, LoggedEvent } from './types.js';

/** How the log driver shows an event, one line: `order.shipped → orders, private-x {"id":1}`. */
export function formatLoggedEvent(record: LoggedEvent): string {
  return `${record.event} → ${record.channels.join(', ')} ${JSON.stringify(record.data)}`;
}

/** Where the log driver writes when it is given nothing: standard error, so an app's stdout stays its own. */
const toStderr: EventLogger = (line) => {
  process.stderr.write(`${line}\n`);
};

export function createLocalDriver(driver: 'log' | 'null', logger: EventLogger = toStderr): Driver {
  const write = typeof logger === 'function' ? logger : (line: string) => void logger.write(`${line}\n`);
  const log = driver === 'log' ? (record: LoggedEvent) => write(formatLoggedEvent(record)) : () => {};
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

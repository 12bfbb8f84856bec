import type { Connection } from '../config/schema.js';
import { createLocalDriver } from './local.js';
import { createPusherDriver, type PusherDriverOptions } from './pusher.js';
import type { Driver, EventLogger } from './types.js';

export type { Driver, TriggerRequest, BatchEvent, TriggerAnswer, BatchAnswer, RawChannelInfo, EventLogger, LoggedEvent } from './types.js';
export { deliver, deliveryError, type Delivery } from './deliver.js';
export { formatLoggedEvent } from './local.js';

/** The driver for a connection: `pusher` sends over the HTTP API; `log` writes each event to `logger`; `null` discards. */
export function createDriver(
  name: string,
  connection: Connection,
  options: PusherDriverOptions & { logger?: EventLogger } = {},
): Driver {
  return connection.driver === 'pusher'
    ? createPusherDriver(name, connection, options)
    : createLocalDriver(connection.driver, options.logger);
}

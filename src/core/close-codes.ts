/**
 * What WebSocket close codes (and `pusher:error` codes) from a Pusher-protocol server usually mean, and what
 * to do about them: the one table `listen`, `doctor` and the subscriber use. Pusher's protocol splits its own
 * codes in ranges that tell clients what to do: 4000-4099 do not reconnect, 4100-4199 reconnect after a
 * back-off, 4200-4299 reconnect at once, 4300-4399 other errors. Codes below 4000 are WebSocket's own (RFC 6455).
 */
import { ENV_VARS } from '../config/schema.js';

/** What the protocol tells a client (pusher-js, Laravel Echo) to do after the close. */
export type CloseReconnect = 'never' | 'after-backoff' | 'immediately';

/** A close code explained. */
export interface CloseCodeInfo {
  code: number;
  /** What the code usually means, in a few words. */
  meaning: string;
  /** What to check or change. */
  hint: string;
  /** Whether pusher-js reconnects after this code, as the protocol says it should. */
  reconnect: CloseReconnect;
}

type Entry = Omit<CloseCodeInfo, 'code' | 'reconnect'>;

const PROTOCOL_VERSION_HINT = 'The client and the server speak different versions of the Pusher protocol: update pusher-js or the server';

/** The codes a person runs into, each with its usual cause. */
const CODES: Record<number, Entry> = {
  1000: { meaning: 'normal closure', hint: 'The server closed the connection on purpose; pusher-js reconnects' },
  1001: { meaning: 'going away: the server is shutting down or restarting', hint: 'pusher-js reconnects once the server is back' },
  1006: {
    meaning: 'closed abnormally, without a close frame: the network or the server dropped the connection',
    hint: 'Check the network path (proxies and load balancers with idle timeouts) and the server\'s log',
  },
  4000: {
    meaning: 'SSL only: the app accepts encrypted connections only',
    hint: `Connect over TLS: set ${ENV_VARS.scheme}=https (pusher-js retries with TLS by itself)`,
  },
  4001: {
    meaning: 'app does not exist: the server knows no app with this key',
    hint: `Check ${ENV_VARS.key}: it must be the app's key, not its app id (a common mix-up), and the server must have that app`,
  },
  4003: { meaning: 'app disabled', hint: 'Enable the app on the server (soketi: the app\'s `enabled` flag; Pusher Channels: the dashboard)' },
  4004: {
    meaning: 'over connection quota: the app has as many connections as it may',
    hint: 'Close other connections, or raise the app\'s connection limit (soketi: max_connections; Pusher Channels: the plan)',
  },
  4005: {
    meaning: 'path not found: the server has no WebSocket endpoint at this path',
    hint: `Check that ${ENV_VARS.host} and ${ENV_VARS.port} point at the WebSocket server itself, not at a web app or a proxy that rewrites paths`,
  },
  4006: { meaning: 'invalid version: the server does not support this protocol version', hint: PROTOCOL_VERSION_HINT },
  4007: { meaning: 'unsupported protocol: the server does not support this client\'s protocol', hint: PROTOCOL_VERSION_HINT },
  4008: { meaning: 'no protocol: the client did not say which protocol version it speaks', hint: PROTOCOL_VERSION_HINT },
  4009: {
    meaning: 'unauthorized: the connection was not authorized in time',
    hint:
      'The server requires user sign-in (pusher:signin) or authorized connections within a time limit (soketi: ' +
      'SOKETI_DEFAULT_APP_USER_AUTHENTICATION and SOKETI_USER_AUTHENTICATION_TIMEOUT; Laravel Echo signs in through ' +
      '/broadcasting/user-auth). broadcast listen signs in with --user <id> --sign-in; doctor does not sign in',
  },
  4100: { meaning: 'over capacity: the server is temporarily full', hint: 'Clients reconnect after a back-off; if it lasts, the server needs more capacity' },
  4200: { meaning: 'generic reconnect: the server asked the client to reconnect', hint: 'Usually a server restart or rebalancing; pusher-js reconnects at once' },
  4201: {
    meaning: 'pong not received: the client did not answer the server\'s ping in time',
    hint: 'The client was blocked (a busy event loop) or the network dropped packets; pusher-js reconnects at once',
  },
  4202: {
    meaning: 'closed after inactivity: nothing was sent on the connection for too long',
    hint: 'pusher-js pings on its own; a proxy that buffers or drops idle connections can cause this',
  },
  4301: {
    meaning: 'client event rejected: client events are disabled for the app, or sent too fast',
    hint: 'Enable client events for the app (soketi: SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES; Pusher Channels: app settings) and send at most 10 a second per connection',
  },
};

/** What a code in a range means when the table has no entry for it. */
function rangeEntry(code: number): Entry {
  if (code >= 4000 && code <= 4099) return { meaning: 'the server refused the connection', hint: 'Do not reconnect until the cause is fixed: check the app key and the server\'s settings' };
  if (code >= 4100 && code <= 4199) return { meaning: 'a temporary server error', hint: 'Clients reconnect after a back-off' };
  if (code >= 4200 && code <= 4299) return { meaning: 'the server asked the client to reconnect', hint: 'pusher-js reconnects at once' };
  if (code >= 4300 && code <= 4399) return { meaning: 'a Pusher protocol error', hint: 'Check the server\'s log for the cause' };
  if (code < 4000) return { meaning: 'a WebSocket close (RFC 6455)', hint: 'Check the network path and the server\'s log' };
  return { meaning: 'a server-specific close code', hint: 'Check the server\'s documentation and log' };
}

/** What pusher-js does after a close with this code (its `getCloseAction`). */
function reconnectOf(code: number): CloseReconnect {
  if (code === 4000 || (code >= 4200 && code <= 4299)) return 'immediately';
  if (code > 4000 && code <= 4099) return 'never';
  if (code >= 4300) return 'never';
  return 'after-backoff';
}

/** A close code explained: from the table, else from its range. */
export function explainCloseCode(code: number): CloseCodeInfo {
  return { code, ...(CODES[code] ?? rangeEntry(code)), reconnect: reconnectOf(code) };
}

/** Whether the server will not take this connection again as it is (4000-4099, except 4000 which retries over TLS). */
export function isRefusal(code: number): boolean {
  return code > 4000 && code <= 4099;
}

/**
 * The close-code table listen and doctor explain drops with (the integration tests see 4001, 4009 and 4200
 * from a real soketi; these are the codes a test server cannot easily be made to send).
 */
import { describe, expect, test } from 'vitest';
import { explainCloseCode } from '../../src/core/close-codes.js';

describe('explainCloseCode', () => {
  test.for([
    [4000, 'SSL only', 'immediately', 'PUSHER_SCHEME=https'],
    [4003, 'app disabled', 'never', 'Enable the app'],
    [4004, 'over connection quota', 'never', 'connection limit'],
    [4005, 'path not found', 'never', 'PUSHER_HOST'],
    [4006, 'invalid version', 'never', 'update pusher-js'],
    [4007, 'unsupported protocol', 'never', 'update pusher-js'],
    [4008, 'no protocol', 'never', 'update pusher-js'],
    [4100, 'over capacity', 'after-backoff', 'back-off'],
    [4201, 'pong not received', 'immediately', 'event loop'],
    [4202, 'closed after inactivity', 'immediately', 'proxy'],
    [4301, 'client event rejected', 'never', 'SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES'],
    [1006, 'closed abnormally', 'after-backoff', 'idle timeouts'],
  ] as const)('%i: %s (reconnect %s)', ([code, meaning, reconnect, hint]) => {
    const info = explainCloseCode(code);
    expect(info).toMatchObject({ code, reconnect });
    expect(info.meaning.startsWith(meaning)).toBe(true);
    expect(info.hint).toContain(hint);
  });

  test.for([
    [4050, 'the server refused the connection', 'never'],
    [4150, 'a temporary server error', 'after-backoff'],
    [4250, 'the server asked the client to reconnect', 'immediately'],
    [4350, 'a Pusher protocol error', 'never'],
    [1011, 'a WebSocket close (RFC 6455)', 'after-backoff'],
  ] as const)('a code the table does not list is explained by its range: %i', ([code, meaning, reconnect]) => {
    expect(explainCloseCode(code)).toMatchObject({ code, meaning, reconnect });
  });
});

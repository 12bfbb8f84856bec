/**
 * A web app's auth route in its own process, for the fuzz test: createAuthHandler on plain node:http with
 * Node's default server timeouts, so a crash or a leak shows in this process and not in the test's.
 * Run with `node --expose-gc --import jiti/register test/helpers/auth-fuzz-server.ts <bodyTimeoutMs>`; it
 * prints `{"port":…}` once listening. `GET /__stats` collects garbage and answers memory use and counters.
 *
 * Routes: `/broadcasting/authorize` with the default body limit (8 KB), and `/big/authorize` with a 4 MB
 * limit, so deeply nested JSON reaches JSON.parse instead of stopping at the 413.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuthHandler, type AuthErrorInfo } from '../../src/auth/handler.js';
import { Broadcast } from '../../src/core/broadcast.js';

const bodyTimeoutMs = Number(process.argv[2] ?? 1000);
// Credentials come from the PUSHER_* variables the test passes.
const broadcast = new Broadcast({}, { env: process.env });
const user = (req: IncomingMessage) => (req.headers['x-user'] === '1' ? { id: 1, name: 'Fuzz' } : null);
const problems: Record<AuthErrorInfo['kind'], number> = { user: 0, rule: 0, config: 0, internal: 0 };
const onError = (_error: unknown, info: AuthErrorInfo) => {
  problems[info.kind]++;
};
const small = createAuthHandler(broadcast, { user, onError, bodyTimeoutMs });
const big = createAuthHandler(broadcast, { user, onError, bodyTimeoutMs, authRoute: '/big/authorize', maxBodyBytes: 4 * 1024 * 1024 });

const statuses: Record<string, number> = {};
let handled = 0;
let pending = 0;

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/__stats') {
    (globalThis as { gc?: () => void }).gc?.();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ memory: process.memoryUsage(), statuses, handled, pending, problems }));
    return;
  }
  handled++;
  pending++;
  res.on('finish', () => {
    statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
  });
  const handler = req.url?.startsWith('/big/') ? big : small;
  // A rejected promise here would be an unhandled rejection and end the process: the test sees that.
  void handler(req, res).finally(() => pending--);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});

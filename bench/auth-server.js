/**
 * An auth route server for the benchmark: `node bench/auth-server.js broadcast|minimal`. Prints
 * `listening <port>` when ready. Credentials come from PUSHER_APP_ID, PUSHER_APP_KEY, PUSHER_APP_SECRET.
 * - broadcast: createAuthHandler from this package (the built dist/), one channel rule, a fixed user;
 * - minimal: a plain node:http handler that parses the form body and calls pusher.authorizeChannel.
 */
import http from 'node:http';
import { createRequire } from 'node:module';

const mode = process.argv[2];
const env = process.env;
let server;
if (mode === 'broadcast') {
  const { Broadcast, createAuthHandler } = await import('../dist/index.js');
  const broadcast = new Broadcast({ channels: { 'orders.{orderId}': () => true } }, { env });
  const handler = createAuthHandler(broadcast, { user: () => ({ id: 1 }) });
  server = http.createServer((req, res) => handler(req, res));
} else if (mode === 'minimal') {
  const Pusher = createRequire(import.meta.url)('pusher');
  const pusher = new Pusher({ appId: env.PUSHER_APP_ID, key: env.PUSHER_APP_KEY, secret: env.PUSHER_APP_SECRET, host: '127.0.0.1' });
  server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      const auth = pusher.authorizeChannel(form.get('socket_id'), form.get('channel_name'));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(auth));
    });
  });
} else {
  console.error('usage: node bench/auth-server.js broadcast|minimal');
  process.exit(2);
}
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));

/**
 * The bulk ceiling for the benchmark: a tight loop of batch requests (batches of 10, keep-alive agent,
 * `concurrency` requests in flight, no ordering, no validation) in a fresh Node.js process, as the CLI runs in one.
 * `node bench/ceiling.js <file.ndjson> <concurrency> [pusher|http|socket]` with PUSHER_* set; prints `{"eventsPerSecond":…}`.
 * - `pusher`: the official client's `triggerBatch` (its node-fetch stack);
 * - `http`: `node:http` directly (as `broadcast`'s driver sends), the body signed by the official client
 *   (`createSignedQueryString`): the leanest way to send these requests with an HTTP client;
 * - `socket`: for reference only, not a ceiling: each request written on its own `node:net` connection and
 *   the answer read until the server closes it, with no HTTP library. It handles only what soketi does (one
 *   answer, then close; no keep-alive, no TLS), and shows how much of a request's cost is the client's.
 * The file is read and parsed before the clock starts: only sending is timed.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { createRequire } from 'node:module';

const [file, concurrencyArg, client = 'pusher'] = process.argv.slice(2);
const concurrency = Number(concurrencyArg ?? 32);
const Pusher = createRequire(import.meta.url)('pusher');
const env = process.env;
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const pusher = new Pusher({
  appId: env.PUSHER_APP_ID,
  key: env.PUSHER_APP_KEY,
  secret: env.PUSHER_APP_SECRET,
  host: env.PUSHER_HOST,
  port: env.PUSHER_PORT,
  useTLS: false,
  agent,
});
const path = `/apps/${env.PUSHER_APP_ID}/batch_events`;

/** The body of a batch request and its signed query string (the official client's signing). */
function signedBatch(batch) {
  const body = JSON.stringify({ batch: batch.map((e) => ({ ...e, data: JSON.stringify(e.data) })) });
  return { body, query: pusher.createSignedQueryString({ method: 'POST', path, body }) };
}

/** One batch over node:http; resolves with the answer's text, rejects on an error status. */
function postBatch(batch) {
  const { body, query } = signedBatch(batch);
  const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
  return new Promise((resolve, reject) => {
    const request = http.request({ host: env.PUSHER_HOST, port: env.PUSHER_PORT, method: 'POST', path: `${path}?${query}`, headers, agent }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => (response.statusCode === 200 ? resolve(text) : reject(new Error(`HTTP ${response.statusCode}: ${text}`))));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** One batch on a raw connection (see `socket` above); resolves with the answer, rejects unless it is a 200. */
function postBatchRaw(batch) {
  const { body, query } = signedBatch(batch);
  const head = `POST ${path}?${query} HTTP/1.1\r\nHost: ${env.PUSHER_HOST}:${env.PUSHER_PORT}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`;
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(env.PUSHER_PORT), env.PUSHER_HOST);
    const chunks = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString();
      if (/^HTTP\/1\.[01] 200 /.test(text)) resolve(text);
      else reject(new Error(text.split('\r\n')[0] || 'connection closed without an answer'));
    });
    socket.write(head + body);
  });
}

const send = { http: postBatch, socket: postBatchRaw }[client] ?? (async (batch) => (await pusher.triggerBatch(batch)).text());
const events = readFileSync(file, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((line) => {
    const e = JSON.parse(line);
    return { channel: e.channel, name: e.event, data: e.data };
  });
let next = 0;
const started = performance.now();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < events.length) {
      const batch = events.slice(next, next + 10);
      next += 10;
      await send(batch);
    }
  }),
);
const ms = performance.now() - started;
agent.destroy();
console.log(JSON.stringify({ client, concurrency, events: events.length, ms, eventsPerSecond: (events.length * 1000) / ms }));

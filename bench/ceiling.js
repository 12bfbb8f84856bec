/**
 * The bulk ceiling for the benchmark: a tight loop of batch requests (batches of 10, keep-alive agent,
 * `concurrency` requests in flight, no ordering, no validation) in a fresh Node.js process, as the CLI runs in one.
 * `node bench/ceiling.js <file.ndjson> <concurrency> [pusher|http]` with PUSHER_* set; prints `{"eventsPerSecond":…}`.
 * - `pusher`: the official client's `triggerBatch` (its node-fetch stack);
 * - `http`: `node:http` directly, the body encoded and signed by the official client
 *   (`createSignedQueryString`), as `broadcast`'s driver does: the leanest way to send these requests.
 * The file is read and parsed before the clock starts: only sending is timed.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
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

/** One batch over node:http; resolves with the answer's text, rejects on an error status. */
function postBatch(batch) {
  const body = JSON.stringify({ batch: batch.map((e) => ({ ...e, data: JSON.stringify(e.data) })) });
  const query = pusher.createSignedQueryString({ method: 'POST', path, body });
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

const send = client === 'http' ? postBatch : async (batch) => (await pusher.triggerBatch(batch)).text();
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

/**
 * The bulk ceiling for the benchmark: a tight `triggerBatch` loop (batches of 10, keep-alive agent,
 * `concurrency` requests in flight, no ordering) in a fresh Node.js process, as the CLI runs in one.
 * `node bench/ceiling.js <file.ndjson> <concurrency>` with PUSHER_* set; prints `{"eventsPerSecond":…}`.
 * The file is read and parsed before the clock starts: only sending is timed.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';

const [file, concurrencyArg] = process.argv.slice(2);
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
      const response = await pusher.triggerBatch(batch);
      await response.text();
    }
  }),
);
const ms = performance.now() - started;
agent.destroy();
console.log(JSON.stringify({ events: events.length, ms, eventsPerSecond: (events.length * 1000) / ms }));

/**
 * What bench/run.js (the suite) and bench/compare.js (two builds side by side) both measure with: the inputs of
 * the bulk and memory runs, the project a single `emit` runs in, and the median.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** The bulk input: this many events over this many channels. */
export const BULK_EVENTS = 20_000;
export const BULK_CHANNELS = 50;
/** The memory run's large input, in lines. */
export const MEMORY_LINES = 1_000_000;

/** The bulk input's event `i`. */
export function bulkEvent(i) {
  return { channel: `bench-bulk-${i % BULK_CHANNELS}`, event: 'tick', data: { i, note: 'benchmark event payload' } };
}

/** The memory run's event `i`. */
export function memoryEvent(i) {
  return { channel: `orders-${i % 1000}`, event: 'order.updated', data: { id: i, status: 'shipped', items: [1, 2, 3] } };
}

/** Writes `count` events, `make(i)` each, as NDJSON. */
export async function writeNdjson(file, count, make) {
  const out = createWriteStream(file);
  for (let i = 0; i < count; i++) {
    if (!out.write(`${JSON.stringify(make(i))}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'close');
}

/**
 * An application folder for a single `broadcast emit`: `pusher-broadcast` is the build at `root`, and its
 * broadcast.config.ts points at the soketi named by SOKETI_APP_ID, SOKETI_APP_KEY, SOKETI_APP_SECRET and SOKETI_PORT.
 */
export async function writeEmitProject(project, root) {
  await mkdir(path.join(project, 'node_modules'), { recursive: true });
  await symlink(root, path.join(project, 'node_modules/pusher-broadcast'), 'dir');
  await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'bench-app', private: true, type: 'module' }));
  await writeFile(
    path.join(project, 'broadcast.config.ts'),
    `import { defineConfig } from 'pusher-broadcast';

export default defineConfig({
  default: 'soketi',
  connections: {
    soketi: {
      driver: 'pusher',
      appId: process.env.SOKETI_APP_ID as string,
      key: process.env.SOKETI_APP_KEY as string,
      secret: process.env.SOKETI_APP_SECRET as string,
      host: '127.0.0.1',
      port: Number(process.env.SOKETI_PORT),
      scheme: 'http',
    },
  },
});
`,
  );
}

/** The variables writeEmitProject's config reads, for `server` (bench/soketi.js). */
export function emitProjectEnv(server) {
  return { SOKETI_APP_ID: server.appId, SOKETI_APP_KEY: server.key, SOKETI_APP_SECRET: server.secret, SOKETI_PORT: String(server.port) };
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

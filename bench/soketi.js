/**
 * Starts a private soketi (the Pusher-protocol server from devDependencies) on a free port and stops it by its
 * own process group. Used by the benchmark and, through test/helpers/soketi.ts, by the tests. Never reuse a
 * port: uWebSockets binds with SO_REUSEPORT (see ../shared/NOTES.md).
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** @returns {Promise<number>} a port nothing listens on right now */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Stops a child started with `detached: true` (so it leads its own process group) and everything it started:
 * SIGTERM to the group, SIGKILL after 3 s if it has not exited. Resolves once it has exited.
 * @param {import('node:child_process').ChildProcess} child
 */
export async function stopProcessGroup(child) {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const pid = child.pid;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, 3000);
  await exited;
  clearTimeout(timer);
}

/**
 * @param {{ port?: number, env?: Record<string, string>, credentials?: { appId: string, key: string, secret: string } }} [options]
 */
export async function startSoketi(options = {}) {
  const port = options.port ?? (await freePort());
  const credentials = options.credentials ?? { appId: 'bench-app', key: 'bench-key', secret: 'bench-secret-0123456789' };
  const child = spawn(path.join(root, 'node_modules/.bin/soketi'), ['start'], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      SOKETI_PORT: String(port),
      SOKETI_HOST: '127.0.0.1',
      SOKETI_DEFAULT_APP_ID: credentials.appId,
      SOKETI_DEFAULT_APP_KEY: credentials.key,
      SOKETI_DEFAULT_APP_SECRET: credentials.secret,
      SOKETI_METRICS_ENABLED: 'false',
      SOKETI_DEBUG: '0',
      ...options.env,
    },
  });
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const stop = () => stopProcessGroup(child);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`soketi exited with ${child.exitCode}: ${stderr}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`);
      if (res.ok && (await res.text()).trim() === 'OK') break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`soketi did not start on port ${port} within 30 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host: '127.0.0.1',
    port,
    ...credentials,
    pid: /** @type {number} */ (child.pid),
    env: {
      PUSHER_APP_ID: credentials.appId,
      PUSHER_APP_KEY: credentials.key,
      PUSHER_APP_SECRET: credentials.secret,
      PUSHER_HOST: '127.0.0.1',
      PUSHER_PORT: String(port),
      PUSHER_SCHEME: 'http',
    },
    stop,
  };
}

// `node bench/soketi.js` keeps one running (for trying things by hand) until Ctrl-C.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await startSoketi({ port: process.env.PORT ? Number(process.env.PORT) : undefined });
  console.log(Object.entries(server.env).map(([k, v]) => `export ${k}=${v}`).join('\n'));
  const shutdown = async () => {
    await server.stop();
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

#!/usr/bin/env node
/**
 * A user-space TCP proxy that adds network latency, for measuring against a "real link" on one machine
 * (`tc netem` is not available on the project's machines). Every chunk is forwarded `delayMs` later, in each
 * direction, in order; an end (FIN) follows the data before it. A new connection's first bytes towards the
 * server wait one round trip more: on a real link the client can only send once TCP's handshake is done, while
 * here the proxy accepts at once on loopback. So a request on a new connection costs two round trips (the
 * handshake and the request), and one on a reused connection costs one, as on a real link. TLS is not modelled.
 *
 * `node bench/delay-proxy.js <targetPort> [delayMs=10] [targetHost=127.0.0.1]` prints `listening <port>` and
 * runs until stopped; or `startDelayProxy()` from this module.
 */
import net from 'node:net';
import { fileURLToPath } from 'node:url';

/**
 * Forwards what `from` sends to `to`, each chunk at the time `dueOf()` gives when it arrives (never earlier
 * than the chunk before it), and ends `to` after the last chunk when `from` ends.
 * @param {net.Socket} from
 * @param {net.Socket} to
 * @param {() => number} dueOf when a chunk arriving now should be written (performance.now() ms)
 */
function delayed(from, to, dueOf) {
  /** @type {{ due: number, chunk?: Buffer }[]} chunks waiting; no `chunk` means the end */
  const queue = [];
  let timer;
  const flush = () => {
    timer = undefined;
    const now = performance.now();
    while (queue.length && queue[0].due <= now + 0.5) {
      const { chunk } = queue.shift();
      if (to.destroyed) return;
      if (chunk) to.write(chunk);
      else to.end();
    }
    if (queue.length) timer = setTimeout(flush, queue[0].due - now);
  };
  const push = (item) => {
    queue.push(item);
    if (!timer) timer = setTimeout(flush, Math.max(0, item.due - performance.now()));
  };
  let last = 0;
  const due = () => (last = Math.max(last, dueOf()));
  from.on('data', (chunk) => push({ due: due(), chunk }));
  from.on('end', () => push({ due: due() }));
  from.on('close', () => {
    // A reset (not an end) drops what is still queued, as the connection is gone.
    if (from.destroyed && !from.readableEnded) {
      clearTimeout(timer);
      to.destroy();
    }
  });
}

/**
 * Starts a delay proxy in front of `target`; resolves once it listens.
 * @param {{ target: { host?: string, port: number }, delayMs?: number, port?: number }} options
 * @returns {Promise<{ port: number, connections: () => number, close: () => Promise<void> }>}
 */
export async function startDelayProxy({ target, delayMs = 10, port = 0 }) {
  let connections = 0;
  const sockets = new Set();
  const keep = (socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
  };
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    connections++;
    const accepted = performance.now();
    const upstream = net.connect({ host: target.host ?? '127.0.0.1', port: target.port, allowHalfOpen: true });
    keep(client);
    keep(upstream);
    // Towards the server: not before the handshake's round trip would have ended, then one way.
    delayed(client, upstream, () => Math.max(performance.now(), accepted + 2 * delayMs) + delayMs);
    delayed(upstream, client, () => performance.now() + delayMs);
    // Both directions ended: nothing more to forward.
    const done = () => {
      if (client.writableEnded && upstream.writableEnded) {
        client.destroySoon();
        upstream.destroySoon();
      }
    };
    client.on('finish', done);
    upstream.on('finish', done);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    port: /** @type {net.AddressInfo} */ (server.address()).port,
    connections: () => connections,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [targetPort, delayMs = '10', host = '127.0.0.1'] = process.argv.slice(2);
  if (!targetPort) {
    console.error('usage: node bench/delay-proxy.js <targetPort> [delayMs=10] [targetHost=127.0.0.1]');
    process.exit(2);
  }
  const proxy = await startDelayProxy({ target: { host, port: Number(targetPort) }, delayMs: Number(delayMs) });
  console.log(`listening ${proxy.port}`);
  const stop = async () => {
    await proxy.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

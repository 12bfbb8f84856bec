/**
 * bench/delay-proxy.js, the benchmark's simulated link: data arrives intact and in order, each way one delay
 * later, a new connection's first request pays the handshake's round trip too, and ends pass through.
 */
import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startDelayProxy } from '../../bench/delay-proxy.js';

const DELAY = 40;
let echo: net.Server;
let proxy: Awaited<ReturnType<typeof startDelayProxy>>;

beforeAll(async () => {
  // Answers every chunk with the same bytes, and ends when the client ends.
  echo = net.createServer((socket) => socket.pipe(socket));
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  proxy = await startDelayProxy({ target: { port: (echo.address() as net.AddressInfo).port }, delayMs: DELAY });
});
afterAll(async () => {
  await proxy.close();
  echo.close();
});

/** Writes `text` and resolves with the ms until the same number of bytes came back. */
async function exchange(socket: net.Socket, text: string): Promise<number> {
  const started = performance.now();
  let got = '';
  const back = new Promise<void>((resolve) => {
    const onData = (chunk: Buffer) => {
      got += chunk.toString();
      if (got.length < text.length) return;
      socket.off('data', onData);
      resolve();
    };
    socket.on('data', onData);
  });
  socket.write(text);
  await back;
  expect(got).toBe(text);
  return performance.now() - started;
}

describe('the delay proxy', () => {
  test('a new connection\'s first exchange takes two round trips (the handshake\'s and its own), a later one at least one; bytes intact and in order; the end passes', async () => {
    // Timed from before connecting: the proxy's handshake hold starts when it accepts, which a loaded machine
    // may do well before this side gets to write.
    const connecting = performance.now();
    const socket = net.connect(proxy.port, '127.0.0.1');
    await once(socket, 'connect');
    const first = await exchange(socket, 'a'.repeat(100_000));
    const firstFromConnect = performance.now() - connecting;
    const second = await exchange(socket, 'hello');
    expect(first).toBeGreaterThanOrEqual(2 * DELAY - 2);
    expect(firstFromConnect).toBeGreaterThanOrEqual(4 * DELAY - 2);
    expect(second).toBeGreaterThanOrEqual(2 * DELAY - 2);
    const ended = performance.now();
    socket.end();
    await once(socket, 'end');
    expect(performance.now() - ended).toBeGreaterThanOrEqual(2 * DELAY - 2);
    expect(proxy.connections()).toBe(1);
  });
});

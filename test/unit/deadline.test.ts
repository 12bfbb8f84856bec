/**
 * deadline(): a time limit that fires even when the garbage collector runs while a request waits. On Node.js 20
 * `AbortSignal.any([AbortSignal.timeout(ms), …])` can lose its timeout to a collection, and a fetch to a server
 * that never answers then waits for ever (how `doctor --timeout` hung under load).
 */
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { deadline } from '../../src/core/deadline.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

let silent: net.Server;
let url: string;
const sockets = new Set<net.Socket>();
beforeAll(async () => {
  // Accepts connections and never answers.
  silent = net.createServer((socket) => sockets.add(socket)).listen(0, '127.0.0.1');
  await new Promise((resolve) => silent.once('listening', resolve));
  url = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}/`;
});
afterAll(() => {
  for (const socket of sockets) socket.destroy();
  return new Promise((resolve) => silent.close(resolve));
});

it('a request to a server that never answers ends at the limit, with collections running meanwhile', async () => {
  for (let i = 0; i < 5; i++) {
    const collecting = setInterval(gc, 5);
    const limit = deadline(100);
    const started = performance.now();
    const error = await fetch(url, { signal: limit.signal }).then(
      () => undefined,
      (e: Error) => e,
    );
    clearInterval(collecting);
    limit.clear();
    expect(error?.name).toBe('TimeoutError');
    expect(performance.now() - started).toBeLessThan(2000);
  }
});

it('aborts with the parent signal\'s reason when that comes first, and clear() leaves the parent alone', async () => {
  const parent = new AbortController();
  const limit = deadline(10_000, parent.signal);
  parent.abort('SIGINT');
  expect(limit.signal.aborted).toBe(true);
  expect(limit.signal.reason).toBe('SIGINT');
  limit.clear();

  const other = new AbortController();
  const unused = deadline(10_000, other.signal);
  unused.clear();
  other.abort('later');
  expect(unused.signal.aborted).toBe(false);
});

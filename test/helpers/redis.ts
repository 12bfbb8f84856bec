/**
 * Starts a throwaway Redis (Debian's `redis-server`, installed by .ci/run) on a free port, without
 * persistence, and stops it by its own process id. Tests that use it check for redis-server first
 * (test/helpers/services.ts): skipped with a reason on a machine without it, required in CI.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { freePort, stopProcessGroup } from './soketi.js';

export interface RedisServer {
  host: string;
  port: number;
  pid: number;
  /** SOKETI_* variables that make a soketi node use this Redis to share state with other nodes. */
  soketiEnv(prefix: string): Record<string, string>;
  stop(): Promise<void>;
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d: Buffer) => done(d.toString().startsWith('+PONG')));
  });
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const collect = (d: Buffer) => (output = (output + d.toString()).slice(-4000));
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const stop = () => stopProcessGroup(child);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const failed = await Promise.race([spawnError, new Promise<undefined>((r) => setTimeout(() => r(undefined), 50))]);
    if (failed) {
      throw new Error(
        `Could not start redis-server (${(failed as NodeJS.ErrnoException).code ?? failed.message}). ` +
          'The cluster test needs Redis: apt-get install -y redis-server (.ci/run does this).',
      );
    }
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}: ${output}`);
    if (await ping(port)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server did not answer PING on port ${port} within 15 s: ${output}`);
    }
  }
  return {
    host: '127.0.0.1',
    port,
    pid: child.pid!,
    soketiEnv: (prefix) => ({
      SOKETI_ADAPTER_DRIVER: 'redis',
      SOKETI_ADAPTER_REDIS_PREFIX: prefix,
      SOKETI_DB_REDIS_HOST: '127.0.0.1',
      SOKETI_DB_REDIS_PORT: String(port),
    }),
    stop,
  };
}

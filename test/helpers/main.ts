/**
 * The CLI called in-process, as `bin/broadcast.js` calls it, with its streams, environment, working folder
 * and stop signal injected: most command tests use this (fast, no process start); a few per command still
 * spawn the binary (test/helpers/cli.ts) for what only a process shows: exit status, signals, a TTY.
 */
import { PassThrough, Readable, Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';
import { cleanEnv, ROOT, type RunResult } from './cli.js';

/** A writable that keeps what is written; `isTTY` as asked. */
export function capture(isTTY = false): Writable & { isTTY?: boolean; text(): string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += chunk.toString();
      done();
    },
  }) as Writable & { isTTY?: boolean; text(): string };
  stream.isTTY = isTTY;
  stream.text = () => text;
  return stream;
}

export interface InProcessOptions {
  cwd?: string;
  env?: Record<string, string>;
  input?: string | Buffer;
  signal?: AbortSignal;
  /** Pretend stdout / stderr are terminals. */
  tty?: { stdout?: boolean; stderr?: boolean };
}

/** Runs `broadcast <args>` in this process; resolves with its exit code and output (as `runCli` does). */
export async function runMain(args: string[], options: InProcessOptions = {}): Promise<RunResult> {
  const started = Date.now();
  const stdout = capture(options.tty?.stdout);
  const stderr = capture(options.tty?.stderr);
  const stdin = options.input === undefined ? Readable.from([]) : Readable.from([Buffer.from(options.input)]);
  const code = await main(['node', 'broadcast', ...args], {
    cwd: options.cwd ?? ROOT,
    env: cleanEnv(options.env),
    stdout,
    stderr,
    stdin,
    signal: options.signal ?? new AbortController().signal,
  });
  return { code, stdout: stdout.text(), stderr: stderr.text(), ms: Date.now() - started };
}

/** Standard input that stays open until ended (for commands that read it as it comes). */
export function openStdin(): PassThrough {
  return new PassThrough();
}

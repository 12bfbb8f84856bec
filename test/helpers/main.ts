/**
 * The CLI called in-process, as `bin/broadcast.js` calls it, with its streams, environment, working folder
 * and stop signal injected: most command tests use this (fast, no process start); a few per command still
 * spawn the binary (test/helpers/cli.ts) for what only a process shows: exit status, signals, a TTY.
 */
import { PassThrough, Readable, Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';
import { cleanEnv, ROOT, type RunResult } from './cli.js';
import { watchOutput, type Output } from './running.js';

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

/** A streaming command running in this process: its records as they arrive, a stop signal, a stdout to close. */
export interface InProcessRun extends Output {
  /** Asks the command to stop as main does on a process signal: aborts its signal with the signal's name. */
  signal(signal: NodeJS.Signals): void;
  /** Fails stdout's writes from now on with EPIPE, as a closed pipe (`| head -1`) does. */
  closeStdout(): void;
  /** Resolves with the exit code and output when main returns; rejects after `ms`. */
  exited(ms?: number): Promise<RunResult>;
}

/** Starts `broadcast <args>` in this process without waiting for it (for `listen`, whose output streams). */
export function startMain(args: string[], options: Omit<InProcessOptions, 'signal'> = {}): InProcessRun {
  const started = Date.now();
  const output = watchOutput(`broadcast ${args.join(' ')}`);
  const stop = new AbortController();
  const stdout = feeding(output.addStdout, options.tty?.stdout);
  const stderr = feeding(output.addStderr, options.tty?.stderr);
  const stdin = options.input === undefined ? Readable.from([]) : Readable.from([Buffer.from(options.input)]);
  const code = main(['node', 'broadcast', ...args], {
    cwd: options.cwd ?? ROOT,
    env: cleanEnv(options.env),
    stdout,
    stderr,
    stdin,
    signal: stop.signal,
  }).finally(() => output.close());
  return {
    ...output,
    signal(signal) {
      stop.abort(signal);
    },
    closeStdout() {
      stdout.destroy(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    },
    async exited(ms = 20_000) {
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`broadcast ${args.join(' ')} did not finish within ${ms} ms\nstdout: ${output.stdoutText()}\nstderr: ${output.stderr()}`)), ms);
      });
      try {
        return { code: await Promise.race([code, limit]), stdout: output.stdoutText(), stderr: output.stderr(), ms: Date.now() - started };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** A writable that hands each chunk, as text, to `add`; `isTTY` as asked. */
function feeding(add: (text: string) => void, isTTY = false): Writable & { isTTY?: boolean } {
  const stream = new Writable({
    write(chunk, _encoding, done) {
      add(chunk.toString());
      done();
    },
  }) as Writable & { isTTY?: boolean };
  stream.isTTY = isTTY;
  return stream;
}

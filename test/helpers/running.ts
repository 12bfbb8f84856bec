/**
 * The built binary as a long-running process (`broadcast listen`): read its stdout line by line while it
 * runs, wait for a line, send it signals, close its stdout, and await its exit. `watchOutput` is the line
 * keeping and waiting part, shared with the in-process variant (`startMain` in test/helpers/main.ts).
 */
import { spawn } from 'node:child_process';
import { BIN, ROOT, cleanEnv } from './cli.js';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** What a run printed so far, and waits on it. */
export interface Output {
  /** Complete stdout lines so far. */
  lines: string[];
  /** stdout lines parsed as JSON (for --json). */
  records(): Record<string, unknown>[];
  stderr(): string;
  /** Resolves with the first stdout line (parsed as JSON when it parses) that matches, rejects after `ms`. */
  waitForRecord(match: (record: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
  /** Resolves when stderr matches, rejects after `ms`. */
  waitForStderr(pattern: RegExp, ms?: number): Promise<void>;
}

export interface Running extends Output {
  pid: number;
  signal(signal: NodeJS.Signals): void;
  /** Closes the read end of its stdout, as `| head -1` does once it has its line: its next write fails (EPIPE). */
  closeStdout(): void;
  /** Resolves when the process exits; SIGKILLs it and rejects after `ms`. */
  exited(ms?: number): Promise<Exit>;
}

/** Keeps a run's output as it comes (fed with `addStdout`/`addStderr`, then `close`), for `Output`'s waits. */
export function watchOutput(label: string): Output & { addStdout(text: string): void; addStderr(text: string): void; close(): void; stdoutText(): string } {
  let stdout = '';
  let stderr = '';
  let partial = '';
  let closed = false;
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  const parse = (line: string): Record<string, unknown> => {
    try {
      const value = JSON.parse(line);
      return value !== null && typeof value === 'object' ? value : { line };
    } catch {
      return { line };
    }
  };

  function waitUntil<T>(found: () => T | undefined, ms: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const value = found();
        if (value !== undefined) {
          done();
          resolve(value);
        } else if (closed) {
          done();
          reject(new Error(`${label} exited before the expected output\nstdout: ${stdout}\nstderr: ${stderr}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`the expected output did not appear within ${ms} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  }

  return {
    lines,
    records: () => lines.filter((l) => l.trim() !== '').map((l) => JSON.parse(l)),
    stderr: () => stderr,
    addStderr(text: string) {
      stderr += text;
      wake();
    },
    addStdout(text: string) {
      stdout += text;
      partial += text;
      const parts = partial.split('\n');
      partial = parts.pop()!;
      lines.push(...parts);
      wake();
    },
    stdoutText: () => stdout,
    close() {
      closed = true;
      if (partial) lines.push(partial);
      partial = '';
      wake();
    },
    waitForRecord(match, ms = 10_000) {
      return waitUntil(() => lines.map(parse).find(match), ms);
    },
    async waitForStderr(pattern, ms = 10_000) {
      await waitUntil(() => pattern.test(stderr) || undefined, ms);
    },
  };
}

export function startCli(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Running {
  const started = Date.now();
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: cleanEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = watchOutput(`broadcast ${args.join(' ')}`);
  child.stdout.on('data', (d: Buffer) => output.addStdout(d.toString()));
  child.stderr.on('data', (d: Buffer) => output.addStderr(d.toString()));
  const exit = new Promise<Exit>((resolve) => {
    child.on('close', (code, signal) => {
      output.close();
      resolve({ code, signal, stdout: output.stdoutText(), stderr: output.stderr(), ms: Date.now() - started });
    });
  });

  return {
    pid: child.pid!,
    lines: output.lines,
    records: output.records,
    stderr: output.stderr,
    waitForRecord: output.waitForRecord,
    waitForStderr: output.waitForStderr,
    signal(signal) {
      child.kill(signal);
    },
    closeStdout() {
      child.stdout.destroy();
    },
    async exited(ms = 20_000) {
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`broadcast ${args.join(' ')} did not exit within ${ms} ms\nstdout: ${output.stdoutText()}\nstderr: ${output.stderr()}`));
        }, ms);
      });
      try {
        return await Promise.race([exit, limit]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

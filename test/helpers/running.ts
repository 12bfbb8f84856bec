/**
 * The built binary as a long-running process (`broadcast listen`): read its stdout line by line while it
 * runs, wait for a line, send it signals, and await its exit.
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

export interface Running {
  pid: number;
  /** Complete stdout lines so far. */
  lines: string[];
  /** stdout lines parsed as JSON (for --json). */
  records(): Record<string, unknown>[];
  stderr(): string;
  /** Resolves with the first stdout line (parsed as JSON when it parses) that matches, rejects after `ms`. */
  waitForRecord(match: (record: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
  /** Resolves when stderr matches, rejects after `ms`. */
  waitForStderr(pattern: RegExp, ms?: number): Promise<void>;
  signal(signal: NodeJS.Signals): void;
  /** Resolves when the process exits; SIGKILLs it and rejects after `ms`. */
  exited(ms?: number): Promise<Exit>;
}

export function startCli(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Running {
  const started = Date.now();
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: cleanEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let partial = '';
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    wake();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    wake();
  });
  let closed = false;
  const exit = new Promise<Exit>((resolve) => {
    child.on('close', (code, signal) => {
      closed = true;
      if (partial) lines.push(partial);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
      wake();
    });
  });
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
          reject(new Error(`broadcast ${args.join(' ')} exited before the expected output\nstdout: ${stdout}\nstderr: ${stderr}`));
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
    pid: child.pid!,
    lines,
    records: () => lines.filter((l) => l.trim() !== '').map((l) => JSON.parse(l)),
    stderr: () => stderr,
    waitForRecord(match, ms = 10_000) {
      return waitUntil(() => lines.map(parse).find(match), ms);
    },
    async waitForStderr(pattern, ms = 10_000) {
      await waitUntil(() => pattern.test(stderr) || undefined, ms);
    },
    signal(signal) {
      child.kill(signal);
    },
    async exited(ms = 20_000) {
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`broadcast ${args.join(' ')} did not exit within ${ms} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
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

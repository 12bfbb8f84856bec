/**
 * A real terminal for tests of interactive prompts: the command runs in a detached tmux session on a private
 * tmux server (its own socket, so it gets this process's environment and never touches anyone's sessions).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Terminal {
  /** Sends keys as tmux names them: 'Enter', 'Down', 'C-c', or literal text. */
  send(...keys: string[]): Promise<void>;
  /** Types text literally (no key-name interpretation). */
  type(text: string): Promise<void>;
  screen(): Promise<string>;
  /** Polls the screen until it matches, and returns it; rejects with the last screen after `ms`. */
  waitFor(pattern: RegExp, ms?: number): Promise<string>;
  close(): Promise<void>;
}

/** Starts `command` (a shell command line) in a 120x40 terminal in `cwd`. The shell stays open afterwards. */
export async function openTerminal(command: string, options: { cwd: string; env?: Record<string, string> }): Promise<Terminal> {
  const socket = `broadcast-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const tmux = (...args: string[]) => run('tmux', ['-L', socket, ...args], { cwd: options.cwd, env: options.env ?? process.env });
  // The trailing sleep keeps the pane (and the exit status line) readable after the command ends.
  await tmux('new-session', '-d', '-s', 'main', '-x', '120', '-y', '40', `${command}; echo "EXIT=$?"; sleep 600`);
  const screen = async () => (await tmux('capture-pane', '-p', '-t', 'main')).stdout;
  return {
    async send(...keys) {
      await tmux('send-keys', '-t', 'main', ...keys);
    },
    async type(text) {
      await tmux('send-keys', '-t', 'main', '-l', text);
    },
    screen,
    async waitFor(pattern, ms = 10_000) {
      const deadline = Date.now() + ms;
      let last = '';
      while (Date.now() < deadline) {
        last = await screen();
        if (pattern.test(last)) return last;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`the terminal did not show ${pattern} within ${ms} ms; it shows:\n${last}`);
    },
    async close() {
      await tmux('kill-server').catch(() => {});
    },
  };
}

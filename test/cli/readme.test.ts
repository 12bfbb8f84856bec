/**
 * The README's command examples that need no server run as printed (in a fresh project, no credentials
 * unless the command needs a secret), so the README cannot drift from the CLI.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { describe, test } from '../helpers/fixtures.js';
import { runMain } from '../helpers/main.js';

/** Splits a shell command line into words (single and double quotes; no expansions). */
function words(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const commands = readme.slice(readme.indexOf('## Commands'));
const block = /```sh\n([\s\S]*?)```/.exec(commands)![1]!;
const examples = block
  .split('\n')
  .map((line) => line.replace(/\s+#.*$/, '').trim())
  .filter((line) => line.startsWith('broadcast '));

/** Commands that talk to a server, or read a file the example assumes: not run here. */
const NEEDS_SERVER = new Set(['listen', 'channels', 'channel', 'users', 'doctor', 'console', 'webhook:verify', 'bench', 'auth:test', 'users:terminate', 'webhook:listen', 'webhook:send']);
const offline = examples.filter((line) => {
  const [, command, ...rest] = words(line);
  return !NEEDS_SERVER.has(command!) && !rest.includes('--file');
});

// auth:sign and auth:sign-user sign with the app secret: any credentials will do, no server is asked.
const credentials = { PUSHER_APP_ID: '1', PUSHER_APP_KEY: 'readme-key', PUSHER_APP_SECRET: 'readme-secret', PUSHER_HOST: '127.0.0.1', PUSHER_PORT: '9', PUSHER_SCHEME: 'http' };

describe('README examples', () => {
  test('the README lists one example per command', () => {
    const listed = new Set(examples.map((line) => words(line)[1]));
    const help = readFileSync(path.join(ROOT, 'docs/cli.md'), 'utf8');
    const all = [...help.matchAll(/^## `broadcast ([\w:-]+)`/gm)].map((m) => m[1]);
    expect(all.length).toBeGreaterThan(10);
    for (const command of all) expect(listed, `README has no example of ${command}`).toContain(command);
  });

  test('the offline examples run as printed, in order, in a fresh project', async ({ project }) => {
    expect(offline.length).toBeGreaterThanOrEqual(7);
    for (const line of offline) {
      const args = words(line).slice(1);
      // As in a developer's shell: outside CI (where emitting on the fallback log connection is refused).
      const r = await runMain(args, { cwd: project.dir, env: { CI: '', ...(args[0] === 'auth:sign' || args[0] === 'auth:sign-user' ? credentials : {}) } });
      expect({ line, code: r.code, stderr: r.code === 0 ? '' : r.stderr }).toEqual({ line, code: 0, stderr: '' });
    }
  });
});

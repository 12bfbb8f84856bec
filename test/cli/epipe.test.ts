/** A reader that goes away before the output is written (`broadcast config | head -1`) ends it quietly. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { BIN, cleanEnv } from '../helpers/cli.js';
import { describe, test } from '../helpers/fixtures.js';

describe('a closed stdout', () => {
  // `| true` exits without reading, before the CLI has started: its first write meets a closed pipe (EPIPE).
  test.for(['config', 'routes', 'config --json'])('broadcast %s | true: exit 0, no crash on stderr', (args, { project }) => {
    const err = path.join(project.dir, 'stderr.txt');
    const run = spawnSync('bash', ['-c', `"${process.execPath}" "${BIN}" ${args} 2>"${err}" | true; echo "\${PIPESTATUS[0]}"`], {
      encoding: 'utf8',
      cwd: project.dir,
      env: cleanEnv(),
    });
    expect(run.stdout.trim()).toBe('0');
    expect(readFileSync(err, 'utf8')).not.toMatch(/unexpected failure|EPIPE/);
  });
});

/**
 * Tests that need a service npm cannot install (Redis from Debian's `redis-server`, Chromium): on a
 * developer's machine without it they are skipped with a one-line reason; in CI (`CI` set, as in .ci/run,
 * which installs them) a missing service fails the run with the same reason.
 */
import { spawnSync } from 'node:child_process';

/** True when `command` is on the PATH. */
export function hasCommand(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Whether tests needing `what` can run. Without it: in CI, throws (the suite fails, naming what is missing);
 * elsewhere prints the reason and returns false, for `describe.skipIf(!needs(...))`.
 */
export function needs(what: string, available: boolean, install: string): boolean {
  if (available) return true;
  const reason = `${what} is not installed (${install}); its tests are skipped`;
  if (process.env.CI) throw new Error(`${reason.replace('are skipped', 'cannot run')}, and CI requires them`);
  process.stderr.write(`skipped: ${reason}\n`);
  return false;
}

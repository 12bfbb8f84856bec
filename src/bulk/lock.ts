/**
 * Lock files for what one `emit --file` run writes (its failed output, its journal), so that two runs never
 * share one: `<file>.lock`, created exclusively and holding the owner's process id. A lock whose process is
 * gone (a run killed with `kill -9`) is taken over. The lock is removed when released, and when the process
 * exits (a second Ctrl-C exits at once).
 */
import { readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';

/** A held lock. */
export interface Lock {
  readonly file: string;
  /** The process id of a dead run whose lock was taken over, if there was one. */
  readonly tookOverFrom?: number;
  release(): void;
}

/** The lock is held by another process that is still running. */
export class LockedError extends Error {
  constructor(
    readonly file: string,
    readonly pid: number | undefined,
  ) {
    super(`${file} is held by ${pid === undefined ? 'another process' : `process ${pid}`}`);
  }
}

/** A lock file that holds no process id yet is its creator's for this long (between creating and writing it). */
const FRESH_MS = 10_000;

/** Takes `<target>.lock`; throws LockedError when a running process holds it. */
export function lockFile(target: string): Lock {
  const file = `${target}.lock`;
  let tookOverFrom: number | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
      const holder = holderOf(file);
      if (holder.alive) throw new LockedError(file, holder.pid);
      tookOverFrom = holder.pid;
      try {
        unlinkSync(file);
      } catch (unlinkError) {
        if ((unlinkError as NodeJS.ErrnoException).code !== 'ENOENT') throw unlinkError;
      }
    }
  }
  const release = () => {
    process.off('exit', release);
    try {
      unlinkSync(file);
    } catch {
      // Already gone.
    }
  };
  process.on('exit', release);
  return { file, tookOverFrom, release };
}

/** Who holds a lock file, and whether that process still runs. */
function holderOf(file: string): { pid?: number; alive: boolean } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { alive: false };
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) {
    // Not written yet (or garbage): its creator's while fresh.
    try {
      return { alive: Date.now() - statSync(file).mtimeMs < FRESH_MS };
    } catch {
      return { alive: false };
    }
  }
  return { pid, alive: isRunning(pid) };
}

function isRunning(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

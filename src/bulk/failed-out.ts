/**
 * The failed output of bulk sending. `FailedSink` is what `sendBulk` streams unsent events to (the
 * library's option). `emit --file … --failed-out <file>` writes its file differently, so that it can be
 * trusted however the run ends:
 *
 * - it is claimed before the check: refused when it is the input (same device and inode, so a hard link or
 *   symlink counts too), when it already holds events (unless `--force`, or `--resume` of the run that
 *   wrote it), and while another run holds its lock (`<file>.lock`); two runs never write one file;
 * - it is written whole from the input and the journal's confirmations (every event not confirmed, in input
 *   order, so each channel's order holds), to `<file>.partial` (mode 0600), flushed and renamed into place:
 *   at any moment the file is absent, or complete. A run killed before writing it leaves no file to mistake
 *   for an empty failure list; `--resume` is the way on from there.
 */
import { closeSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { lockFile, LockedError, type Lock } from './lock.js';

/** Where events that were not confirmed sent go (e.g. the `--failed-out` file). */
export interface FailedSink {
  /** One line of input format, without the line break. Called in an order that keeps each channel's order. */
  write(line: string): void;
  /** Resolves when the sink can take more (backpressure); optional. */
  ready?(): Promise<void>;
}

/** Why a failed output cannot be claimed. */
export type ClaimProblem =
  | { kind: 'directory' }
  | { kind: 'input' }
  | { kind: 'not-empty'; bytes: number }
  | { kind: 'locked'; pid?: number };

export class FailedOutClaimError extends Error {
  constructor(readonly problem: ClaimProblem) {
    super(problem.kind);
  }
}

/** A claimed failed output: written whole with `write`, as often as needed. */
export interface FailedOutFile {
  readonly file: string;
  /** Removes the list an earlier run left (when replacing one): called once sending starts. */
  clear(): void;
  /** Writes these lines as the file's whole content (replacing what it held); resolves with how many. */
  write(lines: AsyncIterable<string> | Iterable<string>): Promise<number>;
  release(): void;
}

/** Lines written to the file with one write(2) each time, a whole number of lines. */
const WRITE_BYTES = 256 * 1024;

/**
 * Claims `file` as a run's failed output (see the top of this file). `input` is the input's device and inode
 * (undefined for standard input); `replace` allows a file that already holds events (`clear` removes it
 * when sending starts: from then on the journal says what is left). Throws FailedOutClaimError, or the file
 * system's error.
 */
export function claimFailedOut(file: string, input: Pick<Stats, 'dev' | 'ino'> | undefined, replace: boolean): FailedOutFile {
  const existing = statOrUndefined(file);
  if (existing?.isDirectory()) throw new FailedOutClaimError({ kind: 'directory' });
  if (existing && input && existing.dev === input.dev && existing.ino === input.ino) throw new FailedOutClaimError({ kind: 'input' });
  if (existing && existing.size > 0 && !replace) throw new FailedOutClaimError({ kind: 'not-empty', bytes: existing.size });
  let lock: Lock;
  try {
    lock = lockFile(file);
  } catch (error) {
    if (error instanceof LockedError) throw new FailedOutClaimError({ kind: 'locked', pid: error.pid });
    throw error;
  }
  const partial = `${file}.partial`;
  try {
    // What a killed run left half-written.
    removeIfThere(partial);
  } catch (error) {
    lock.release();
    throw error;
  }
  return {
    file,
    clear() {
      if (existing && existing.size > 0) removeIfThere(file);
    },
    async write(lines) {
      const fd = openSync(partial, 'w', 0o600);
      let count = 0;
      try {
        let buffer = '';
        for await (const line of lines) {
          buffer += `${line}\n`;
          count++;
          if (buffer.length >= WRITE_BYTES) {
            writeAll(fd, buffer);
            buffer = '';
          }
        }
        if (buffer) writeAll(fd, buffer);
        fsyncSync(fd);
      } catch (error) {
        closeSync(fd);
        removeIfThere(partial);
        throw error;
      }
      closeSync(fd);
      renameSync(partial, file);
      return count;
    },
    release: () => lock.release(),
  };
}

function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text);
  for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset);
}

function statOrUndefined(file: string): Stats | undefined {
  try {
    return statSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function removeIfThere(file: string): void {
  try {
    unlinkSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/**
 * The journal of `emit --file`: which events of an input the server confirmed, written as the answers
 * arrive, so that a run ended in any way (Ctrl-C, SIGHUP, `kill -9`, a crash, a power loss) can be resumed
 * with `--resume`: everything not confirmed is sent, nothing confirmed is sent again.
 *
 * - One journal per input and server: named by a hash of the input's bytes (from the check) and the
 *   connection's URL and app id, in `$XDG_STATE_HOME/broadcast/bulk/` (`~/.local/state/broadcast/bulk/`).
 *   A run holds its lock (lock.ts) while it sends, so two runs never share one.
 * - A text file, one record a line: the header (`broadcast-journal 1 {identity}`), then `s <line> …` for each
 *   confirmed request (the events' line numbers), `p <line> <channel> …` for a trigger confirmed on some of
 *   its channels, `m <line> …` for the requests in flight when a run stopped (they may have arrived),
 *   `end {summary}` when a run ends, and `done` once every event is confirmed (the journal is then rewritten
 *   as its header and `done`).
 * - Each record is written with one write(2) as soon as its answer arrives, before anything else is done
 *   with it: after `kill -9` the journal holds every confirmed request (the kernel has the data). It is
 *   flushed to disk (fdatasync) about once a second, so a power loss forgets at most that last second.
 *   A last record cut short (a power loss during its write) is ignored: its events are sent again.
 * - Journals of runs more than 30 days old are removed when a run starts.
 */
import { createHash } from 'node:crypto';
import { closeSync, fdatasync, fdatasyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BulkEvent } from './ndjson.js';
import type { BulkJournal, StopReason } from './send.js';
import { lockFile, LockedError, type Lock } from './lock.js';

export { LockedError } from './lock.js';

const MAGIC = 'broadcast-journal 1 ';
const SYNC_MS = 1000;
const MAX_AGE_MS = 30 * 24 * 3600 * 1000;

/** What a journal is the journal of: the input (by its bytes) and the server it was sent to. */
export interface JournalIdentity {
  /** InputDigest.hash of the input. */
  input: string;
  /** Events and lines in the input (lines include blank ones). */
  events: number;
  lines: number;
  /** The connection's name, and its server and app (`https://host:443/apps/123`). */
  connection: string;
  target: string;
  /** The input as it was given (for a person reading the journal). */
  file: string;
}

/** The folder journals are kept in. */
export function journalDir(env: Record<string, string | undefined>): string {
  const state = env.XDG_STATE_HOME || path.join(env.HOME || os.homedir(), '.local', 'state');
  return path.join(state, 'broadcast', 'bulk');
}

/** The journal file for an input and a server. */
export function journalPath(dir: string, identity: Pick<JournalIdentity, 'input' | 'target'>): string {
  const key = createHash('sha256').update(`${identity.input}\n${identity.target}`).digest('hex').slice(0, 32);
  return path.join(dir, `${key}.journal`);
}

/** Which events are confirmed: whole lines, and the channels confirmed so far of triggers confirmed in part. */
export class Confirmations {
  /** Events confirmed whole. */
  count = 0;
  /** Changes whenever something more is confirmed. */
  version = 0;
  private readonly lines: Uint8Array;
  private readonly partial = new Map<number, Set<string>>();
  private all = false;

  constructor(private readonly events: number, lines: number) {
    this.lines = new Uint8Array(lines + 1);
  }

  /** Every event is confirmed (a finished journal). */
  get complete(): boolean {
    return this.all || this.count >= this.events;
  }

  has(line: number): boolean {
    return this.all || this.lines[line] === 1;
  }

  /** The channels confirmed so far of an event confirmed in part, else undefined. */
  channelsOf(line: number): ReadonlySet<string> | undefined {
    return this.partial.get(line);
  }

  /** Has anything at all (the input needs filtering). */
  get any(): boolean {
    return this.all || this.count > 0 || this.partial.size > 0;
  }

  add(line: number): void {
    if (this.all || !(line > 0 && line < this.lines.length) || this.lines[line] === 1) return;
    this.lines[line] = 1;
    this.count++;
    this.version++;
    this.partial.delete(line);
  }

  /** Some channels of one event; `of` (its channels, when known) completes it once all are in. */
  addChannels(line: number, channels: readonly string[], of?: readonly string[]): void {
    if (this.has(line) || !(line > 0 && line < this.lines.length)) return;
    let set = this.partial.get(line);
    if (!set) this.partial.set(line, (set = new Set()));
    for (const c of channels) set.add(c);
    this.version++;
    if (of && of.every((c) => set.has(c))) this.add(line);
  }

  setAll(): void {
    this.all = true;
    this.count = this.events;
    this.version++;
  }

  /** What the server confirmed, as sendBulk reports it. */
  record(events: readonly BulkEvent[], channels?: readonly string[]): void {
    if (channels) this.addChannels(events[0]!.line, channels, events[0]!.channels);
    else for (const e of events) this.add(e.line);
  }
}

/** What an earlier run left in a journal. */
export interface JournalState {
  confirmations: Confirmations;
  /** The earlier runs ended with `done`: every event was confirmed. */
  done: boolean;
  /** The journal had records of an earlier run at all. */
  found: boolean;
}

/** Reads the journal at `file` for `identity` (nothing found when it is missing or of another input). */
export function readJournal(file: string, identity: JournalIdentity): JournalState {
  const confirmations = new Confirmations(identity.events, identity.lines);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { confirmations, done: false, found: false };
    throw error;
  }
  const records = text.split('\n');
  // The last piece has no line break: a record cut short, or nothing.
  records.pop();
  const header = records[0];
  if (!header?.startsWith(MAGIC)) return { confirmations, done: false, found: false };
  const saw = JSON.parse(header.slice(MAGIC.length)) as Partial<JournalIdentity>;
  if (saw.input !== identity.input || saw.target !== identity.target || saw.lines !== identity.lines) return { confirmations, done: false, found: false };
  let done = false;
  for (let i = 1; i < records.length; i++) {
    const record = records[i]!;
    if (record.startsWith('s ')) {
      for (const n of record.slice(2).split(' ')) confirmations.add(Number(n));
    } else if (record.startsWith('p ')) {
      const [n, ...channels] = record.slice(2).split(' ');
      confirmations.addChannels(Number(n), channels);
    } else if (record === 'done') {
      done = true;
      confirmations.setAll();
    }
  }
  return { confirmations, done, found: true };
}

/** A run's journal, open for writing (and locked) while it sends: the BulkJournal sendBulk reports to. */
export class Journal implements BulkJournal {
  /** Set when a write failed: from then on nothing more is recorded (the run cannot be resumed exactly). */
  failure?: Error;
  private fd: number | undefined;
  private dirty = false;
  private syncing = false;
  private readonly timer: NodeJS.Timeout;

  private constructor(
    readonly file: string,
    private readonly identity: JournalIdentity,
    private readonly lock: Lock,
    readonly confirmations: Confirmations,
    /** What an earlier run had left (for --resume, and for the warning without it). */
    readonly earlier: JournalState,
    fd: number,
  ) {
    this.fd = fd;
    this.timer = setInterval(() => this.flush(), SYNC_MS);
    this.timer.unref();
  }

  /**
   * Opens the journal for `identity` in `dir` and locks it (LockedError when another run holds it). With
   * `resume`, what earlier runs confirmed is kept and counts as confirmed; without it the journal starts
   * again (`earlier` says what it held).
   */
  static open(dir: string, identity: JournalIdentity, options: { resume: boolean }): Journal {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = journalPath(dir, identity);
    const lock = lockFile(file);
    try {
      removeOld(dir, file);
      const earlier = readJournal(file, identity);
      const confirmations = options.resume ? earlier.confirmations : new Confirmations(identity.events, identity.lines);
      let fd: number;
      if (options.resume && earlier.found) {
        fd = openSync(file, 'a', 0o600);
        // A record cut short by a power loss ends without a line break: start on a line of our own.
        writeSync(fd, `\nrun ${new Date().toISOString()} ${process.pid} resume\n`);
      } else {
        fd = openSync(file, 'w', 0o600);
        writeSync(fd, `${MAGIC}${JSON.stringify(identity)}\nrun ${new Date().toISOString()} ${process.pid}\n`);
      }
      fdatasyncSync(fd);
      return new Journal(file, identity, lock, confirmations, earlier, fd);
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  sent(events: readonly BulkEvent[], channels?: readonly string[]): void {
    this.confirmations.record(events, channels);
    const line = events[0]!.line;
    // A trigger's last channels complete it: recorded as a whole event, so a reader need not know its channels.
    if (channels && !this.confirmations.has(line)) this.write(`p ${line} ${channels.join(' ')}\n`);
    else if (channels) this.write(`s ${line}\n`);
    else {
      let text = 's';
      for (const e of events) text += ` ${e.line}`;
      this.write(`${text}\n`);
    }
  }

  stopping(why: StopReason, inFlight: readonly BulkEvent[]): void {
    let text = `stop ${why}\n`;
    if (inFlight.length > 0) text += `m ${inFlight.map((e) => e.line).join(' ')}\n`;
    this.write(text);
  }

  /**
   * Ends the run's records: when every event is confirmed the journal is rewritten as its header and `done`
   * (a later --resume sends nothing), else an `end` record. Flushed, closed and unlocked.
   */
  finish(summary: Record<string, unknown>): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    if (this.confirmations.complete && !this.failure) {
      try {
        const temporary = `${this.file}.${process.pid}.tmp`;
        writeFileSync(temporary, `${MAGIC}${JSON.stringify(this.identity)}\ndone\n`, { mode: 0o600, flush: true });
        renameSync(temporary, this.file);
      } catch (error) {
        this.failure ??= error as Error;
      }
    } else {
      this.write(`end ${JSON.stringify(summary)}\n`);
    }
    this.close(fd);
  }

  /** Closes without a last record (the run failed before sending). */
  close(fd = this.fd): void {
    clearInterval(this.timer);
    if (fd !== undefined) {
      try {
        fdatasyncSync(fd);
      } catch {
        // Closing anyway.
      }
      closeSync(fd);
    }
    this.fd = undefined;
    this.lock.release();
  }

  private write(text: string): void {
    if (this.fd === undefined || this.failure) return;
    try {
      writeSync(this.fd, text);
      this.dirty = true;
    } catch (error) {
      this.failure = error as Error;
    }
  }

  /** To disk about once a second, in the background (a power loss forgets at most that second). */
  private flush(): void {
    if (!this.dirty || this.syncing || this.fd === undefined) return;
    this.dirty = false;
    this.syncing = true;
    fdatasync(this.fd, () => (this.syncing = false));
  }
}

/** Removes journals not written to for 30 days (and not locked by a running run). */
function removeOld(dir: string, keep: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const now = Date.now();
  for (const name of names) {
    if (!name.endsWith('.journal')) continue;
    const file = path.join(dir, name);
    if (file === keep) continue;
    try {
      if (now - statSync(file).mtimeMs < MAX_AGE_MS) continue;
      const lock = lockFile(file);
      unlinkSync(file);
      lock.release();
    } catch (error) {
      if (!(error instanceof LockedError)) continue;
    }
  }
}

/**
 * The contract every command keeps: `run` does the work and returns what it did (printing nothing itself,
 * except stream records through `ctx.emit`); `render` shows that result to a person. The CLI's main picks
 * between `render` and JSON, so the two formats cannot drift apart, and tests assert on the returned data.
 */
import type { BroadcastError } from '../core/errors.js';
import type { Context } from './context.js';
import type { Io } from './io.js';

/** What a command did. `error` is set when it finished without succeeding; it sets the exit code. */
export interface Outcome<R extends object = object> {
  result: R;
  error?: BroadcastError;
}

/** One NDJSON record of a streaming command (`listen`): every record says what it is. */
export interface StreamRecord {
  type: string;
}

export interface Command<R extends object = object, Rec extends StreamRecord = StreamRecord> {
  /** Does the work. Arguments are commander's: the positional ones, then the command's options. */
  run(ctx: Context, ...args: any[]): Promise<Outcome<R>>;
  /** Shows the result to a person: results with `io.out` (stdout), notes with `io.note` (stderr). */
  render(io: Io, result: R): void;
  /** Streaming commands: shows one record to a person (JSON mode prints the record itself). */
  renderRecord?(io: Io, record: Rec): void;
}

/** Declares a command module's default export, with its types checked. */
export function defineCommand<R extends object, Rec extends StreamRecord = StreamRecord>(command: Command<R, Rec>): Command<R, Rec> {
  return command;
}

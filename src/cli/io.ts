/**
 * Output for the CLI: results on stdout, everything else (notes, progress, warnings, errors) on stderr,
 * colour decided per stream (only where a person reads it), JSON when asked, every line scrubbed of secrets.
 * This is the one place that turns a command's outcome into output and an exit code.
 */
import type { Writable } from 'node:stream';
import { BroadcastError, ExitCode } from '../core/errors.js';
import type { Outcome } from './command.js';
import { redactSecrets, registerSecrets } from './redact.js';

type Paint = (text: string) => string;
export interface Styles {
  bold: Paint;
  dim: Paint;
  red: Paint;
  green: Paint;
  yellow: Paint;
  cyan: Paint;
}

const plain: Paint = (text) => text;
const PLAIN: Styles = { bold: plain, dim: plain, red: plain, green: plain, yellow: plain, cyan: plain };

export type Stream = Writable & { isTTY?: boolean };

export interface IoOptions {
  stdout?: Stream;
  stderr?: Stream;
  env?: Record<string, string | undefined>;
  json?: boolean;
  /** false for --no-color. */
  color?: boolean;
  verbose?: boolean;
}

/** Colour on `stream`: on for a TTY unless NO_COLOR or --no-color; FORCE_COLOR turns it on anywhere. */
export function wantsColor(stream: { isTTY?: boolean } | undefined, options: Pick<IoOptions, 'env' | 'color'>): boolean {
  const env = options.env ?? {};
  if (options.color === false) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return Boolean(stream?.isTTY);
}

/** The error part of every failed JSON answer. */
export interface ErrorInfo {
  code: string;
  message: string;
  hint?: string;
  details?: Record<string, unknown>;
  exitCode: number;
}

export function errorInfo(error: unknown): ErrorInfo {
  const known = error instanceof BroadcastError ? error : undefined;
  return {
    code: known?.code ?? 'internal',
    message: error instanceof Error ? error.message : String(error),
    ...(known?.hint ? { hint: known.hint } : {}),
    ...(known?.details ? { details: known.details } : {}),
    exitCode: known?.exitCode ?? ExitCode.failed,
  };
}

export class Io {
  readonly stdout: Stream;
  readonly stderr: Stream;
  readonly json: boolean;
  readonly verbose: boolean;
  /** Styles for what goes to stdout. */
  style: Styles = PLAIN;
  /** Styles for what goes to stderr. */
  errStyle: Styles = PLAIN;
  private readonly colorOut: boolean;
  private readonly colorErr: boolean;
  private progressShown = false;

  constructor(options: IoOptions = {}) {
    this.stdout = options.stdout ?? process.stdout;
    this.stderr = options.stderr ?? process.stderr;
    this.json = options.json ?? false;
    this.verbose = options.verbose ?? false;
    this.colorOut = wantsColor(this.stdout, options);
    this.colorErr = wantsColor(this.stderr, options);
  }

  /** Loads chalk only when colour is on for either stream. */
  async init(): Promise<this> {
    if (this.colorOut || this.colorErr) {
      const { Chalk } = await import('chalk');
      const chalk = new Chalk({ level: 1 });
      const painted: Styles = { bold: chalk.bold, dim: chalk.dim, red: chalk.red, green: chalk.green, yellow: chalk.yellow, cyan: chalk.cyan };
      if (this.colorOut) this.style = painted;
      if (this.colorErr) this.errStyle = painted;
    }
    return this;
  }

  /** Values that must never be printed (app secrets, master keys): process-wide, so output outside any command is covered too. */
  addSecrets(secrets: string[]): void {
    registerSecrets(secrets);
  }

  redact(text: string): string {
    return redactSecrets(text);
  }

  /** A result line on stdout. */
  out(text = ''): void {
    this.stdout.write(`${this.redact(text)}\n`);
  }

  /** One JSON document (or NDJSON record) on stdout. */
  writeJson(value: unknown): void {
    this.stdout.write(`${this.redact(JSON.stringify(value))}\n`);
  }

  /** A diagnostic line on stderr. */
  err(text: string): void {
    this.stderr.write(`${this.redact(text)}\n`);
  }

  /** Progress and notes on stderr; silent in JSON mode. */
  note(text: string): void {
    if (!this.json) this.err(text);
  }

  warn(text: string): void {
    this.err(`${this.errStyle.yellow('warning:')} ${text}`);
  }

  /** A progress line on stderr, rewritten in place; only where a person watches (a terminal, not --json). */
  progress(text: string): void {
    if (!this.stderr.isTTY || this.json) return;
    this.stderr.write(`\r\x1b[K${this.redact(text)}`);
    this.progressShown = true;
  }

  /** Removes the progress line, if one is shown (before the result is printed). */
  clearProgress(): void {
    if (!this.progressShown) return;
    this.stderr.write('\r\x1b[K');
    this.progressShown = false;
  }

  debug(text: string): void {
    if (this.verbose) this.err(this.errStyle.dim(text));
  }

  /**
   * Prints a finished command's outcome: in JSON mode one object `{ ok, ...result }` (with `error` when it
   * failed; `type: "result"` closing a stream), else the command's own rendering and the error on stderr.
   * Returns the exit code.
   */
  result<R extends object>(outcome: Outcome<R>, render: (io: Io, result: R) => void, stream = false): number {
    const { result, error } = outcome;
    if (this.json) {
      this.writeJson({ ...(stream ? { type: 'result' } : {}), ok: error === undefined, ...result, ...(error ? { error: errorInfo(error) } : {}) });
      if (error) this.printError(error);
    } else {
      render(this, result);
      if (error) this.printError(error);
    }
    return error ? errorInfo(error).exitCode : ExitCode.ok;
  }

  /** Prints an error that ended a command (stderr, and `{ ok: false, error }` on stdout in JSON mode); returns its exit code. */
  fail(error: unknown, stream = false): number {
    const info = errorInfo(error);
    if (this.json) this.writeJson({ ...(stream ? { type: 'result' } : {}), ok: false, error: info });
    this.printError(error);
    return info.exitCode;
  }

  private printError(error: unknown): void {
    const s = this.errStyle;
    const known = error instanceof BroadcastError;
    const message = error instanceof Error ? error.message : String(error);
    this.err(`${s.red('error:')} ${message}`);
    if (known && error.hint) this.err(`  ${s.dim('hint:')} ${error.hint}`);
    if (!known && error instanceof Error && error.stack) this.err(error.stack);
    else if (this.verbose && error instanceof Error && error.cause instanceof Error) {
      this.err(`  ${s.dim('cause:')} ${error.cause.message}`);
    }
  }
}

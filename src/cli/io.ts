/**
 * Output for the CLI: results on stdout, diagnostics on stderr, colour only where a person reads it,
 * JSON when asked, and every line scrubbed of known secrets.
 */
import type { Writable } from 'node:stream';
import { BroadcastError, ExitCode } from '../core/errors.js';
import { registerSecrets } from './redact.js';

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

export interface IoOptions {
  stdout?: Writable & { isTTY?: boolean };
  stderr?: Writable & { isTTY?: boolean };
  env?: Record<string, string | undefined>;
  json?: boolean;
  /** false for --no-color. */
  color?: boolean;
  verbose?: boolean;
}

/** Colour is on for a TTY unless NO_COLOR or --no-color; FORCE_COLOR turns it on anywhere. */
export function wantsColor(options: IoOptions): boolean {
  const env = options.env ?? {};
  if (options.color === false) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return Boolean(options.stdout?.isTTY);
}

export class Io {
  readonly stdout: Writable & { isTTY?: boolean };
  readonly stderr: Writable & { isTTY?: boolean };
  readonly json: boolean;
  readonly verbose: boolean;
  readonly color: boolean;
  style: Styles = PLAIN;
  private secrets: string[] = [];

  constructor(options: IoOptions = {}) {
    this.stdout = options.stdout ?? process.stdout;
    this.stderr = options.stderr ?? process.stderr;
    this.json = options.json ?? false;
    this.verbose = options.verbose ?? false;
    this.color = wantsColor({ ...options, stdout: this.stdout });
  }

  /** Loads chalk only when colour is on. */
  async init(): Promise<this> {
    if (this.color) {
      const { Chalk } = await import('chalk');
      const chalk = new Chalk({ level: 1 });
      this.style = { bold: chalk.bold, dim: chalk.dim, red: chalk.red, green: chalk.green, yellow: chalk.yellow, cyan: chalk.cyan };
    }
    return this;
  }

  /** Values that must never be printed (app secrets, master keys). */
  addSecrets(secrets: string[]): void {
    for (const s of secrets) if (s && s.length >= 4 && !this.secrets.includes(s)) this.secrets.push(s);
    // Also process-wide, for output outside any command (a crash).
    registerSecrets(secrets);
  }

  redact(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = out.split(secret).join('[redacted]');
    return out;
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
    this.err(`${this.style.yellow('warning:')} ${text}`);
  }

  debug(text: string): void {
    if (this.verbose) this.err(this.style.dim(text));
  }

  /** Prints an error (stderr, and a JSON document on stdout in JSON mode) and returns its exit code. */
  fail(error: unknown): number {
    const known = error instanceof BroadcastError;
    const exitCode = known ? error.exitCode : ExitCode.failed;
    const message = error instanceof Error ? error.message : String(error);
    if (this.json) {
      this.writeJson({
        ok: false,
        error: {
          code: known ? error.code : 'internal',
          message,
          ...(known && error.hint ? { hint: error.hint } : {}),
          ...(known && error.details ? { details: error.details } : {}),
          exitCode,
        },
      });
    }
    this.err(`${this.style.red('error:')} ${message}`);
    if (known && error.hint) this.err(`  ${this.style.dim('hint:')} ${error.hint}`);
    if (!known && error instanceof Error && error.stack) this.err(error.stack);
    else if (this.verbose && error instanceof Error && error.cause instanceof Error) {
      this.err(`  ${this.style.dim('cause:')} ${error.cause.message}`);
    }
    return exitCode;
  }
}

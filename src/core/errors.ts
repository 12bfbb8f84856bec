/**
 * Errors thrown by the library. Each carries the CLI exit code it maps to, a stable `code` for JSON
 * output and an optional hint. Messages never contain secrets.
 */

/** Exit codes used by the `broadcast` CLI (documented in docs/json-output.md and the README). */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  /** SIGHUP (a closed terminal): handled as SIGTERM is, exit 128 + 1. */
  hangup: 129,
  interrupted: 130,
  terminated: 143,
} as const;

/**
 * Every `error.code` the CLI's JSON can carry, with its exit code and meaning: the one table scripts rely on
 * (docs/json-output.md is generated from it). Codes are stable snake_case; new ones may be added.
 */
export const ERROR_CODES = {
  usage: { exitCode: ExitCode.usage, meaning: 'The command line was wrong: an unknown option, a missing argument, flags that cannot go together.' },
  invalid: { exitCode: ExitCode.usage, meaning: 'A channel name, event name, payload, socket id or input file breaks the protocol\'s rules; nothing was sent.' },
  config: { exitCode: ExitCode.usage, meaning: 'The configuration could not be loaded, or the connection is incomplete or wrong; nothing was sent.' },
  delivery: { exitCode: ExitCode.failed, meaning: 'The server could not be reached, refused the request or failed it.' },
  partial_delivery: { exitCode: ExitCode.failed, meaning: 'Some channels or events were delivered and some were not; the result says which.' },
  mismatch: { exitCode: ExitCode.failed, meaning: 'A signature did not verify (auth:sign --verify, auth:sign-user --verify, webhook:verify).' },
  checks_failed: { exitCode: ExitCode.failed, meaning: 'doctor, auth:test: at least one check failed.' },
  not_received: { exitCode: ExitCode.failed, meaning: 'listen, webhook:listen: fewer events than --count arrived within --duration.' },
  interrupted: { exitCode: ExitCode.interrupted, meaning: 'Stopped by Ctrl-C (SIGINT); the result says what was done before.' },
  terminated: { exitCode: ExitCode.terminated, meaning: 'Stopped by SIGTERM (exit 143) or SIGHUP (exit 129); the result says what was done before.' },
  internal: { exitCode: ExitCode.failed, meaning: 'A bug in broadcast: the stack trace is printed on stderr; please report it.' },
} as const satisfies Record<string, { exitCode: number; meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface BroadcastErrorOptions {
  cause?: unknown;
  /** A more specific code than the class's own (one of ERROR_CODES). */
  code?: ErrorCode;
  hint?: string;
  details?: Record<string, unknown>;
}

export class BroadcastError extends Error {
  /** The code a class's errors get unless the constructor is given a more specific one. */
  static readonly defaultCode: ErrorCode = 'internal';
  /** Stable machine-readable kind, one of ERROR_CODES: `usage`, `config`, `invalid`, `delivery`, … */
  readonly code: ErrorCode;
  /** The CLI's exit code for this error (from ERROR_CODES). */
  readonly exitCode: number;
  readonly hint?: string;
  readonly details?: Record<string, unknown>;

  constructor(message: string, options: BroadcastErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code ?? (new.target as typeof BroadcastError).defaultCode;
    this.exitCode = ERROR_CODES[this.code].exitCode;
    this.hint = options.hint;
    this.details = options.details;
  }
}

/** The command line or the call was wrong (exit 2). */
export class UsageError extends BroadcastError {
  static override readonly defaultCode: ErrorCode = 'usage';
}

/** A channel name, event name, payload or socket id breaks the protocol's rules (exit 2). */
export class ValidationError extends UsageError {
  static override readonly defaultCode: ErrorCode = 'invalid';
}

/** The configuration could not be loaded or is incomplete (exit 2). */
export class ConfigError extends BroadcastError {
  static override readonly defaultCode: ErrorCode = 'config';
}

/** The server could not be reached, rejected the request, or failed (exit 1). */
export class DeliveryError extends BroadcastError {
  static override readonly defaultCode: ErrorCode = 'delivery';
  /** HTTP status when the server answered. */
  readonly status?: number;
  /** True when the request surely never reached the server, so retrying cannot duplicate it. */
  readonly retryable: boolean;

  constructor(
    message: string,
    options: BroadcastErrorOptions & { status?: number; retryable?: boolean } = {},
  ) {
    super(message, options);
    this.status = options.status;
    this.retryable = options.retryable ?? false;
  }
}

/** The command was stopped by a signal before it finished (exit 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP). */
export class StoppedError extends BroadcastError {
  static override readonly defaultCode: ErrorCode = 'interrupted';
  override readonly exitCode: number;
  readonly signal: NodeJS.Signals;

  constructor(signal: NodeJS.Signals, message = signal === 'SIGINT' ? 'Interrupted (Ctrl-C)' : `Stopped by ${signal}`) {
    super(message, { code: signal === 'SIGINT' ? 'interrupted' : 'terminated' });
    this.signal = signal;
    this.exitCode = signal === 'SIGINT' ? ExitCode.interrupted : signal === 'SIGHUP' ? ExitCode.hangup : ExitCode.terminated;
  }
}

/**
 * A failed connection in words, from its Node.js error code: the one wording the transport, the subscriber,
 * `doctor` and the commands that post to an application use.
 */
export function describeNetworkError(code: string | undefined, message?: string): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ECONNRESET':
      return 'connection reset';
    case 'ETIMEDOUT':
      return 'connection timed out';
    default:
      return code || message || 'network error';
  }
}

/** Why a `fetch` with a time limit of `timeoutMs` failed, in words: no answer in time, refused, host not found, … */
export function describeFetchError(error: unknown, timeoutMs: number): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  return describeNetworkError(e?.cause?.code, e?.cause?.message ?? e?.message ?? String(error));
}

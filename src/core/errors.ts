/**
 * Errors thrown by the library. Each carries the CLI exit code it maps to, a stable `code` for JSON
 * output and an optional hint. Messages never contain secrets.
 */

/** Exit codes used by the `broadcast` CLI (documented in the README). */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  interrupted: 130,
  terminated: 143,
} as const;

export interface BroadcastErrorOptions {
  cause?: unknown;
  hint?: string;
  details?: Record<string, unknown>;
}

export class BroadcastError extends Error {
  /** Stable machine-readable kind, e.g. `usage`, `config`, `invalid`, `delivery`. */
  readonly code: string = 'error';
  readonly exitCode: number = ExitCode.failed;
  readonly hint?: string;
  readonly details?: Record<string, unknown>;

  constructor(message: string, options: BroadcastErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
    this.details = options.details;
  }
}

/** The command line or the call was wrong (exit 2). */
export class UsageError extends BroadcastError {
  override readonly code: string = 'usage';
  override readonly exitCode: number = ExitCode.usage;
}

/** A channel name, event name, payload or socket id breaks the protocol's rules (exit 2). */
export class ValidationError extends UsageError {
  override readonly code: string = 'invalid';
}

/** The configuration could not be loaded or is incomplete (exit 2). */
export class ConfigError extends BroadcastError {
  override readonly code: string = 'config';
  override readonly exitCode: number = ExitCode.usage;
}

/** The server could not be reached, rejected the request, or failed (exit 1). */
export class DeliveryError extends BroadcastError {
  override readonly code: string = 'delivery';
  override readonly exitCode: number = ExitCode.failed;
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

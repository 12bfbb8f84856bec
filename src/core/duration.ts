/** Durations on the command line: `500ms`, `5s`, `2m`, `1h`, or a bare number in the option's documented unit. */
import { UsageError } from './errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Longest time a timer can hold (about 24.8 days). */
export const MAX_DURATION_MS = 2_147_483_647;

/**
 * Milliseconds for `value`: a number with a unit (`ms`, `s`, `m`, `h`), or a bare number read in `bareUnit`.
 * Throws a UsageError naming `flag` for anything else, for zero and below, and past ~24 days.
 */
export function parseDuration(value: string, flag: string, bareUnit: 'ms' | 's'): number {
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?\s*$/.exec(value);
  const ms = match ? Number(match[1]) * UNITS[match[2] ?? bareUnit]! : NaN;
  if (!Number.isFinite(ms) || ms <= 0 || ms > MAX_DURATION_MS) {
    throw new UsageError(`${flag} must be a duration such as 500ms, 5s or 2m (a bare number is ${bareUnit === 'ms' ? 'milliseconds' : 'seconds'}), not ${JSON.stringify(value)}`);
  }
  return Math.round(ms);
}

/** `5000` → `5s`, `1500` → `1.5s`, `250` → `250ms`: how help and messages show a duration. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Number((ms / 1000).toFixed(3))}s`;
}

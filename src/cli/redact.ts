/**
 * The secrets this process must never print, shared by every Io and by the output that happens outside a
 * command: commander's own messages (which echo arguments) and a crash that escapes every command. Tiny
 * and dependency-free, because src/cli/main.ts loads it at start-up.
 */

/** Variables whose values are secrets (as in ENV_CONNECTIONS in src/config/schema.ts, not imported to keep start-up small). */
const ENV_SECRET_VARS = ['PUSHER_APP_SECRET', 'PUSHER_ENCRYPTION_MASTER_KEY_BASE64', 'REVERB_APP_SECRET'];

const secrets = new Set<string>();
/** Every 8-character piece of every secret (raw and JSON-escaped): a piece alone already gives much away. */
const pieces = new Set<string>();
const PIECE = 8;

/**
 * Registers values that must never be printed: each as it is, JSON-escaped (a secret holding `"` or `\\`
 * pasted into a name comes back escaped in JSON output), and every 8-character piece of either. Values shorter
 * than 4 characters are ignored (they would mangle text).
 */
export function registerSecrets(values: Iterable<unknown>): void {
  for (const value of values) {
    if (typeof value !== 'string' || value.length < 4 || secrets.has(value)) continue;
    for (const form of new Set([value, JSON.stringify(value).slice(1, -1)])) {
      secrets.add(form);
      for (let i = 0; i + PIECE <= form.length; i++) pieces.add(form.slice(i, i + PIECE));
    }
  }
}

/** The secrets set in the environment (`PUSHER_APP_SECRET`, `PUSHER_ENCRYPTION_MASTER_KEY_BASE64`, `REVERB_APP_SECRET`). */
export function envSecrets(env: Record<string, string | undefined>): string[] {
  return ENV_SECRET_VARS.map((name) => env[name]).filter((value): value is string => typeof value === 'string' && value.length >= 4);
}

/** `text` with every registered secret, and every run of text holding a piece of one, replaced by `[redacted]`. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join('[redacted]');
  if (pieces.size === 0 || out.length < PIECE) return out;
  // Mark every window that is a piece of a secret, then replace each run of marked text once.
  let result = '';
  let kept = 0;
  let runEnd = -1;
  for (let i = 0; i + PIECE <= out.length; i++) {
    if (!pieces.has(out.slice(i, i + PIECE))) continue;
    if (i > runEnd) {
      if (runEnd >= 0) result += '[redacted]';
      result += out.slice(kept, i);
    }
    runEnd = i + PIECE;
    kept = runEnd;
  }
  if (runEnd < 0) return out;
  return `${result}[redacted]${out.slice(kept)}`;
}

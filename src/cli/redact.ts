/**
 * The secrets this process must never print, shared by every Io and by the output that happens outside a
 * command: commander's own messages (which echo arguments) and a crash that escapes every command. Tiny
 * and dependency-free, because src/cli/main.ts loads it at start-up.
 */

/** Variables whose values are secrets (as in ENV_CONNECTIONS in src/config/schema.ts, not imported to keep start-up small). */
const ENV_SECRET_VARS = ['PUSHER_APP_SECRET', 'PUSHER_ENCRYPTION_MASTER_KEY_BASE64', 'REVERB_APP_SECRET'];

const secrets = new Set<string>();

/** Registers values that must never be printed. Values shorter than 4 characters are ignored (they would mangle text). */
export function registerSecrets(values: Iterable<unknown>): void {
  for (const value of values) if (typeof value === 'string' && value.length >= 4) secrets.add(value);
}

/** The secrets set in the environment (`PUSHER_APP_SECRET`, `PUSHER_ENCRYPTION_MASTER_KEY_BASE64`, `REVERB_APP_SECRET`). */
export function envSecrets(env: Record<string, string | undefined>): string[] {
  return ENV_SECRET_VARS.map((name) => env[name]).filter((value): value is string => typeof value === 'string' && value.length >= 4);
}

/** `text` with every registered secret replaced by `[redacted]`. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join('[redacted]');
  return out;
}

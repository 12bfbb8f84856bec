/**
 * Checks a loaded configuration before anything uses it. A config file may come from anywhere (a
 * `.broadcastrc` in a cloned repository, a generated JSON file), so its data is treated as untrusted:
 * prototype keys, absurd nesting or size (a YAML alias "billion laughs"), and wrongly typed top-level
 * fields become a ConfigError naming the place, never a crash, a hang or a polluted prototype.
 */
import { ConfigError } from '../core/errors.js';
import type { BroadcastConfig } from './schema.js';

/** Keys that could reach an object's prototype if some code merged the config with `Object.assign`. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export const CONFIG_LIMITS = {
  /** Deepest nesting of objects and arrays (a real config needs about 5). */
  depth: 32,
  /** Most values in the file, counting shared (aliased) values each time they appear. */
  values: 100_000,
} as const;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * Throws a ConfigError when `config` (as loaded from `file`) is not safe or not shaped like a
 * BroadcastConfig; returns it otherwise. Functions and class instances (from a TypeScript config) are
 * not looked into.
 */
export function checkConfigShape(config: unknown, file: string): BroadcastConfig {
  const fail = (message: string) => new ConfigError(`${file}: ${message}`);
  // Iterative walk: deep nesting cannot overflow the stack, and the count bounds the work.
  const stack: { value: unknown; path: string; depth: number }[] = [{ value: config, path: '', depth: 0 }];
  let values = 0;
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    if (++values > CONFIG_LIMITS.values) throw fail(`too many values (more than ${CONFIG_LIMITS.values}); is it really a config file?`);
    const isArray = Array.isArray(value);
    if (!isArray && !isPlainObject(value)) continue;
    if (depth >= CONFIG_LIMITS.depth) throw fail(`nested too deeply at ${path || 'the top level'} (more than ${CONFIG_LIMITS.depth} levels)`);
    // Pushed in reverse, so that problems are found in the order the file lists them.
    const keys = Object.keys(value as object).reverse();
    for (const key of keys) {
      const at = isArray ? `${path}[${key}]` : path ? `${path}.${key}` : key;
      if (!isArray && FORBIDDEN_KEYS.has(key)) throw fail(`the key "${key}" is not allowed (at ${at})`);
      stack.push({ value: (value as Record<string, unknown>)[key], path: at, depth: depth + 1 });
    }
  }
  if (!isPlainObject(config)) throw fail('must hold a config object');
  const c = config;
  const expect = (field: string, ok: boolean, what: string) => {
    if (c[field] !== undefined && !ok) throw fail(`"${field}" must be ${what}`);
  };
  expect('default', typeof c.default === 'string', 'a connection name (a string)');
  expect('connections', isPlainObject(c.connections), 'an object of connections by name');
  expect('events', Array.isArray(c.events), 'a list of event classes');
  expect('eventsDir', typeof c.eventsDir === 'string', 'a folder path (a string)');
  expect('auth', isPlainObject(c.auth), 'an object');
  expect('channels', isPlainObject(c.channels), 'an object of rules by channel pattern');
  if (isPlainObject(c.auth)) {
    const { route, middleware } = c.auth;
    if (route !== undefined && typeof route !== 'string') throw fail('"auth.route" must be a path (a string)');
    if (middleware !== undefined && !(Array.isArray(middleware) && middleware.every((m) => typeof m === 'string'))) {
      throw fail('"auth.middleware" must be a list of strings');
    }
  }
  for (const [name, connection] of Object.entries(isPlainObject(c.connections) ? c.connections : {})) {
    if (!isPlainObject(connection)) throw fail(`connection "${name}" must be an object`);
  }
  return c as BroadcastConfig;
}

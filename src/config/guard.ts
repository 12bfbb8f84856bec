/**
 * Checks a loaded configuration before anything uses it. A config file may come from anywhere (a
 * `.broadcastrc` in a cloned repository, a generated JSON file), so its data is treated as untrusted:
 * prototype keys, absurd nesting or size (a YAML alias "billion laughs"), getters or proxies that throw,
 * unknown keys (a typo such as `retires` would otherwise be ignored) and wrongly typed top-level fields become
 * a ConfigError naming the file and the place, never a crash, a hang or a polluted prototype.
 */
import { closestName } from '../core/names.js';
import { ConfigError } from '../core/errors.js';
import { CONNECTION_KEYS, type BroadcastConfig } from './schema.js';
import { LIMIT_KEYS } from './servers.js';

/** Keys that could reach an object's prototype if some code merged the config with `Object.assign`. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** The keys a config may have at the top level, and in `auth`. */
export const CONFIG_KEYS = ['default', 'connections', 'events', 'eventsDir', 'auth', 'channels'] as const;
const AUTH_KEYS = ['route', 'middleware'] as const;

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
 * Throws a ConfigError when `config` (as loaded from `file`) is not safe or not shaped like a BroadcastConfig;
 * returns a copy of its plain objects and arrays otherwise, with every getter read once: what a getter or proxy
 * throws is reported here, naming the place, and nothing later can run it again. Functions and class instances
 * (event classes, channel rules of a TypeScript config) are kept as they are, not looked into.
 */
export function checkConfigShape(config: unknown, file: string): BroadcastConfig {
  const fail = (message: string, hint?: string) => new ConfigError(`${file}: ${message}`, hint ? { hint } : {});
  /** Runs `read` (a getter, a proxy trap), turning what it throws into a ConfigError naming the place. */
  const safely = <T>(at: string, read: () => T): T => {
    try {
      return read();
    } catch (error) {
      const kind = error instanceof Error ? error.name : typeof error;
      const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
      throw fail(`reading ${at || 'the config'} threw ${kind}${message ? `: ${message}` : ''}`);
    }
  };
  const root: { value?: unknown } = {};
  // Iterative walk: deep nesting cannot overflow the stack, and the count bounds the work.
  const stack: { value: unknown; path: string; depth: number; put: (copy: unknown) => void }[] = [
    { value: config, path: '', depth: 0, put: (copy) => (root.value = copy) },
  ];
  let values = 0;
  while (stack.length > 0) {
    const { value, path, depth, put } = stack.pop()!;
    if (++values > CONFIG_LIMITS.values) throw fail(`too many values (more than ${CONFIG_LIMITS.values}); is it really a config file?`);
    const isArray = safely(path, () => Array.isArray(value));
    if (!isArray && !safely(path, () => isPlainObject(value))) {
      put(value);
      continue;
    }
    if (depth >= CONFIG_LIMITS.depth) throw fail(`nested too deeply at ${path || 'the top level'} (more than ${CONFIG_LIMITS.depth} levels)`);
    const copy: Record<string, unknown> | unknown[] = isArray ? [] : {};
    put(copy);
    // Pushed in reverse, so that problems are found in the order the file lists them.
    const keys = safely(path, () => Object.keys(value as object)).reverse();
    for (const key of keys) {
      const at = isArray ? `${path}[${key}]` : path ? `${path}.${key}` : key;
      if (!isArray && FORBIDDEN_KEYS.has(key)) throw fail(`the key "${key}" is not allowed (at ${at})`);
      const child = safely(at, () => (value as Record<string, unknown>)[key]);
      stack.push({ value: child, path: at, depth: depth + 1, put: (item) => ((copy as Record<string, unknown>)[key] = item) });
    }
  }
  const c = root.value;
  if (!isPlainObject(c)) throw fail('must hold a config object');
  const unknownKey = (object: Record<string, unknown>, known: readonly string[], where: string) => {
    const key = Object.keys(object).find((k) => !known.includes(k));
    if (key === undefined) return;
    const names = known.filter((k) => !k.startsWith('$'));
    const suggestion = closestName(key, names);
    throw fail(
      `unknown key "${key}"${where ? ` in ${where}` : ''}${suggestion ? ` (did you mean "${suggestion}"?)` : ''}`,
      `${where ? `${where === 'auth' ? 'auth' : 'A connection'}'s` : 'The config\'s'} keys: ${names.join(', ')}`,
    );
  };
  // `$schema` is for editors (a JSON config may point at a schema); nothing reads it.
  unknownKey(c, [...CONFIG_KEYS, '$schema'], '');
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
    unknownKey(c.auth, AUTH_KEYS, 'auth');
    const { route, middleware } = c.auth;
    if (route !== undefined && typeof route !== 'string') throw fail('"auth.route" must be a path (a string)');
    if (middleware !== undefined && !(Array.isArray(middleware) && middleware.every((m) => typeof m === 'string'))) {
      throw fail('"auth.middleware" must be a list of strings');
    }
  }
  for (const [name, connection] of Object.entries(isPlainObject(c.connections) ? c.connections : {})) {
    if (!isPlainObject(connection)) throw fail(`connection "${name}" must be an object`);
    const where = `connections.${name}`;
    unknownKey(connection, CONNECTION_KEYS, where);
    if (isPlainObject(connection.limits)) {
      const key = Object.keys(connection.limits).find((k) => !(LIMIT_KEYS as readonly string[]).includes(k));
      if (key !== undefined) {
        const suggestion = key === 'maxPayloadKb' ? undefined : closestName(key, [...LIMIT_KEYS]);
        throw fail(
          `unknown limit "${key}" in ${where}.limits${suggestion ? ` (did you mean "${suggestion}"?)` : ''}`,
          `Limits: ${LIMIT_KEYS.join(', ')}${key === 'maxPayloadKb' ? '; the payload limit is the connection\'s own maxPayloadKb' : ''}`,
        );
      }
    }
  }
  return c as BroadcastConfig;
}

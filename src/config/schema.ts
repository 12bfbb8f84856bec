/**
 * The configuration shape, `defineConfig`, and how connections are resolved from the config file and the
 * environment. Pure: nothing here reads files or `process.env` by itself.
 */
import { ConfigError } from '../core/errors.js';
import type { EventClass } from '../core/events.js';

export interface PusherConnection {
  driver: 'pusher';
  appId: string;
  key: string;
  secret: string;
  /** Pusher Channels cluster (`mt1`, `eu`, …). Ignored when `host` is set. */
  cluster?: string;
  /** Host of a self-hosted server (soketi, Reverb). */
  host?: string;
  port?: number;
  /** `https` (default) or `http`. */
  scheme?: 'http' | 'https';
  /** Alternative to `scheme`. */
  useTLS?: boolean;
  /** 32 bytes, base64: needed for `private-encrypted-` channels. */
  encryptionMasterKeyBase64?: string;
  /** Largest payload accepted, in KB (10 on Pusher Channels). */
  maxPayloadKb?: number;
  /** Time limit for each request to the server, retries included, in milliseconds (default 10000). */
  timeout?: number;
  /** Retries for requests that surely did not arrive, and for 429/503 answers (default 4). */
  retries?: number;
}

export interface LogConnection {
  driver: 'log';
  maxPayloadKb?: number;
}

export interface NullConnection {
  driver: 'null';
  maxPayloadKb?: number;
}

export type Connection = PusherConnection | LogConnection | NullConnection;

/** A user as the auth route sees it: any object with an `id`. */
export interface BroadcastUser {
  id: string | number;
  [key: string]: unknown;
}

/** The `{placeholder}` names of a pattern: `'orders.{orderId}.items.{itemId}'` → `'orderId' | 'itemId'`. */
export type PatternParamNames<Pattern extends string> = Pattern extends `${string}{${infer Name}}${infer Rest}`
  ? Name | PatternParamNames<Rest>
  : never;

/**
 * The `params` a rule for `Pattern` receives: `'orders.{orderId}'` → `{ orderId: string }`, a pattern with no
 * placeholders → `{}`. For the plain `string` (a rule not tied to a pattern), `Record<string, string>`.
 */
export type ChannelRuleParams<Pattern extends string = string> = Pattern extends unknown
  ? string extends Pattern ? Record<string, string> : Record<PatternParamNames<Pattern>, string>
  : never;

/**
 * A channel authorization rule. Return true/false, or for presence channels an object used as `user_info`.
 * `params` holds the values of the pattern's `{placeholders}`, typed from `Pattern` (`ChannelRule<'orders.{orderId}'>`
 * gets `{ orderId: string }`); `defineConfig` infers it from each key of `channels`.
 */
export type ChannelRule<Pattern extends string = string> = (
  user: BroadcastUser,
  params: ChannelRuleParams<Pattern>,
) => boolean | Record<string, unknown> | null | undefined | Promise<boolean | Record<string, unknown> | null | undefined>;

/** A rule limited to some channel types: `{ type: 'presence', authorize: (user) => ({ name: user.name }) }`. */
export interface ChannelRuleOptions<Pattern extends string = string> {
  authorize: ChannelRule<Pattern>;
  /** `private` covers `private-` and `private-encrypted-`; default: both types. */
  type?: 'private' | 'presence' | ('private' | 'presence')[];
}

/** Authorization rules by pattern, each typed from its own key. */
export type ChannelRules<Patterns extends string = string> = {
  [Pattern in Patterns]: ChannelRule<Pattern> | ChannelRuleOptions<Pattern>;
};

/** The config. `Patterns` (the keys of `channels`) is inferred by `defineConfig`; leave it out elsewhere. */
export interface BroadcastConfig<Patterns extends string = string> {
  /** Name of the connection used when none is given. */
  default?: string;
  connections?: Record<string, Connection>;
  /** Event classes the CLI can emit by name. */
  events?: EventClass[];
  /** Folder whose modules' exported event classes are registered too (default `src/events`). */
  eventsDir?: string;
  auth?: { route?: string; middleware?: string[] };
  /**
   * Authorization rules for private and presence channels, by pattern (`'orders.{orderId}'`). Through
   * `defineConfig`, each rule's `params` is typed from its pattern: `(user, { orderId }) => …`.
   */
  channels?: ChannelRules<Patterns>;
}

/**
 * Identity function that types a `broadcast.config.ts`, and each rule's `params` from its key in `channels`:
 * `'orders.{orderId}': (user, params) => …` gets `params: { orderId: string }`, and `params.orderID` is an error.
 */
export function defineConfig<Patterns extends string = string>(config: BroadcastConfig<Patterns>): BroadcastConfig {
  return config as BroadcastConfig;
}

export const DEFAULT_EVENTS_DIR = 'src/events';
export const DEFAULT_AUTH_ROUTE = '/broadcasting/authorize';

/** Where a resolved value came from. */
export type Source = 'flag' | 'env' | 'config' | 'default';

export interface ResolvedConnection {
  name: string;
  connection: Connection;
  /** Source of each field, and of the choice of this connection (`$selected`). */
  sources: Record<string, Source>;
}

export type Env = Record<string, string | undefined>;

/** The PUSHER_* variables, by connection field. */
export const ENV_VARS = {
  appId: 'PUSHER_APP_ID',
  key: 'PUSHER_APP_KEY',
  secret: 'PUSHER_APP_SECRET',
  cluster: 'PUSHER_APP_CLUSTER',
  host: 'PUSHER_HOST',
  port: 'PUSHER_PORT',
  scheme: 'PUSHER_SCHEME',
  encryptionMasterKeyBase64: 'PUSHER_ENCRYPTION_MASTER_KEY_BASE64',
} as const;

const BUILT_IN: Record<string, Connection> = { log: { driver: 'log' }, null: { driver: 'null' } };

function envValue(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

function hasPusherEnv(env: Env): boolean {
  return Object.values(ENV_VARS).some((name) => envValue(env, name) !== undefined);
}

/**
 * All connections by name: the built-in `log` and `null`, those in the config, and `pusher` built from
 * the PUSHER_* variables. Set variables override the fields of the config's own `pusher` connection.
 */
export function listConnections(config: BroadcastConfig, env: Env): Map<string, ResolvedConnection> {
  const out = new Map<string, ResolvedConnection>();
  for (const [name, connection] of Object.entries(BUILT_IN)) {
    out.set(name, { name, connection, sources: { driver: 'default' } });
  }
  for (const [name, connection] of Object.entries(config.connections ?? {})) {
    if (!connection || typeof connection !== 'object') {
      throw new ConfigError(`Connection "${name}" in the config must be an object`);
    }
    const sources: Record<string, Source> = {};
    for (const key of Object.keys(connection)) sources[key] = 'config';
    out.set(name, { name, connection: { ...connection }, sources });
  }
  const fromConfig = out.get('pusher');
  if (hasPusherEnv(env) && (!fromConfig || fromConfig.connection.driver === 'pusher')) {
    const base = (fromConfig?.connection ?? { driver: 'pusher' }) as Record<string, unknown>;
    const sources = { ...(fromConfig?.sources ?? { driver: 'default' }) };
    const merged: Record<string, unknown> = { ...base };
    for (const [field, variable] of Object.entries(ENV_VARS)) {
      const value = envValue(env, variable);
      if (value === undefined) continue;
      merged[field] = field === 'port' ? parsePort(value, variable) : value;
      sources[field] = 'env';
    }
    if (merged.scheme !== undefined && merged.scheme !== 'http' && merged.scheme !== 'https') {
      throw new ConfigError(`PUSHER_SCHEME must be "http" or "https", not ${JSON.stringify(merged.scheme)}`);
    }
    out.set('pusher', { name: 'pusher', connection: merged as unknown as Connection, sources });
  }
  return out;
}

function parsePort(value: string, variable: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError(`${variable} must be a port number (1-65535), not ${JSON.stringify(value)}`);
  }
  return port;
}

/**
 * Picks the connection to use: `--connection`, then BROADCAST_CONNECTION, then the config's `default`, then
 * `pusher` when one exists, then the built-in `log`.
 */
export function resolveConnection(
  config: BroadcastConfig,
  env: Env,
  flag?: string,
): ResolvedConnection {
  const connections = listConnections(config, env);
  const envChoice = envValue(env, 'BROADCAST_CONNECTION');
  const [name, source]: [string, Source] = flag
    ? [flag, 'flag']
    : envChoice
      ? [envChoice, 'env']
      : config.default
        ? [config.default, 'config']
        : connections.has('pusher')
          ? ['pusher', 'default']
          : ['log', 'default'];
  const resolved = connections.get(name);
  if (!resolved) {
    const via = source === 'flag' ? '--connection' : source === 'env' ? 'BROADCAST_CONNECTION' : 'the config\'s "default"';
    throw new ConfigError(`Unknown connection "${name}" (from ${via})`, {
      hint: `Known connections: ${[...connections.keys()].join(', ')}`,
    });
  }
  checkConnection(resolved);
  return { ...resolved, sources: { ...resolved.sources, $selected: source } };
}

/** Throws a ConfigError naming what is missing or wrong. */
export function checkConnection({ name, connection }: ResolvedConnection): void {
  const driver = (connection as { driver?: unknown }).driver;
  if (driver !== 'pusher' && driver !== 'log' && driver !== 'null') {
    throw new ConfigError(
      `Connection "${name}" has an unknown driver ${JSON.stringify(driver)}; use "pusher", "log" or "null"`,
    );
  }
  if (connection.maxPayloadKb !== undefined && !(Number(connection.maxPayloadKb) > 0 && Number.isFinite(Number(connection.maxPayloadKb)))) {
    throw new ConfigError(`Connection "${name}": maxPayloadKb must be a positive number`);
  }
  if (connection.driver !== 'pusher') return;
  const missing = (['appId', 'key', 'secret'] as const).filter((field) => {
    const value = connection[field];
    return value === undefined || value === null || String(value) === '';
  });
  if (missing.length > 0) {
    throw new ConfigError(
      `Connection "${name}" is missing ${missing.join(', ')}`,
      { hint: `Set ${missing.map((f) => ENV_VARS[f]).join(', ')} or add ${missing.join(', ')} to the connection in broadcast.config.ts` },
    );
  }
  if (connection.scheme !== undefined && connection.scheme !== 'http' && connection.scheme !== 'https') {
    throw new ConfigError(`Connection "${name}": scheme must be "http" or "https"`);
  }
  checkPusherFields(name, connection);
  if (connection.encryptionMasterKeyBase64 !== undefined) {
    const key = Buffer.from(String(connection.encryptionMasterKeyBase64), 'base64');
    if (key.length !== 32) {
      throw new ConfigError(
        `Connection "${name}": encryptionMasterKeyBase64 must decode to 32 bytes (it decodes to ${key.length})`,
        { hint: 'Generate one with: openssl rand -base64 32' },
      );
    }
  }
}

/** Longest time limit a timer can hold (about 24.8 days). */
export const MAX_TIMEOUT_MS = 2_147_483_647;

/** Types and ranges of a pusher connection's fields, so hostile or mistyped values fail here, clearly. */
function checkPusherFields(name: string, connection: PusherConnection): void {
  const c = connection as unknown as Record<string, unknown>;
  const fail = (message: string) => new ConfigError(`Connection "${name}": ${message}`);
  for (const field of ['appId', 'key', 'secret'] as const) {
    const v = c[field];
    if (typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) throw fail(`${field} must be a string`);
  }
  for (const field of ['host', 'cluster', 'encryptionMasterKeyBase64'] as const) {
    if (c[field] !== undefined && typeof c[field] !== 'string') throw fail(`${field} must be a string`);
  }
  const whole = (field: string, min: number, max: number, what: string) => {
    const v = c[field];
    if (v === undefined) return;
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
      throw fail(`${field} must be ${what}, not ${typeof v === 'string' ? JSON.stringify(v) : typeof v === 'object' ? 'an object' : String(v)}`);
    }
  };
  whole('port', 1, 65535, 'a port number (1-65535)');
  whole('timeout', 1, MAX_TIMEOUT_MS, `a time in milliseconds (1-${MAX_TIMEOUT_MS})`);
  whole('retries', 0, 100, 'a whole number from 0 to 100');
}

/** The base URL of a pusher connection's HTTP API, for messages (no credentials in it). */
export function connectionUrl(connection: PusherConnection): string {
  const scheme = connection.scheme ?? (connection.useTLS === false ? 'http' : 'https');
  const host = connection.host ?? `api-${connection.cluster ?? 'mt1'}.pusher.com`;
  const port = connection.port ?? (scheme === 'https' ? 443 : 80);
  return `${scheme}://${host}:${port}`;
}

/** Secrets that must never be printed. */
export function secretsOf(connection: Connection): string[] {
  if (connection.driver !== 'pusher') return [];
  return [connection.secret, connection.encryptionMasterKeyBase64]
    .filter((s): s is string => typeof s === 'string' && s.length > 0)
    .map(String);
}

/**
 * The configuration shape, `defineConfig`, and how connections are resolved from the config file and the
 * environment: which connection is used, every value checked (and a host given with a scheme or port split
 * up) before anything is sent, and the server profile whose limits apply. Pure: nothing here reads files or
 * `process.env` by itself.
 */
import { ConfigError } from '../core/errors.js';
import type { EventClass } from '../core/events.js';
import { isPusherHost, LIMIT_KEYS, SERVER_LIMITS, SERVERS, type LimitOverrides, type ServerLimits, type ServerName } from './servers.js';

export { SERVER_LIMITS, SERVERS, type LimitOverrides, type ServerLimits, type ServerName } from './servers.js';

/** Fields every connection may have: which server it talks to, and limits that differ from that server's. */
export interface ConnectionLimits {
  /**
   * The server this connection talks to; what is checked before sending follows its limits (SERVER_LIMITS).
   * Default: `pusher` (Pusher Channels' limits), except for the connection named `reverb` (`reverb`).
   */
  server?: ServerName;
  /** Largest payload accepted, in KB (default: the server's: 10 on Pusher Channels, 100 on soketi, 9 on Reverb). */
  maxPayloadKb?: number;
  /** Limits that differ from the server's defaults (a soketi started with other limits, a Reverb with a larger request size). */
  limits?: LimitOverrides;
}

export interface PusherConnection extends ConnectionLimits {
  driver: 'pusher';
  appId: string;
  key: string;
  secret: string;
  /** Pusher Channels cluster (`mt1`, `eu`, …). Ignored when `host` is set. */
  cluster?: string;
  /** Host of a self-hosted server (soketi, Reverb): a name or address; `http://host:6001` is split into scheme, host and port. */
  host?: string;
  port?: number;
  /** `https` (default) or `http`. */
  scheme?: 'http' | 'https';
  /** Alternative to `scheme`. */
  useTLS?: boolean;
  /** 32 bytes, base64: needed for `private-encrypted-` channels. */
  encryptionMasterKeyBase64?: string;
  /** Time limit for each request to the server, retries included, in milliseconds (default 10000). */
  timeout?: number;
  /** Retries for requests that surely did not arrive, and for 429/503 answers (default 4). */
  retries?: number;
}

export interface LogConnection extends ConnectionLimits {
  driver: 'log';
}

export interface NullConnection extends ConnectionLimits {
  driver: 'null';
}

export type Connection = PusherConnection | LogConnection | NullConnection;

/** Every field a connection may have (any driver: a pusher connection switched to `log` keeps its credentials). */
export const CONNECTION_KEYS = [
  'driver',
  'appId',
  'key',
  'secret',
  'cluster',
  'host',
  'port',
  'scheme',
  'useTLS',
  'encryptionMasterKeyBase64',
  'timeout',
  'retries',
  'server',
  'maxPayloadKb',
  'limits',
] as const;

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

/** A connection as listed: its fields as given, and where each came from. */
export interface ConnectionEntry {
  name: string;
  connection: Connection;
  /** Source of each field, and of the choice of this connection (`$selected`). */
  sources: Record<string, Source>;
  /**
   * Where each field was read, for messages and `broadcast config`: the variable (`PUSHER_HOST`) or the place in
   * the config (`connections.pusher.host in broadcast.config.ts`); `$selected` for the choice of the connection.
   */
  origins: Record<string, string>;
}

/** The connection in use: every value checked and normalized, with the server it talks to and its limits. */
export interface ResolvedConnection extends ConnectionEntry {
  /** The server profile whose limits apply (`server`, BROADCAST_SERVER, else the default: see `defaultServer`). */
  server: ServerName;
  /**
   * What is checked before sending: the server's limits (SERVER_LIMITS) with the connection's own `maxPayloadKb`
   * and `limits` over them. `connection.maxPayloadKb` is set to `limits.maxPayloadKb`.
   */
  limits: ServerLimits;
  /** Things worth telling the user about how the connection was chosen (BROADCAST_DRIVER read as a fallback). */
  notes: string[];
}

export type Env = Record<string, string | undefined>;

/**
 * The variables that define a connection from the environment, by connection name: PUSHER_* the `pusher`
 * connection, REVERB_* (Laravel Reverb's `.env` names) the `reverb` connection.
 */
export const ENV_CONNECTIONS = {
  pusher: {
    appId: 'PUSHER_APP_ID',
    key: 'PUSHER_APP_KEY',
    secret: 'PUSHER_APP_SECRET',
    cluster: 'PUSHER_APP_CLUSTER',
    host: 'PUSHER_HOST',
    port: 'PUSHER_PORT',
    scheme: 'PUSHER_SCHEME',
    encryptionMasterKeyBase64: 'PUSHER_ENCRYPTION_MASTER_KEY_BASE64',
  },
  reverb: {
    appId: 'REVERB_APP_ID',
    key: 'REVERB_APP_KEY',
    secret: 'REVERB_APP_SECRET',
    host: 'REVERB_HOST',
    port: 'REVERB_PORT',
    scheme: 'REVERB_SCHEME',
  },
} as const satisfies Record<string, Partial<Record<keyof PusherConnection, string>>>;

/** The PUSHER_* variables, by connection field. */
export const ENV_VARS = ENV_CONNECTIONS.pusher;

/**
 * Where a hint tells the user to set some fields of a connection: its variables for `pusher` (PUSHER_*) and
 * `reverb` (REVERB_*), otherwise the connection in the config file, which no variable changes.
 */
export function connectionFields(connectionName: string, fields: Array<'appId' | 'key' | 'secret' | 'host' | 'port' | 'scheme'>): string {
  const variables: Partial<Record<string, string>> | undefined = (ENV_CONNECTIONS as Record<string, Partial<Record<string, string>>>)[connectionName];
  if (variables) return fields.map((field) => variables[field]).join(', ');
  return `${fields.join(', ')} of connections.${connectionName} in the config`;
}

/** Variables that pick the connection and its server. */
export const CHOICE_VARS = {
  connection: 'BROADCAST_CONNECTION',
  /** Laravel 10 and earlier's name for BROADCAST_CONNECTION: read when that is not set. */
  driver: 'BROADCAST_DRIVER',
  server: 'BROADCAST_SERVER',
  maxPayloadKb: 'BROADCAST_MAX_PAYLOAD_KB',
} as const;

const BUILT_IN: Record<string, Connection> = { log: { driver: 'log' }, null: { driver: 'null' } };

function envValue(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

/** The file each loaded config came from (load.ts tells), so messages can name the place of a bad value. */
const configFiles = new WeakMap<object, string>();

/** Remembers that `config` was loaded from `file` (as shown to the user), for messages about its values. */
export function rememberConfigFile(config: object, file: string): void {
  configFiles.set(config, file);
}

/** `connections.pusher.host in broadcast.config.ts`: a place in the config, as messages name it. */
export function configPlace(config: BroadcastConfig, ...keys: string[]): string {
  const file = configFiles.get(config);
  const path = keys.map((key, i) => (/^[A-Za-z_$][\w$]*$/.test(key) ? `${i ? '.' : ''}${key}` : `[${JSON.stringify(key)}]`)).join('');
  return `${path} in ${file ?? 'the config'}`;
}

/**
 * All connections by name, as given: the built-in `log` and `null`, those in the config, `pusher` built from
 * the PUSHER_* variables and `reverb` from the REVERB_* variables. Set variables override the fields of the
 * config's own connection of that name. Values are checked by `resolveConnection` (or `prepareConnection`).
 */
export function listConnections(config: BroadcastConfig, env: Env): Map<string, ConnectionEntry> {
  const out = new Map<string, ConnectionEntry>();
  for (const [name, connection] of Object.entries(BUILT_IN)) {
    out.set(name, { name, connection, sources: { driver: 'default' }, origins: {} });
  }
  for (const [name, connection] of Object.entries(config.connections ?? {})) {
    if (!connection || typeof connection !== 'object') {
      throw new ConfigError(`${configPlace(config, 'connections', name)} must be an object`);
    }
    const sources: Record<string, Source> = {};
    const origins: Record<string, string> = {};
    for (const key of Object.keys(connection)) {
      sources[key] = 'config';
      origins[key] = configPlace(config, 'connections', name, key);
    }
    out.set(name, { name, connection: { ...connection }, sources, origins });
  }
  for (const [name, variables] of Object.entries(ENV_CONNECTIONS)) {
    const set = Object.entries(variables).filter(([, variable]) => envValue(env, variable) !== undefined);
    const fromConfig = out.get(name);
    if (set.length === 0 || (fromConfig && fromConfig.connection.driver !== 'pusher')) continue;
    const merged: Record<string, unknown> = { ...(fromConfig?.connection ?? { driver: 'pusher' }) };
    const sources: Record<string, Source> = { ...(fromConfig?.sources ?? { driver: 'default' }) };
    const origins = { ...fromConfig?.origins };
    for (const [field, variable] of set) {
      merged[field] = envValue(env, variable);
      sources[field] = 'env';
      origins[field] = variable;
    }
    out.set(name, { name, connection: merged as unknown as Connection, sources, origins });
  }
  return out;
}

/** Which connection is used, and why. */
export interface ConnectionChoice {
  name: string;
  source: Source;
  /** What chose it: `--connection`, `BROADCAST_CONNECTION`, `"default" in broadcast.config.ts`, … */
  origin: string;
  notes: string[];
}

/**
 * Picks the connection's name: `--connection`, then BROADCAST_CONNECTION (BROADCAST_DRIVER, Laravel 10's name, when
 * it is not set), then the config's `default`, then `pusher` when it exists (the config's or PUSHER_*), then
 * `reverb` when it exists (the config's or REVERB_*), then the built-in `log`.
 */
export function chooseConnection(config: BroadcastConfig, env: Env, flag?: string, connections = listConnections(config, env)): ConnectionChoice {
  const notes: string[] = [];
  const fromEnv = envValue(env, CHOICE_VARS.connection);
  const fromDriver = envValue(env, CHOICE_VARS.driver);
  if (flag) return { name: flag, source: 'flag', origin: '--connection', notes };
  if (fromEnv) return { name: fromEnv, source: 'env', origin: CHOICE_VARS.connection, notes };
  if (fromDriver) {
    notes.push(`${CHOICE_VARS.driver}=${fromDriver} chose the connection (Laravel 10 and earlier); Laravel 11 names it ${CHOICE_VARS.connection}, which takes precedence`);
    return { name: fromDriver, source: 'env', origin: CHOICE_VARS.driver, notes };
  }
  if (config.default) return { name: config.default, source: 'config', origin: `"default" in ${configFiles.get(config) ?? 'the config'}`, notes };
  for (const name of ['pusher', 'reverb']) {
    if (connections.has(name)) return { name, source: 'default', origin: `a "${name}" connection exists`, notes };
  }
  return { name: 'log', source: 'default', origin: 'no pusher or reverb connection exists', notes };
}

/**
 * The connection to use (see `chooseConnection`), with every value checked and normalized (`prepareConnection`);
 * BROADCAST_SERVER, when set, names its server. Throws a ConfigError naming the variable or config place that
 * holds a bad value, before anything is sent.
 */
export function resolveConnection(config: BroadcastConfig, env: Env, flag?: string): ResolvedConnection {
  const connections = listConnections(config, env);
  const choice = chooseConnection(config, env, flag, connections);
  const entry = connections.get(choice.name);
  if (!entry) {
    const known = [...connections.keys()].join(', ');
    throw new ConfigError(`Unknown connection "${choice.name}" (from ${choice.origin})`, {
      hint:
        choice.origin === CHOICE_VARS.driver
          ? `Known connections: ${known}. ${CHOICE_VARS.driver} is Laravel's older name: set ${CHOICE_VARS.connection} to pick a connection here`
          : `Known connections: ${known}`,
    });
  }
  const server = envValue(env, CHOICE_VARS.server);
  const selected: ConnectionEntry =
    server === undefined
      ? entry
      : {
          name: entry.name,
          connection: { ...entry.connection, server } as Connection,
          sources: { ...entry.sources, server: 'env' },
          origins: { ...entry.origins, server: CHOICE_VARS.server },
        };
  const resolved = prepareConnection(selected, config);
  return {
    ...resolved,
    sources: { ...resolved.sources, $selected: choice.source },
    origins: { ...resolved.origins, $selected: choice.origin },
    notes: choice.notes,
  };
}

const DRIVERS = ['pusher', 'log', 'null'] as const;

/** Longest time limit a timer can hold (about 24.8 days). */
export const MAX_TIMEOUT_MS = 2_147_483_647;

/** A Pusher Channels cluster name: `mt1`, `eu`, `ap-southeast-1`. */
const CLUSTER = /^[a-z0-9-]+$/;

/** A host name (letters, digits, `-`, `_` for container names), or an IPv4 address. */
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/**
 * Checks every value of a connection and returns it normalized: numbers given as strings become numbers, a host
 * given as `http://127.0.0.1:6001` is split into scheme, host and port (refused when that disagrees with the
 * connection's own port or scheme), and the server's limits are worked out. Throws a ConfigError naming the
 * variable or config place of the first bad value; secrets are never in the message.
 */
export function prepareConnection(entry: ConnectionEntry, config: BroadcastConfig = {}): ResolvedConnection {
  const { name } = entry;
  const c: Record<string, unknown> = { ...(entry.connection as unknown as Record<string, unknown>) };
  // An empty optional text (`host: process.env.PUSHER_HOST ?? ''`) is not set, as an empty variable is not.
  for (const field of ['host', 'cluster', 'scheme', 'encryptionMasterKeyBase64']) if (c[field] === '') delete c[field];
  const inConfig = configPlace(config, 'connections', name);
  const sources = { ...entry.sources };
  const origins = { ...entry.origins };
  const where = (field: string) => origins[field] ?? `${field} of connection "${name}"`;
  const fail = (field: string, problem: string, hint?: string) => new ConfigError(`${where(field)} ${problem}`, hint ? { hint } : {});
  const shown = (value: unknown) =>
    typeof value === 'string' ? JSON.stringify(value) : typeof value === 'object' && value !== null ? 'an object' : String(value);

  if (!(DRIVERS as readonly unknown[]).includes(c.driver)) {
    throw fail('driver', `is an unknown driver ${shown(c.driver)}; use "pusher", "log" or "null"`);
  }
  if (c.server !== undefined && !(SERVERS as readonly unknown[]).includes(c.server)) {
    throw fail('server', `must be "pusher", "soketi" or "reverb", not ${shown(c.server)}`);
  }
  const number = (field: string, min: number, max: number, what: string, whole = true): void => {
    const v = c[field];
    if (v === undefined) return;
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n) || (whole && !Number.isInteger(n)) || n < min || n > max) {
      throw fail(field, `must be ${what}, not ${shown(v)}`);
    }
    c[field] = n;
  };
  number('maxPayloadKb', Number.MIN_VALUE, Number.MAX_VALUE, 'a positive number of KB', false);
  const limits = checkLimits(c.limits, where('limits'));

  if (c.driver === 'pusher') {
    checkCredentials(entry, c, where, inConfig);
    for (const field of ['host', 'cluster', 'encryptionMasterKeyBase64', 'scheme'] as const) {
      if (c[field] !== undefined && typeof c[field] !== 'string') throw fail(field, 'must be a string');
    }
    if (c.useTLS !== undefined && typeof c.useTLS !== 'boolean') throw fail('useTLS', 'must be true or false');
    if (typeof c.scheme === 'string') {
      const scheme = c.scheme.toLowerCase();
      if (scheme !== 'http' && scheme !== 'https') throw fail('scheme', `must be "http" or "https", not ${shown(c.scheme)}`);
      c.scheme = scheme;
    }
    if (typeof c.host === 'string') splitHost(c, sources, origins, where);
    number('port', 1, 65535, 'a port number (1-65535)');
    number('timeout', 1, MAX_TIMEOUT_MS, `a time in milliseconds (1-${MAX_TIMEOUT_MS})`);
    number('retries', 0, 100, 'a whole number from 0 to 100');
    if (c.scheme !== undefined && c.useTLS !== undefined && (c.scheme === 'https') !== c.useTLS) {
      throw fail('scheme', `is ${shown(c.scheme)} but ${where('useTLS')} is ${String(c.useTLS)}; give one of them`);
    }
    if (typeof c.cluster === 'string' && !CLUSTER.test(c.cluster)) {
      throw fail('cluster', `must be a cluster name such as mt1, eu or us2 (lowercase letters, digits and -), not ${shown(c.cluster)}`);
    }
    if (c.encryptionMasterKeyBase64 !== undefined) checkMasterKey(String(c.encryptionMasterKeyBase64), where('encryptionMasterKeyBase64'));
  }

  const server = (c.server as ServerName | undefined) ?? defaultServer(name, c as unknown as Connection).server;
  if (c.driver === 'pusher' && server !== 'pusher' && c.host === undefined) {
    const variable = ENV_CONNECTIONS[name as keyof typeof ENV_CONNECTIONS]?.host;
    throw new ConfigError(`Connection "${name}" talks to ${server === 'reverb' ? 'Reverb' : 'soketi'} but has no host`, {
      hint: `${variable ? `Set ${variable} (with its port and scheme) or add` : 'Add'} host, port and scheme to ${inConfig}`,
    });
  }
  const effective: ServerLimits = { ...SERVER_LIMITS[server], ...limits };
  if (c.maxPayloadKb !== undefined) effective.maxPayloadKb = c.maxPayloadKb as number;
  c.maxPayloadKb = effective.maxPayloadKb;
  return { name, connection: c as unknown as Connection, sources, origins, server, limits: effective, notes: [] };
}

/** appId, key and secret: all present, and none holding what a copy-paste or an env file leaves behind. */
function checkCredentials(entry: ConnectionEntry, c: Record<string, unknown>, where: (field: string) => string, inConfig: string): void {
  const missing = (['appId', 'key', 'secret'] as const).filter((field) => {
    const value = c[field];
    return value === undefined || value === null || String(value) === '';
  });
  if (missing.length > 0) {
    const variables = ENV_CONNECTIONS[entry.name as keyof typeof ENV_CONNECTIONS];
    const add = `add ${missing.join(', ')} to ${inConfig}`;
    const hint = variables ? `Set ${missing.map((f) => variables[f]).join(', ')} or ${add}` : `${add[0]!.toUpperCase()}${add.slice(1)}`;
    throw new ConfigError(`Connection "${entry.name}" is missing ${missing.join(', ')}`, { hint });
  }
  for (const field of ['appId', 'key', 'secret'] as const) {
    const v = c[field];
    if (typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) throw new ConfigError(`${where(field)} must be a string`);
    const text = String(v);
    // The secret's value is never shown; the others are public.
    const problem = textProblem(text) ?? (field !== 'secret' && /\s/.test(text) ? 'has spaces in it' : undefined);
    if (problem) throw new ConfigError(`${where(field)} ${problem}${field === 'secret' ? ' (the value is not shown)' : ''}`, { hint: QUOTES_HINT });
    if (field === 'appId' && /[/?#%\\]/.test(text)) {
      throw new ConfigError(`${where(field)} must be an app id, without / ? # % or \\, not ${JSON.stringify(text)}`);
    }
  }
}

const QUOTES_HINT = 'docker --env-file and some CI settings keep quotes and spaces that a shell would remove';

/** What is wrong with a credential or host as text: surrounding spaces or quotes, control characters. */
function textProblem(text: string): string | undefined {
  if (text.trim() !== text) return 'has spaces at its start or end';
  if (/^(["']).*\1$/s.test(text)) return 'is wrapped in quotes';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(text)) return 'holds control characters';
  return undefined;
}

/**
 * Splits a host given with a scheme or port (`http://127.0.0.1:6001`, `127.0.0.1:6001`, `[::1]:6001`) into the
 * connection's scheme, host and port. A part that disagrees with the connection's own port or scheme, a path,
 * credentials or anything that is not a host name or address are refused: never doubled into `…:6001:6001`.
 */
function splitHost(c: Record<string, unknown>, sources: Record<string, Source>, origins: Record<string, string>, where: (field: string) => string): void {
  const raw = c.host as string;
  const fail = (problem: string, hint?: string) => new ConfigError(`${where('host')} ${problem}`, hint ? { hint } : {});
  const example = 'a host name or address such as ws.example.com or 127.0.0.1';
  const problem = textProblem(raw);
  if (problem) throw fail(problem, QUOTES_HINT);
  let rest = raw;
  let scheme: string | undefined;
  const withScheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(rest);
  if (withScheme) {
    scheme = withScheme[1]!.toLowerCase();
    rest = rest.slice(withScheme[0].length);
    if (scheme === 'ws' || scheme === 'wss') scheme = scheme === 'ws' ? 'http' : 'https';
    if (scheme !== 'http' && scheme !== 'https') throw fail(`must be ${example}, not ${JSON.stringify(raw)} (the scheme is http or https)`);
  }
  rest = rest.replace(/\/$/, '');
  if (/[/?#]/.test(rest)) throw fail(`must be ${example}, not ${JSON.stringify(raw)}: a path cannot be given`);
  if (rest.includes('@')) throw fail('must not hold credentials (user:password@): set the key and secret instead');
  let host: string;
  let port: string | undefined;
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    host = rest.slice(1, end);
    const after = rest.slice(end + 1);
    if (end < 0 || !isIPv6(host) || (after !== '' && !after.startsWith(':'))) throw fail(`must be ${example}, not ${JSON.stringify(raw)}`);
    if (after) port = after.slice(1);
  } else if (isIPv6(rest)) {
    host = rest;
  } else {
    const colon = rest.lastIndexOf(':');
    host = colon < 0 ? rest : rest.slice(0, colon);
    if (colon >= 0) port = rest.slice(colon + 1);
    if (!HOST_NAME.test(host)) throw fail(`must be ${example}, not ${JSON.stringify(raw)}`);
  }
  if (port !== undefined) {
    const n = /^\d{1,5}$/.test(port) ? Number(port) : NaN;
    if (!(n >= 1 && n <= 65535)) throw fail(`has a port that is not a port number (1-65535): ${JSON.stringify(raw)}`);
    if (c.port !== undefined && Number(c.port) !== n) {
      throw fail(`gives port ${n} but ${where('port')} is ${String(c.port)}; give the port in one place`);
    }
    c.port = n;
    sources.port = sources.host!;
    origins.port = where('host');
  }
  if (scheme !== undefined) {
    const given = typeof c.scheme === 'string' ? c.scheme : c.useTLS === undefined ? undefined : c.useTLS ? 'https' : 'http';
    if (given !== undefined && given !== scheme) {
      const other = c.scheme !== undefined ? 'scheme' : 'useTLS';
      throw fail(`gives the scheme ${scheme} but ${where(other)} is ${String(c[other])}; give the scheme in one place`);
    }
    c.scheme = scheme;
    sources.scheme = sources.host!;
    origins.scheme = where('host');
  }
  c.host = host;
}

/** A master key must be standard base64 (what the pusher library accepts) of exactly 32 bytes. */
function checkMasterKey(key: string, where: string): void {
  const hint = 'Generate one with: openssl rand -base64 32';
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(key)) {
    throw new ConfigError(`${where} must be standard base64 (A-Z a-z 0-9 + / =) that decodes to 32 bytes`, { hint });
  }
  const length = Buffer.from(key, 'base64').length;
  if (length !== 32) throw new ConfigError(`${where} must decode to 32 bytes (it decodes to ${length})`, { hint });
}

/** A connection's `limits`: known names, positive whole numbers (`requestBytes` may be null: no request limit). */
function checkLimits(value: unknown, where: string): LimitOverrides {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(`${where} must be an object of limits by name`);
  const out: Record<string, number | null> = {};
  for (const [key, v] of Object.entries(value)) {
    if (!(LIMIT_KEYS as readonly string[]).includes(key)) {
      throw new ConfigError(`${where} has an unknown limit "${key}"`, {
        hint: `Limits: ${LIMIT_KEYS.join(', ')}${key === 'maxPayloadKb' ? '; the payload limit is the connection\'s own maxPayloadKb' : ''}`,
      });
    }
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (n === null && key === 'requestBytes') out[key] = null;
    else if (typeof n === 'number' && Number.isInteger(n) && n >= 1) out[key] = n;
    else throw new ConfigError(`${where}: ${key} must be a positive whole number, not ${JSON.stringify(v) ?? String(v)}`);
  }
  return out as LimitOverrides;
}

/**
 * The server a connection talks to when it does not say (`server`, BROADCAST_SERVER), and why: `pusher` for
 * Pusher Channels (no host, or a pusher.com host), `reverb` for the connection named `reverb` (REVERB_*), and
 * `pusher` for any other host too: its limits are the strictest of the three on data, so nothing the server might
 * refuse goes out; a soketi or Reverb connection says so to get its server's limits.
 */
export function defaultServer(name: string, connection: Connection): { server: ServerName; reason: string } {
  const host = connection.driver === 'pusher' && typeof connection.host === 'string' ? connection.host : undefined;
  if (connection.driver !== 'pusher') return { server: 'pusher', reason: `a ${connection.driver} connection checks Pusher Channels' limits` };
  if (host !== undefined && isPusherHost(host)) return { server: 'pusher', reason: `${host} is Pusher Channels` };
  if (name === 'reverb') return { server: 'reverb', reason: 'the "reverb" connection' };
  if (host === undefined) return { server: 'pusher', reason: 'Pusher Channels (no host)' };
  return { server: 'pusher', reason: `${host} is not a Pusher Channels host: set server to "soketi" or "reverb" (or BROADCAST_SERVER) for their limits` };
}

/** The base URL of a pusher connection's HTTP API, for messages (no credentials in it). */
export function connectionUrl(connection: PusherConnection): string {
  const scheme = connection.scheme ?? (connection.useTLS === false ? 'http' : 'https');
  const host = connection.host ?? `api-${connection.cluster ?? 'mt1'}.pusher.com`;
  const port = connection.port ?? (scheme === 'https' ? 443 : 80);
  return `${scheme}://${isIPv6(host) ? `[${host}]` : host}:${port}`;
}

/** Secrets that must never be printed. */
export function secretsOf(connection: Connection): string[] {
  if (connection.driver !== 'pusher') return [];
  return [connection.secret, connection.encryptionMasterKeyBase64]
    .filter((s): s is string => typeof s === 'string' && s.length > 0)
    .map(String);
}

/** BROADCAST_MAX_PAYLOAD_KB: the payload limit without a config file (e.g. 100 for soketi in CI); undefined when unset. */
export function maxPayloadKbFromEnv(env: Env): number | undefined {
  const value = env[CHOICE_VARS.maxPayloadKb]?.trim();
  if (value === undefined || value === '') return undefined;
  const kb = Number(value);
  if (!(kb > 0 && Number.isFinite(kb))) {
    throw new ConfigError(`${CHOICE_VARS.maxPayloadKb} must be a positive number of KB, not ${JSON.stringify(env[CHOICE_VARS.maxPayloadKb])}`, {
      hint: `e.g. ${CHOICE_VARS.maxPayloadKb}=100 for soketi's default limit; Pusher Channels allows 10 (or set BROADCAST_SERVER=soketi)`,
    });
  }
  return kb;
}

/**
 * An IPv6 address (`::1`, `fe80::1`, `::ffff:127.0.0.1`), checked here rather than with node:net's isIPv6: this
 * module loads on every command, and node:net costs a few milliseconds to load.
 */
export function isIPv6(text: string): boolean {
  if (!/^[0-9A-Fa-f:.]+$/.test(text) || !text.includes(':')) return false;
  const [head, ...tail] = text.split('::');
  if (tail.length > 1) return false;
  const groups = [...(head ? head.split(':') : []), ...(tail[0] ? tail[0].split(':') : [])];
  const last = groups.at(-1) ?? '';
  const ipv4 = last.includes('.');
  if (ipv4 && !/^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/.test(groups.pop()!)) return false;
  if (!groups.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g))) return false;
  const size = groups.length + (ipv4 ? 2 : 0);
  return tail.length === 1 ? size < 8 : size === 8;
}

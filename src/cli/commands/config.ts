/**
 * `broadcast config`: the resolved configuration, where each value came from, secrets masked; for the connection
 * in use, its server profile, the limits checked before sending and the request settings (timeout, retries,
 * payload limit) as a command given the same flags would use them.
 */
import path from 'node:path';
import { DEFAULTS } from '../../config/defaults.js';
import { displayPath, loadConfig } from '../../config/load.js';
import {
  chooseConnection,
  DEFAULT_AUTH_ROUTE,
  DEFAULT_EVENTS_DIR,
  defaultServer,
  listConnections,
  maxPayloadKbFromEnv,
  prepareConnection,
  resolveConnection,
  type ConnectionEntry,
  type Env,
  type PusherConnection,
  type ResolvedConnection,
  type Source,
} from '../../config/schema.js';
import { LIMIT_KEYS } from '../../config/servers.js';
import { ConfigError } from '../../core/errors.js';
import { defineCommand } from '../command.js';
import { formatDuration } from '../../core/duration.js';
import type { SendingOptions } from '../context.js';

const SECRET_FIELDS = new Set(['secret', 'encryptionMasterKeyBase64']);

/** Masks a secret: only whether it is set, and its length, are shown. */
export function mask(value: unknown): string {
  return `[set, ${String(value).length} characters]`;
}

/** A value and where it came from. */
export interface Sourced<T = unknown> {
  value: T;
  source: Source;
  /** The variable, flag or config place it was read from, or why a default applies. */
  from?: string;
}

/** The connection in use as commands would use it: its server profile, limits and request settings. */
export interface EffectiveSettings {
  server: Sourced<string>;
  /** Per-request time limit in ms, retries included (pusher connections only). */
  timeout?: Sourced<number>;
  retries?: Sourced<number>;
  maxPayloadKb: Sourced<number>;
  channelNameLength: Sourced<number>;
  eventNameLength: Sourced<number>;
  channelsPerTrigger: Sourced<number>;
  eventsPerBatch: Sourced<number>;
  requestBytes: Sourced<number | null>;
}

export interface ConfigResult {
  /** Absolute path of the config file; null when none was found. */
  configFile: string | null;
  /** The connection commands would use; `source` is missing when it cannot be used (the error says why). */
  connection: { name: string; source?: Source; from?: string };
  /** The connection in use: server, limits, timeout, retries; missing when it cannot be used. */
  effective?: EffectiveSettings;
  /** Every connection by name, each field with its source; secrets masked. */
  connections: Record<string, Record<string, Sourced>>;
  eventsDir: Sourced<string>;
  /** Names of the event classes listed in the config's `events`. */
  events: string[];
  auth: { route: Sourced<string>; middleware: string[] };
  /** The channel patterns that have authorization rules. */
  channels: string[];
  /** Notes on how the connection was chosen (BROADCAST_DRIVER read as a fallback). */
  notes: string[];
}

export default defineCommand<ConfigResult>({
  async run(ctx, options: SendingOptions = {}) {
    const { io, env } = ctx;
    const loaded = await loadConfig({ cwd: ctx.cwd, configPath: ctx.options.config, env });
    const cfg = loaded.config;
    const connections = listConnections(cfg, env);
    for (const { connection } of connections.values()) {
      for (const field of SECRET_FIELDS) {
        const value = (connection as unknown as Record<string, unknown>)[field];
        if (typeof value === 'string') io.addSecrets([value]);
      }
    }
    const choice = chooseConnection(cfg, env, ctx.options.connection, connections);
    let resolved: ResolvedConnection | undefined;
    let error: ConfigError | undefined;
    let effective: EffectiveSettings | undefined;
    try {
      resolved = resolveConnection(cfg, env, ctx.options.connection);
      effective = effectiveSettings(resolved, options, env);
    } catch (problem) {
      if (!(problem instanceof ConfigError)) throw problem;
      // The rest of the configuration is still worth showing beside the problem.
      error = problem;
    }
    const result: ConfigResult = {
      configFile: loaded.filepath ?? null,
      connection: resolved ? { name: resolved.name, source: choice.source, from: choice.origin } : { name: choice.name },
      ...(effective ? { effective } : {}),
      connections: Object.fromEntries(
        [...connections.values()].map((entry) => [entry.name, fieldsOf(entry.name === resolved?.name ? resolved : checked(entry, cfg))]),
      ),
      eventsDir: { value: cfg.eventsDir ?? DEFAULT_EVENTS_DIR, source: cfg.eventsDir ? 'config' : 'default' },
      events: (cfg.events ?? []).map((e) => e.name),
      auth: {
        route: { value: cfg.auth?.route ?? DEFAULT_AUTH_ROUTE, source: cfg.auth?.route ? 'config' : 'default' },
        middleware: cfg.auth?.middleware ?? [],
      },
      channels: Object.keys(cfg.channels ?? {}),
      notes: choice.notes,
    };
    return error ? { result, error } : { result };
  },

  render(io, result) {
    const s = io.style;
    const row = (label: string, value: unknown, sourced: Omit<Sourced, 'value'>) =>
      io.out(`  ${label.padEnd(26)} ${String(value).padEnd(30)} ${s.dim(describe(sourced))}`);
    const file = result.configFile;
    io.out(`${s.bold('config file')}   ${file ? displayPath(file) : s.dim('none found (using environment and defaults)')}`);
    const { name, source } = result.connection;
    const why = source === 'default' ? `default: ${result.connection.from}` : `from ${source}${source === 'env' ? ` ${result.connection.from}` : ''}`;
    io.out(`${s.bold('connection')}    ${name}${source ? s.dim(`  (${why})`) : s.red('  (cannot be used)')}`);
    for (const note of result.notes) io.out(`${s.dim('note:')} ${note}`);
    io.out('');
    for (const [connectionName, fields] of Object.entries(result.connections)) {
      io.out(`${s.bold(connectionName)}${connectionName === name && source ? s.green('  (in use)') : ''}`);
      for (const [field, { value, ...sourced }] of Object.entries(fields)) row(field, value, sourced);
    }
    if (result.effective) {
      io.out('');
      io.out(`${s.bold('sending')}  ${s.dim(`(connection ${name}: its server's limits, checked before sending)`)}`);
      for (const [field, { value, ...sourced }] of Object.entries(result.effective) as [string, Sourced][]) {
        const shown = value === null ? 'none' : field === 'timeout' ? formatDuration(value as number) : value;
        row(field, shown, sourced);
      }
    }
    io.out('');
    io.out(`${s.bold('eventsDir')}     ${path.normalize(result.eventsDir.value)} ${s.dim(result.eventsDir.source)}`);
    io.out(`${s.bold('auth route')}    ${result.auth.route.value} ${s.dim(result.auth.route.source)}`);
    const rules = result.channels;
    io.out(`${s.bold('channel rules')} ${rules.length ? rules.join(', ') : s.dim('none (any authenticated user is authorized)')}`);
  },
});

/** How a person reads a source: `env PUSHER_HOST`, `flag --timeout`, `config`, `default (the soketi server's)`. */
function describe({ source, from }: Omit<Sourced, 'value'>): string {
  if (!from) return source;
  if (source === 'env' || source === 'flag') return `${source} ${from}`;
  return source === 'default' ? `${source} (${from})` : source;
}

/** A connection checked and normalized (a host with its port split up) when it can be, else as given. */
function checked(entry: ConnectionEntry, config: Parameters<typeof prepareConnection>[1]): ConnectionEntry {
  try {
    return prepareConnection(entry, config);
  } catch {
    return entry;
  }
}

/** A connection's fields as given (and normalized), each with its source; secrets masked. */
function fieldsOf({ connection, sources, origins }: ConnectionEntry): Record<string, Sourced> {
  return Object.fromEntries(
    Object.entries(connection)
      // Fields nobody gave (the payload limit a server profile filled in) are shown under `effective`.
      .filter(([field]) => sources[field] !== undefined)
      .map(([field, value]) => [
        field,
        {
          value: SECRET_FIELDS.has(field) ? mask(value) : value,
          source: sources[field]!,
          ...(origins[field] ? { from: origins[field] } : {}),
        },
      ]),
  );
}

/**
 * The settings a command run with `flags` would use on `resolved`: the server and its limits (the connection's
 * own `maxPayloadKb` and `limits` over the server's), and timeout, retries and the payload limit, each from the
 * flag, else the environment (BROADCAST_MAX_PAYLOAD_KB), else the connection, else the default.
 */
export function effectiveSettings(resolved: ResolvedConnection, flags: SendingOptions, env: Env): EffectiveSettings {
  const { sources, origins, limits, server } = resolved;
  const connection = resolved.connection as Partial<PusherConnection>;
  const sourced = <T>(value: T, source: Source, from?: string): Sourced<T> => ({ value, source, ...(from ? { from } : {}) });
  const profile = `the ${server} server's`;
  const given = (field: 'timeout' | 'retries', flag: number | undefined, fallback: number) =>
    flag !== undefined
      ? sourced(flag, 'flag', `--${field}`)
      : connection[field] !== undefined
        ? sourced(connection[field] as number, sources[field]!, origins[field])
        : sourced(fallback, 'default');
  const envKb = maxPayloadKbFromEnv(env);
  const own = connection.limits ?? {};
  const out: EffectiveSettings = {
    server: sources.server ? sourced(server, sources.server, origins.server) : sourced(server, 'default', defaultServer(resolved.name, resolved.connection).reason),
    ...(connection.driver === 'pusher'
      ? { timeout: given('timeout', flags.timeout, DEFAULTS.timeoutMs), retries: given('retries', flags.retries, DEFAULTS.retries) }
      : {}),
    maxPayloadKb:
      flags.maxPayloadKb !== undefined
        ? sourced(flags.maxPayloadKb, 'flag', '--max-payload-kb')
        : envKb !== undefined
          ? sourced(envKb, 'env', 'BROADCAST_MAX_PAYLOAD_KB')
          : sources.maxPayloadKb
            ? sourced(limits.maxPayloadKb, sources.maxPayloadKb, origins.maxPayloadKb)
            : sourced(limits.maxPayloadKb, 'default', profile),
  } as EffectiveSettings;
  for (const key of LIMIT_KEYS) {
    (out as unknown as Record<string, Sourced>)[key] =
      own[key] !== undefined ? sourced(limits[key], sources.limits!, origins.limits) : sourced(limits[key], 'default', profile);
  }
  return out;
}

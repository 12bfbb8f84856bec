/** `broadcast config`: the resolved configuration, where each value came from, secrets masked. */
import path from 'node:path';
import { displayPath, loadConfig } from '../../config/load.js';
import { DEFAULT_AUTH_ROUTE, DEFAULT_EVENTS_DIR, listConnections, resolveConnection, type Source } from '../../config/schema.js';
import { ConfigError } from '../../core/errors.js';
import { defineCommand } from '../command.js';

const SECRET_FIELDS = new Set(['secret', 'encryptionMasterKeyBase64']);

/** Masks a secret: only whether it is set, and its length, are shown. */
export function mask(value: unknown): string {
  return `[set, ${String(value).length} characters]`;
}

/** A value and where it came from. */
export interface Sourced<T = unknown> {
  value: T;
  source: Source;
}

export interface ConfigResult {
  /** Absolute path of the config file; null when none was found. */
  configFile: string | null;
  /** The connection commands would use; `source` is missing when it cannot be used (the error says why). */
  connection: { name: string; source?: Source };
  /** Every connection by name, each field with its source; secrets masked. */
  connections: Record<string, Record<string, Sourced>>;
  eventsDir: Sourced<string>;
  /** Names of the event classes listed in the config's `events`. */
  events: string[];
  auth: { route: Sourced<string>; middleware: string[] };
  /** The channel patterns that have authorization rules. */
  channels: string[];
}

export default defineCommand<ConfigResult>({
  async run(ctx) {
    const { io, env, options } = ctx;
    const loaded = await loadConfig({ cwd: ctx.cwd, configPath: options.config });
    const cfg = loaded.config;
    const connections = listConnections(cfg, env);
    for (const { connection } of connections.values()) {
      for (const field of SECRET_FIELDS) {
        const value = (connection as unknown as Record<string, unknown>)[field];
        if (typeof value === 'string') io.addSecrets([value]);
      }
    }
    let connection: ConfigResult['connection'];
    let error: ConfigError | undefined;
    try {
      const resolved = resolveConnection(cfg, env, options.connection);
      connection = { name: resolved.name, source: resolved.sources.$selected };
    } catch (problem) {
      if (!(problem instanceof ConfigError)) throw problem;
      // The rest of the configuration is still worth showing beside the problem.
      error = problem;
      connection = { name: options.connection || env.BROADCAST_CONNECTION || cfg.default || 'pusher' };
    }
    const result: ConfigResult = {
      configFile: loaded.filepath ?? null,
      connection,
      connections: Object.fromEntries(
        [...connections.values()].map(({ name, connection: fields, sources }) => [
          name,
          Object.fromEntries(
            Object.entries(fields).map(([field, value]) => [
              field,
              { value: SECRET_FIELDS.has(field) ? mask(value) : value, source: sources[field] ?? 'default' },
            ]),
          ),
        ]),
      ),
      eventsDir: { value: cfg.eventsDir ?? DEFAULT_EVENTS_DIR, source: cfg.eventsDir ? 'config' : 'default' },
      events: (cfg.events ?? []).map((e) => e.name),
      auth: {
        route: { value: cfg.auth?.route ?? DEFAULT_AUTH_ROUTE, source: cfg.auth?.route ? 'config' : 'default' },
        middleware: cfg.auth?.middleware ?? [],
      },
      channels: Object.keys(cfg.channels ?? {}),
    };
    return error ? { result, error } : { result };
  },

  render(io, result) {
    const s = io.style;
    const file = result.configFile;
    io.out(`${s.bold('config file')}   ${file ? displayPath(file) : s.dim('none found (using environment and defaults)')}`);
    const { name, source } = result.connection;
    io.out(`${s.bold('connection')}    ${name}${source ? s.dim(`  (from ${source})`) : s.red('  (cannot be used)')}`);
    io.out('');
    for (const [connectionName, fields] of Object.entries(result.connections)) {
      io.out(`${s.bold(connectionName)}${connectionName === name && source ? s.green('  (in use)') : ''}`);
      for (const [field, { value, source: from }] of Object.entries(fields)) {
        io.out(`  ${field.padEnd(26)} ${String(value).padEnd(30)} ${s.dim(from)}`);
      }
    }
    io.out('');
    io.out(`${s.bold('eventsDir')}     ${path.normalize(result.eventsDir.value)} ${s.dim(result.eventsDir.source)}`);
    io.out(`${s.bold('auth route')}    ${result.auth.route.value} ${s.dim(result.auth.route.source)}`);
    const rules = result.channels;
    io.out(`${s.bold('channel rules')} ${rules.length ? rules.join(', ') : s.dim('none (any authenticated user is authorized)')}`);
  },
});

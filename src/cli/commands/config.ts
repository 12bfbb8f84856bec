/** `broadcast config`: the resolved configuration, where each value came from, secrets masked. */
import path from 'node:path';
import type { Context } from '../context.js';
import { DEFAULT_AUTH_ROUTE, DEFAULT_EVENTS_DIR, listConnections, resolveConnection, type Source } from '../../config/schema.js';
import { loadConfig, displayPath } from '../../config/load.js';

const SECRET_FIELDS = new Set(['secret', 'encryptionMasterKeyBase64']);

/** Masks a secret: only whether it is set, and its length, are shown. */
export function mask(value: unknown): string {
  return `[set, ${String(value).length} characters]`;
}

export default async function config(ctx: Context): Promise<number> {
  const { io } = ctx;
  const loaded = await loadConfig({ cwd: ctx.cwd, configPath: ctx.options.config });
  const cfg = loaded.config;
  const connections = listConnections(cfg, ctx.env);
  for (const { connection } of connections.values()) {
    for (const field of SECRET_FIELDS) {
      const value = (connection as unknown as Record<string, unknown>)[field];
      if (typeof value === 'string') io.addSecrets([value]);
    }
  }
  let selected: { name: string; source?: Source; problem?: string };
  try {
    const resolved = resolveConnection(cfg, ctx.env, ctx.options.connection);
    selected = { name: resolved.name, source: resolved.sources.$selected };
  } catch (error) {
    selected = { name: ctx.options.connection ?? ctx.env.BROADCAST_CONNECTION ?? cfg.default ?? '?', problem: (error as Error).message };
  }
  const view = {
    configFile: loaded.filepath ?? null,
    connection: selected,
    connections: Object.fromEntries(
      [...connections.values()].map(({ name, connection, sources }) => [
        name,
        Object.fromEntries(
          Object.entries(connection).map(([field, value]) => [
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
  if (io.json) {
    io.writeJson(view);
    return selected.problem ? 2 : 0;
  }
  const s = io.style;
  io.out(`${s.bold('config file')}   ${loaded.filepath ? displayPath(loaded.filepath, ctx.cwd) : s.dim('none found (using environment and defaults)')}`);
  io.out(`${s.bold('connection')}    ${selected.name}${selected.source ? s.dim(`  (from ${selected.source})`) : ''}`);
  if (selected.problem) io.out(`              ${s.red(selected.problem)}`);
  io.out('');
  for (const [name, fields] of Object.entries(view.connections)) {
    io.out(`${s.bold(name)}${name === selected.name ? s.green('  (in use)') : ''}`);
    for (const [field, { value, source }] of Object.entries(fields)) {
      io.out(`  ${field.padEnd(26)} ${String(value).padEnd(30)} ${s.dim(source)}`);
    }
  }
  io.out('');
  io.out(`${s.bold('eventsDir')}     ${path.normalize(view.eventsDir.value)} ${s.dim(view.eventsDir.source)}`);
  io.out(`${s.bold('auth route')}    ${view.auth.route.value} ${s.dim(view.auth.route.source)}`);
  io.out(`${s.bold('channel rules')} ${view.channels.length ? view.channels.join(', ') : s.dim('none (any authenticated user is authorized)')}`);
  if (selected.problem) return 2;
  return 0;
}

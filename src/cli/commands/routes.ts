/**
 * `broadcast routes`: the auth routes a web app mounts and the channel authorization rules, like
 * `routes:list` and `channel:list` in Masonite and Laravel.
 */
import { readFile } from 'node:fs/promises';
import { compileRules, type RuleChannelType } from '../../auth/rules.js';
import { authRoutes, type RouteDefinition } from '../../auth/routes.js';
import type { Context } from '../context.js';
import { displayPath, loadConfig } from '../../config/load.js';

/** One channel rule as `routes --json` prints it. */
export interface ChannelRuleInfo {
  pattern: string;
  types: RuleChannelType[];
  params: string[];
  /** `file:line` of the pattern in the config file (just the file when the line is not found), or null. */
  definedAt: string | null;
}

export interface RoutesView {
  routes: RouteDefinition[];
  channels: ChannelRuleInfo[];
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The 1-based line where `pattern` is written as a key (or method name) in the config source, if found. */
export function findPatternLine(source: string, pattern: string): number | undefined {
  const quoted = `(['"\`])${escapeRegex(pattern)}\\1\\s*[:(]`;
  const bare = /^[A-Za-z_$][\w$]*$/.test(pattern) ? `|(?<![\\w$.])${escapeRegex(pattern)}\\s*[:(]` : '';
  const regex = new RegExp(`${quoted}${bare}`, 'g');
  // Prefer a match after the `channels` key, so an event name equal to a pattern is not taken for it.
  const start = Math.max(0, source.search(/\bchannels\s*:/));
  for (const from of [start, 0]) {
    regex.lastIndex = from;
    const match = regex.exec(source);
    if (match) return source.slice(0, match.index).split('\n').length;
  }
  return undefined;
}

export async function routesView(ctx: Context): Promise<RoutesView> {
  const loaded = await loadConfig({ cwd: ctx.cwd, configPath: ctx.options.config });
  const routes = authRoutes(loaded.config);
  const rules = compileRules(loaded.config.channels);
  let source: string | undefined;
  if (loaded.filepath && rules.length > 0) source = await readFile(loaded.filepath, 'utf8').catch(() => undefined);
  const file = loaded.filepath ? displayPath(loaded.filepath, ctx.cwd) : null;
  const channels = rules.map((rule) => {
    const line = source === undefined ? undefined : findPatternLine(source, rule.pattern);
    return {
      pattern: rule.pattern,
      types: rule.types,
      params: rule.params,
      definedAt: file === null ? null : line === undefined ? file : `${file}:${line}`,
    };
  });
  return { routes, channels };
}

function table(rows: string[][], header: string[], bold: (s: string) => string): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [bold(line(header)), ...rows.map(line)];
}

export default async function routes(ctx: Context): Promise<number> {
  const { io } = ctx;
  const view = await routesView(ctx);
  if (io.json) {
    io.writeJson(view);
    return 0;
  }
  const s = io.style;
  io.out(s.bold('Auth routes'));
  for (const line of table(
    view.routes.map((r) => [r.method, r.path, r.name, r.handler, r.middleware.join(', ') || '-', r.csrfExempt ? 'yes' : 'no']),
    ['METHOD', 'PATH', 'NAME', 'HANDLER', 'MIDDLEWARE', 'CSRF-EXEMPT'],
    s.bold,
  )) io.out(`  ${line}`);
  io.out('');
  io.out(s.bold('Channel rules'));
  if (view.channels.length === 0) {
    io.out(`  ${s.dim('none: any authenticated user may subscribe to any private or presence channel')}`);
    return 0;
  }
  for (const line of table(
    view.channels.map((c) => [c.pattern, c.types.join(', '), c.params.join(', ') || '-', c.definedAt ?? '-']),
    ['PATTERN', 'CHANNELS', 'PARAMS', 'DEFINED AT'],
    s.bold,
  )) io.out(`  ${line}`);
  io.out(s.dim('  Patterns match the name without its prefix; the first match decides. A private or presence channel no rule matches is refused.'));
  return 0;
}

/**
 * `broadcast routes`: the auth routes a web app mounts (the configured channel authorization route, Laravel
 * Echo's default `/broadcasting/auth`, and the user authentication route, all answered by one handler) and the
 * channel authorization rules, like `routes:list` and `channel:list` in Masonite and Laravel.
 */
import { readFile } from 'node:fs/promises';
import { compileRules, type RuleChannelType } from '../../auth/rules.js';
import { authRoutes, userAuthRoutes, type RouteDefinition } from '../../auth/routes.js';
import { displayPath, loadConfig } from '../../config/load.js';
import { defineCommand } from '../command.js';
import { refuseConnectionFlag } from '../input.js';
import { printTable } from '../table.js';
import { escapeRegex } from '../../core/names.js';

/** One channel rule as `routes --json` prints it. */
export interface ChannelRuleInfo {
  pattern: string;
  types: RuleChannelType[];
  params: string[];
  /** `file:line` of the pattern in the config file (just the file when the line is not found), or null. */
  definedAt: string | null;
}

/** The auth routes a web app mounts, and the channel rules that decide who may subscribe. */
export interface RoutesResult {
  /** What `createAuthHandler` answers: the channel authorization routes, then the user authentication route. */
  routes: RouteDefinition[];
  channels: ChannelRuleInfo[];
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

export default defineCommand<RoutesResult>({
  async run(ctx) {
    refuseConnectionFlag(ctx, 'routes');
    const loaded = await loadConfig({ cwd: ctx.cwd, configPath: ctx.options.config });
    const routes = [...authRoutes(loaded.config), ...userAuthRoutes(loaded.config)];
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
    return { result: { routes, channels } };
  },

  render(io, { routes, channels }) {
    const s = io.style;
    io.out(s.bold('Auth routes'));
    printTable(
      io,
      ['METHOD', 'PATH', 'NAME', 'HANDLER', 'MIDDLEWARE', 'CSRF-EXEMPT'],
      routes.map((r) => [r.method, r.path, r.name, r.handler, r.middleware.join(', ') || '-', r.csrfExempt ? 'yes' : 'no']),
      '  ',
    );
    io.out(s.dim('  One handler answers them all: createAuthHandler (Node, Express, Fastify) or createFetchAuthHandler (Next.js, Hono, Bun, Deno, Workers).'));
    io.out('');
    io.out(s.bold('Channel rules'));
    if (channels.length === 0) {
      io.out(`  ${s.dim('none: any authenticated user may subscribe to any private or presence channel')}`);
      return;
    }
    printTable(
      io,
      ['PATTERN', 'CHANNELS', 'PARAMS', 'DEFINED AT'],
      channels.map((c) => [c.pattern, c.types.join(', '), c.params.join(', ') || '-', c.definedAt ?? '-']),
      '  ',
    );
    io.out(s.dim('  Patterns match the name without its prefix; the first match decides. A private or presence channel no rule matches is refused.'));
  },
});

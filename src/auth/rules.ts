/**
 * Channel authorization rules, Laravel style: patterns on the channel name without its type prefix, with
 * `{param}` placeholders (`'orders.{orderId}'` matches `private-orders.42` and `presence-orders.42`).
 */
import { channelType } from '../core/channels.js';
import type { BroadcastConfig, BroadcastUser, ChannelRule, ChannelRules } from '../config/schema.js';
import { ConfigError } from '../core/errors.js';
import { escapeRegex } from '../core/names.js';

/** The channel types a rule can cover. `private` includes `private-encrypted-`. */
export type RuleChannelType = 'private' | 'presence';

const ALL_TYPES: readonly RuleChannelType[] = ['private', 'presence'];

/** A rule ready to match: its pattern as a regular expression and the names of its placeholders. */
export interface CompiledRule {
  pattern: string;
  params: string[];
  types: RuleChannelType[];
  authorize: ChannelRule;
  regex: RegExp;
}

const PLACEHOLDER = /\{([A-Za-z_$][A-Za-z0-9_$]*)\}/g;
const LITERAL = /^[A-Za-z0-9_\-=@,.;*]*$/;


/**
 * Turns a pattern into a regular expression. A `{name}` matches one dot-separated segment (`[^.]+`), `*`
 * matches anything (dots included), every other character matches itself. Throws a ConfigError for
 * characters a channel name cannot hold, for a type prefix, and for a placeholder used twice.
 */
export function compilePattern(pattern: string): { regex: RegExp; params: string[] } {
  if (typeof pattern !== 'string' || pattern === '') throw new ConfigError('A channel rule pattern must be a non-empty string');
  const prefix = ['private-encrypted-', 'private-', 'presence-'].find((p) => pattern.startsWith(p));
  if (prefix) {
    throw new ConfigError(`Channel rule "${pattern}": write the pattern without the "${prefix}" prefix`, {
      hint: `Rules match the name without its prefix: use "${pattern.slice(prefix.length)}" (and \`type\` to limit it to private or presence channels)`,
    });
  }
  const params: string[] = [];
  let source = '';
  let last = 0;
  for (const match of pattern.matchAll(PLACEHOLDER)) {
    const name = match[1]!;
    if (params.includes(name)) throw new ConfigError(`Channel rule "${pattern}": the placeholder {${name}} is used twice`);
    source += literal(pattern, pattern.slice(last, match.index)) + '([^.]+)';
    params.push(name);
    last = match.index + match[0].length;
  }
  source += literal(pattern, pattern.slice(last));
  return { regex: new RegExp(`^${source}$`), params };
}

function literal(pattern: string, text: string): string {
  if (!LITERAL.test(text)) {
    const bad = [...new Set([...text].filter((c) => !LITERAL.test(c)))].map((c) => JSON.stringify(c)).join(', ');
    throw new ConfigError(`Channel rule "${pattern}" contains ${bad}`, {
      hint: 'Patterns use channel-name characters (A-Z a-z 0-9 _ - = @ , . ;), {placeholders} and *',
    });
  }
  return text.split('*').map(escapeRegex).join('.*');
}

/**
 * Compiles the config's `channels`, in the order they are written. Throws a ConfigError naming a bad entry.
 * Like `defineConfig`, types each rule's `params` from its pattern when given an object literal.
 */
export function compileRules<Patterns extends string = string>(given: ChannelRules<Patterns> | undefined): CompiledRule[] {
  const channels: BroadcastConfig['channels'] = given as BroadcastConfig['channels'];
  if (channels === undefined || channels === null) return [];
  if (typeof channels !== 'object' || Array.isArray(channels)) {
    throw new ConfigError('The config\'s "channels" must be an object of pattern → rule');
  }
  return Object.entries(channels).map(([pattern, rule]) => {
    const { regex, params } = compilePattern(pattern);
    let authorize: unknown = rule;
    let types: RuleChannelType[] = [...ALL_TYPES];
    if (rule && typeof rule === 'object' && !Array.isArray(rule)) {
      authorize = rule.authorize;
      if (rule.type !== undefined) {
        const given: unknown[] = Array.isArray(rule.type) ? rule.type : [rule.type];
        if (given.length === 0 || given.some((t) => t !== 'private' && t !== 'presence')) {
          throw new ConfigError(`Channel rule "${pattern}": type must be "private", "presence" or both, not ${JSON.stringify(rule.type)}`);
        }
        types = ALL_TYPES.filter((t) => given.includes(t));
      }
    }
    if (typeof authorize !== 'function') {
      throw new ConfigError(`Channel rule "${pattern}" must be a function (user, params) => boolean | user_info, or { authorize, type }`, {
        hint: 'Rules are code: define them in broadcast.config.ts (or .js), not in a JSON config',
      });
    }
    return { pattern, params, types, authorize: authorize as ChannelRule, regex };
  });
}

/** The rule type of a full channel name, or undefined for a public channel. */
export function ruleChannelType(channel: string): RuleChannelType | undefined {
  const type = channelType(channel);
  if (type === 'public') return undefined;
  return type === 'presence' ? 'presence' : 'private';
}

/** The first rule (in config order) whose pattern and type match the full channel name, with its parameters. */
export function matchRule(rules: readonly CompiledRule[], channel: string): { rule: CompiledRule; params: Record<string, string> } | undefined {
  // The prefix decides the type and what the patterns see (channelType / stripPrefix, inlined: this runs per request).
  let type: RuleChannelType;
  let name: string;
  if (channel.startsWith('private-encrypted-')) {
    type = 'private';
    name = channel.slice(18);
  } else if (channel.startsWith('private-')) {
    type = 'private';
    name = channel.slice(8);
  } else if (channel.startsWith('presence-')) {
    type = 'presence';
    name = channel.slice(9);
  } else {
    return undefined;
  }
  for (const rule of rules) {
    if (!rule.types.includes(type)) continue;
    const match = rule.regex.exec(name);
    if (match) return { rule, params: paramsOf(rule.params, match) };
  }
  return undefined;
}

function paramsOf(names: readonly string[], match: RegExpExecArray): Record<string, string> {
  const params: Record<string, string> = {};
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    // A placeholder named __proto__ must be an own property, not the prototype.
    if (name === '__proto__') Object.defineProperty(params, name, { value: match[i + 1]!, enumerable: true, writable: true, configurable: true });
    else params[name] = match[i + 1]!;
  }
  return params;
}

/** What the rules decided for one subscription. */
export type RuleDecision =
  | { allowed: true; rule?: string; userInfo?: Record<string, unknown> }
  | { allowed: false; reason: 'no-rule' | 'refused' | 'error'; rule?: string; error?: unknown };

/**
 * Applies the rules to a user and a full channel name. With no rules, every user is allowed. Otherwise the
 * first matching rule decides: `true` allows, a plain object allows and (for presence) becomes `user_info`,
 * anything else refuses. A rule that throws or rejects refuses (`reason: 'error'`) instead of propagating.
 */
export async function applyRules(rules: readonly CompiledRule[], user: BroadcastUser, channel: string): Promise<RuleDecision> {
  return decideRules(rules, user, channel);
}

/** `applyRules`, but synchronous unless the matching rule returns a promise (the auth handler's hot path). */
export function decideRules(rules: readonly CompiledRule[], user: BroadcastUser, channel: string): RuleDecision | Promise<RuleDecision> {
  if (rules.length === 0) return { allowed: true };
  const found = matchRule(rules, channel);
  if (!found) return { allowed: false, reason: 'no-rule' };
  const { rule, params } = found;
  try {
    const result: unknown = rule.authorize(user, params);
    if (isThenable(result)) {
      return Promise.resolve(result).then(
        (value) => ruleResult(rule, value),
        (error: unknown) => ruleError(rule, error),
      );
    }
    return ruleResult(rule, result);
  } catch (error) {
    return ruleError(rule, error);
  }
}

function ruleResult(rule: CompiledRule, result: unknown): RuleDecision {
  if (result === true) return { allowed: true, rule: rule.pattern };
  if (result !== null && typeof result === 'object' && !Array.isArray(result)) {
    return { allowed: true, rule: rule.pattern, userInfo: result as Record<string, unknown> };
  }
  return { allowed: false, reason: 'refused', rule: rule.pattern };
}

function ruleError(rule: CompiledRule, error: unknown): RuleDecision {
  return { allowed: false, reason: 'error', rule: rule.pattern, error };
}

/** True for a promise or any other thenable (what `await` would wait for). */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function';
}

const cache = new WeakMap<object, CompiledRule[]>();

/** `compileRules` for a config, compiled once per `channels` object. */
export function rulesOf(config: BroadcastConfig): CompiledRule[] {
  const channels = config.channels;
  if (!channels || typeof channels !== 'object') return compileRules(channels);
  let rules = cache.get(channels);
  if (!rules) {
    rules = compileRules(channels);
    cache.set(channels, rules);
  }
  return rules;
}

/** `broadcast emit <channels> <event>`, `broadcast emit <EventClass>`, and (emit-file.ts) `broadcast emit --file`. */
import type { Broadcast, BroadcastResult, PreparedBroadcast } from '../../core/broadcast.js';
import { prefixTypo, type ChannelAttributes } from '../../core/channels.js';
import { BroadcastError, ConfigError, UsageError, ValidationError } from '../../core/errors.js';
import type { EventClass } from '../../core/events.js';
import { missingFieldMark } from '../../core/validation.js';
import { defineCommand, type Outcome } from '../command.js';
import { openBroadcast, projectDir, type Context, type SendingOptions } from '../context.js';
import { readJsonOption, splitList } from '../input.js';
import type { Io } from '../io.js';
import type { BulkEmitResult, BulkDryRunResult } from './emit-file.js';
import { escapeRegex } from '../../core/names.js';

export interface EmitOptions extends SendingOptions {
  /** --file: skip what an earlier run of this input to this server confirmed (its journal). */
  resume?: boolean;
  /** --file: replace an existing, non-empty --failed-out file. */
  force?: boolean;
  /** Undefined when not given: `{}` for a single event; refused with --file. */
  data?: string;
  socketId?: string;
  dryRun?: boolean;
  /** Refuse near-miss channel prefixes instead of warning. */
  strict?: boolean;
  file?: string;
  failedOut?: string;
  concurrency?: number;
  rate?: number;
  /** Send to this signed-in user (#server-to-user-<id>) instead of channels: emit-user.ts. */
  user?: string;
  /** Ask the server for counts per channel (the HTTP API's `info`): `user_count,subscription_count`. */
  info?: string;
}

/** What a single emit sent (or, with --dry-run, would send: `delivered` false). */
export interface EmitResult extends BroadcastResult {
  dryRun: boolean;
  /** Size of the serialized data. */
  bytes: number;
  /** What was warned about on stderr (near-miss channel prefixes); empty when nothing was. */
  warnings: string[];
  /** With --info: the counts the server returned, per channel (empty when it returned none, as soketi does). */
  info?: Record<string, ChannelAttributes>;
}

export type EmitCommandResult = EmitResult | BulkEmitResult | BulkDryRunResult;

/** The --file half, loaded by `run` only when it is used (render needs it afterwards, synchronously). */
let bulk: typeof import('./emit-file.js') | undefined;

export default defineCommand<EmitCommandResult>({
  async run(ctx, target: string | undefined, event: string | undefined, options: EmitOptions): Promise<Outcome<EmitCommandResult>> {
    refuseIgnoredFlags(options);
    if (options.user !== undefined) return (await import('./emit-user.js')).runEmitToUser(ctx, target, event, { ...options, user: options.user });
    // --file (and the options that only go with it) belong to the bulk path.
    const bulkOnly = options.failedOut !== undefined || options.concurrency !== undefined || options.rate !== undefined || options.resume || options.force;
    if (options.file !== undefined || bulkOnly) {
      bulk = await import('./emit-file.js');
      return bulk.runBulk(ctx, target, event, options);
    }
    if (target === undefined) {
      throw new UsageError('Missing <target>: give channel names and an event, a registered event class, or --file', {
        hint: "broadcast emit orders order.shipped --data '{\"id\":1}'",
      });
    }
    const info = options.info === undefined ? undefined : splitList(options.info, '--info');
    const data = options.data === undefined ? {} : await readJsonOption(ctx, options.data, '--data');
    const broadcast = await openBroadcast(ctx, options);
    try {
      refuseUnconfiguredInCi(ctx, broadcast, options);
      let prepared: PreparedBroadcast;
      if (event === undefined) {
        prepared = await prepareEventClass(ctx, broadcast, target, data, options, info);
      } else {
        await refuseEventClassWithEvent(ctx, broadcast, target, event);
        prepared = await broadcast.prepare(splitList(target, 'channel'), event, data, { socketId: options.socketId, ...(info ? { info } : {}) });
      }
      const typos = channelTypos(ctx.io, options);
      for (const channel of prepared.channels) {
        const problem = typos.check(channel);
        if (problem) throw new ValidationError(problem, { hint: 'Fix the prefix, or leave out --strict to send to this public channel anyway', details: { channel } });
      }
      const sent = options.dryRun ? undefined : await broadcast.send(prepared);
      return { result: emitResult(broadcast, prepared, sent, typos.warnings) };
    } finally {
      broadcast.close();
    }
  },

  render(io, result) {
    if ('file' in result) bulk!.render(io, result);
    else renderSingle(io, result);
  },
});

/**
 * Flags that would be ignored with the others given are refused, naming both: `--data` and `--socket-id` with
 * `--file` (each line carries its own). (`--dry-run` takes every option of the command it checks, so it can be
 * added to a real command line.)
 */
function refuseIgnoredFlags(options: EmitOptions): void {
  if (options.info !== undefined && options.user !== undefined) {
    throw new UsageError('--info does not apply with --user: a user\'s channel has no counts to report');
  }
  if (options.file === undefined) return;
  if (options.info !== undefined) {
    // Bulk sending (src/bulk) does not collect the answers' counts.
    throw new UsageError('--info does not apply with --file: bulk sending does not collect counts', {
      hint: 'Ask for one event\'s counts with a single emit: broadcast emit presence-room order.shipped --info user_count',
    });
  }
  if (options.data !== undefined) {
    throw new UsageError('--data does not apply with --file; each line carries its own "data"', {
      hint: 'Each line: {"channel":"orders","event":"order.shipped","data":{...}}',
    });
  }
  if (options.socketId !== undefined) {
    throw new UsageError('--socket-id does not apply with --file; give "socket_id" on the lines that need it');
  }
}

/** True when the environment says this is a CI job: `CI` set, and not to "false" or "0". */
export function isCi(env: Context['env']): boolean {
  const value = env.CI?.trim().toLowerCase();
  return value !== undefined && value !== '' && value !== 'false' && value !== '0';
}

/**
 * `emit` and `emit --file` in CI, with nothing configured: the built-in `log` connection would only print the
 * events and exit 0, so a job whose secrets were not injected would pass while delivering nothing. Refused
 * (exit 2, code `config`) unless `log` was chosen (--connection, BROADCAST_CONNECTION, the config's default).
 * A dry run sends nothing either way and is let through.
 */
export function refuseUnconfiguredInCi(ctx: Context, broadcast: Broadcast, options: { dryRun?: boolean }): void {
  const { name, sources } = broadcast.resolved;
  if (options.dryRun || name !== 'log' || sources.$selected !== 'default' || !isCi(ctx.env)) return;
  throw new ConfigError(
    'No connection is configured, so emit would only print the events (the built-in "log" connection) and deliver nothing; ' +
      `refused in CI (CI=${ctx.env.CI})`,
    {
      hint:
        'Set PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET (with PUSHER_HOST and PUSHER_PORT for soketi or Reverb), ' +
        'or add a connection to broadcast.config.ts; to only print the events, choose --connection log',
    },
  );
}

/** Near-miss channel prefixes of one command, warned about once per channel (see `channelTypos`). */
export interface ChannelTypos {
  /**
   * Checks a channel the command is about to send to. A public name that looks like a mistyped prefix
   * (`privat-orders`, `Private-orders`) is warned about on stderr, once per distinct channel, and sent; with
   * --strict, the problem is returned instead (the caller refuses the event, exit 2).
   */
  check(channel: string): string | undefined;
  /** The warnings printed so far (for the JSON result's `warnings`). */
  readonly warnings: string[];
}

/** At most this many near-miss warnings are printed (an input of many distinct channels would flood stderr). */
const MAX_TYPO_WARNINGS = 20;

/** The near-miss prefix check for `emit` and `emit --file` (which calls `check` for each line's channels). */
export function channelTypos(io: Io, options: { strict?: boolean }): ChannelTypos {
  const warned = new Set<string>();
  const warnings: string[] = [];
  return {
    warnings,
    check(channel) {
      if (warned.has(channel)) return undefined;
      const typo = prefixTypo(channel);
      if (!typo) return undefined;
      if (options.strict) {
        return `Channel "${channel}" looks like a mistyped "${typo.prefix}" prefix (did you mean "${typo.suggestion}"?); refused with --strict`;
      }
      warned.add(channel);
      if (warnings.length < MAX_TYPO_WARNINGS) {
        const warning = `channel "${channel}" is a public channel (anyone can subscribe); did you mean "${typo.suggestion}"?`;
        warnings.push(warning);
        io.warn(warning);
      } else if (warnings.length === MAX_TYPO_WARNINGS) {
        warnings.push('more channels with a near-miss prefix are not listed');
        io.warn('more channels with a near-miss prefix are not listed');
      }
      return undefined;
    },
  };
}

/** A name that could be an event class (PascalCase): only then is the registry loaded to check it. */
const CLASS_LIKE = /^[A-Z][A-Za-z0-9_]*$/;

/** `emit OrderShipped order.shipped`: a registered event class is sent alone (its event name is its own). */
async function refuseEventClassWithEvent(ctx: Context, broadcast: Broadcast, target: string, event: string): Promise<void> {
  if (!CLASS_LIKE.test(target)) return;
  const { loadRegistry } = await import('../registry.js');
  const registry = await loadRegistry(broadcast.config, { baseDir: projectDir(ctx, broadcast), configPath: broadcast.configPath });
  if (!registry.events.some((e) => e.name === target)) return;
  throw new UsageError(
    `"${target}" is a registered event class, and an event name was given too ("${event}"): an event class names its own event and channels`,
    { hint: `Send the class alone: broadcast emit ${target} --data '{...}'` },
  );
}

function emitResult(broadcast: Broadcast, prepared: PreparedBroadcast, sent: BroadcastResult | undefined, warnings: string[]): EmitResult {
  return {
    dryRun: sent === undefined,
    connection: broadcast.connectionName,
    driver: broadcast.resolved.connection.driver,
    delivered: sent?.delivered ?? false,
    event: prepared.event,
    channels: prepared.channels,
    skipped: prepared.skipped,
    requests: prepared.requests.length,
    ...(prepared.socketId ? { socketId: prepared.socketId } : {}),
    bytes: prepared.bytes,
    data: prepared.data,
    warnings,
    ...(sent?.info ? { info: sent.info } : {}),
  };
}

async function prepareEventClass(
  ctx: Context,
  broadcast: Broadcast,
  name: string,
  data: unknown,
  options: EmitOptions,
  info: string[] | undefined,
): Promise<PreparedBroadcast> {
  // The registry (and the event modules it imports) loads only for an event class, not for every emit.
  const { closestName, describeEvent, loadRegistry } = await import('../registry.js');
  const registry = await loadRegistry(broadcast.config, { baseDir: projectDir(ctx, broadcast), configPath: broadcast.configPath });
  const found = registry.events.find((e) => e.name === name);
  if (!found) {
    for (const e of registry.errors) ctx.io.warn(`could not load ${e.source}: ${e.message}`);
    const suggestion = closestName(name, registry.events.map((e) => e.name));
    throw new UsageError(`"${name}" is not a registered event${suggestion ? `; did you mean ${suggestion}?` : ''}`, {
      hint: `To send to a channel instead, name the event too: broadcast emit ${name} <event> --data '{...}'` +
        (registry.events.length ? ` (registered: ${registry.events.map((e) => e.name).join(', ')})` : ' (no events are registered; see `broadcast events`)'),
    });
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new UsageError(`--data for event ${name} must be a JSON object (its properties become the event's)`);
  }
  let instance;
  try {
    instance = new found.eventClass(data);
  } catch (error) {
    throw new UsageError(`Could not create ${name} from --data: ${(error as Error).message}`, { cause: error });
  }
  try {
    return await broadcast.prepare(instance, { socketId: options.socketId, ...(info ? { info } : {}) });
  } catch (error) {
    const input = { name, eventClass: found.eventClass, data: data as Record<string, unknown>, given: options.data !== undefined };
    if (error instanceof ValidationError && typeof error.details?.channel === 'string' && error.details.eventClass !== undefined) {
      throw explainChannel(input, error.details.channel, error, describeEvent);
    }
    if (error instanceof BroadcastError) throw error;
    // The class's own code failed on this data (e.g. `${this.user.id}` without a user).
    const patterns = describeEvent(found.eventClass).patterns;
    throw new ValidationError(`${name} failed with this --data: ${(error as Error)?.message ?? String(error)}`, {
      cause: error,
      hint: patterns.length ? `Its channels: ${patterns.join(', ')}` : undefined,
    });
  }
}

/**
 * Why an event class's channel came out as `private-orders.undefined`: the pattern the registry derives
 * (`private-orders.{orderId}`), the field, and what --data has instead (nothing, a case typo, null, an object).
 */
function explainChannel(
  input: { name: string; eventClass: EventClass; data: Record<string, unknown>; given: boolean },
  channel: string,
  error: ValidationError,
  describeEvent: (eventClass: EventClass) => { patterns: string[] },
): ValidationError {
  const { name } = input;
  const { patterns } = describeEvent(input.eventClass);
  for (const pattern of patterns) {
    const values = matchPattern(pattern, channel);
    const field = values && Object.keys(values).find((f) => missingFieldMark(values[f]!) !== undefined);
    if (!field) continue;
    const { why, hint } = fieldProblem(input, field);
    return new ValidationError(`Cannot send ${name}: its channel ${pattern} needs "${field}", ${why}, so it would go to "${channel}"`, {
      hint,
      details: { eventClass: name, channel, pattern, field },
    });
  }
  // The registry could not tell which field (the name is computed some other way): the library's message, and the patterns.
  return new ValidationError(error.message, {
    hint: `${error.hint}${patterns.length ? ` (its channels: ${patterns.join(', ')})` : ''}`,
    details: { ...error.details, patterns },
  });
}

/** The values of a pattern's `{fields}` in a channel name, or undefined when the name does not fit the pattern. */
function matchPattern(pattern: string, channel: string): Record<string, string> | undefined {
  const parts = pattern.split(/\{([A-Za-z0-9_.]+)\}/);
  if (parts.length === 1) return undefined;
  const fields = parts.filter((_, i) => i % 2 === 1);
  const source = parts.map((part, i) => (i % 2 === 1 ? '(.*?)' : escapeRegex(part))).join('');
  const match = new RegExp(`^${source}$`).exec(channel);
  return match ? Object.fromEntries(fields.map((f, i) => [f, match[i + 1]!])) : undefined;
}

/** What --data has for `field` (a path such as `user.id`), as a clause and a hint. */
function fieldProblem(input: { name: string; data: Record<string, unknown>; given: boolean }, field: string): { why: string; hint: string } {
  const keys = field.split('.');
  const example = keys.reduceRight((inner, key) => `{"${key}":${inner}}`, '…');
  const give = `Give it in --data: broadcast emit ${input.name} --data '${example}'`;
  let value: unknown = input.data;
  for (const key of keys) value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  if (value === undefined) {
    if (!input.given) return { why: 'and no --data was given', hint: give };
    const near = keys.length === 1 ? Object.keys(input.data).find((k) => k !== field && k.toLowerCase() === field.toLowerCase()) : undefined;
    if (near) return { why: `which --data does not have (it has "${near}"; field names are case-sensitive)`, hint: give };
    return { why: 'which --data does not have', hint: give };
  }
  const what = value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'an object' : JSON.stringify(value);
  return { why: `which is ${what} in --data`, hint: `Give "${field}" a string or number value: broadcast emit ${input.name} --data '${example}'` };
}

function renderSingle(io: Io, r: EmitResult): void {
  const s = io.style;
  const channels = listChannels(r.channels);
  const requests = `${r.requests} request${r.requests === 1 ? '' : 's'}`;
  if (r.dryRun) {
    io.out(`${s.cyan('dry run:')} would send ${s.bold(r.event)} to ${channels} (${requests}, ${r.bytes} bytes, connection "${r.connection}")`);
    io.out(JSON.stringify(r.data));
  } else if (r.driver === 'pusher') {
    io.out(`${s.green('✓')} sent ${s.bold(r.event)} to ${channels} (${requests}, connection "${r.connection}")`);
  } else if (r.driver === 'null') {
    io.out(`discarded ${s.bold(r.event)} for ${channels} (connection "${r.connection}")`);
  }
  if (r.info) renderInfo(io, r);
  // The log driver has already written the event, as the command ran.
  for (const { channel, reason } of r.skipped) io.warn(`skipped ${channel}: ${reason}`);
  if (r.dryRun) return;
  if (r.driver === 'log') {
    io.note(
      `note: connection "${r.connection}" only prints events; nothing was delivered. ` +
        'Set PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET (with PUSHER_HOST and PUSHER_PORT for soketi or Reverb) to deliver.',
    );
  } else if (r.driver === 'null') {
    io.note(`note: connection "${r.connection}" discards events; nothing was delivered.`);
  }
}

/** The counts the server returned with the event (--info), one channel a line; a note when it returned none. */
function renderInfo(io: Io, r: EmitResult): void {
  const entries = Object.entries(r.info ?? {});
  const width = Math.max(...entries.map(([name]) => name.length));
  for (const [name, counts] of entries) {
    const parts = [
      counts.userCount !== undefined && `${counts.userCount} user${counts.userCount === 1 ? '' : 's'}`,
      counts.subscriptionCount !== undefined && `${counts.subscriptionCount} subscription${counts.subscriptionCount === 1 ? '' : 's'}`,
    ].filter(Boolean);
    io.out(`  ${name.padEnd(width)}  ${parts.join(', ') || io.style.dim('no counts')}`);
  }
  if (entries.length === 0 && r.driver === 'pusher') {
    io.note('note: the server returned no counts: soketi 1.6 ignores --info (Pusher Channels and Reverb answer it)');
  }
}

function listChannels(channels: string[]): string {
  const shown = channels.slice(0, 5).join(', ');
  return channels.length > 5 ? `${shown} and ${channels.length - 5} more` : shown || '(no channels)';
}

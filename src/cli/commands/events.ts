/** `broadcast events`: the registered event classes, what they are sent as, on which channels, from which file. */
import path from 'node:path';
import type { ChannelType } from '../../core/channels.js';
import { displayPath, loadConfig } from '../../config/load.js';
import { ConfigError } from '../../core/errors.js';
import { defineCommand } from '../command.js';
import { refuseConnectionFlag } from '../input.js';
import { describeEvent, eventsDirOf, loadRegistry } from '../registry.js';

/** One event in `broadcast events --json`. */
export interface EventListing {
  /** Class name: what `broadcast emit <name>` takes. */
  name: string;
  /** The event name clients listen for; null when broadcastAs() failed with an empty payload. */
  as: string | null;
  /**
   * Full channel names, each payload field a name is built from shown as `{field}` (`private-orders.{orderId}`,
   * the syntax of the config's channel rules). When the fields cannot be found, a name that depends on the
   * payload is as it resolves with an empty payload.
   */
  patterns: string[];
  channelTypes: ChannelType[];
  /** True when a channel name depends on the payload. */
  dynamic: boolean;
  /** The file the class came from (the config file for its `events` list). */
  source: string;
  /** Why resolving with an empty payload failed. */
  error?: string;
}

export interface EventsResult {
  events: EventListing[];
  /** Modules that failed to load (the others are still listed). */
  errors: { source: string; message: string }[];
  /** The events folder, as shown to a person. */
  eventsDir: string;
}

export default defineCommand<EventsResult>({
  async run(ctx) {
    refuseConnectionFlag(ctx, 'events');
    const { io } = ctx;
    const loaded = await loadConfig({ cwd: ctx.cwd, configPath: ctx.options.config });
    const baseDir = loaded.filepath ? path.dirname(loaded.filepath) : ctx.cwd;
    const registry = await loadRegistry(loaded.config, { baseDir, configPath: loaded.filepath });
    const show = (file: string) => displayPath(file, ctx.cwd);
    const events: EventListing[] = registry.events.map(({ name, eventClass, source }) => {
      const d = describeEvent(eventClass);
      return {
        name,
        as: d.as ?? null,
        patterns: d.patterns,
        channelTypes: d.channelTypes,
        dynamic: d.dynamic,
        source: show(source),
        ...(d.error ? { error: d.error } : {}),
      };
    });
    const errors = registry.errors.map((e) => ({ source: show(e.source), message: e.message }));
    for (const e of errors) io.warn(`could not load ${e.source}: ${e.message}`);
    const byName = new Map<string, string[]>();
    for (const e of events) byName.set(e.name, [...(byName.get(e.name) ?? []), e.source]);
    for (const [name, sources] of byName) {
      if (sources.length > 1) io.warn(`${name} is exported by ${sources.join(' and ')}; \`broadcast emit ${name}\` uses the first`);
    }
    const result = { events, errors, eventsDir: show(eventsDirOf(loaded.config, baseDir)) };
    // Failing only when something was there to load and none of it loaded, so one broken file never hides the rest.
    if (events.length === 0 && errors.length > 0) {
      const error = new ConfigError(`No event could be loaded: ${errors.length === 1 ? errors[0]!.source : `${errors.length} modules`} failed`, {
        hint: 'Fix the module (the warning above says why), or point eventsDir at the folder of event classes',
      });
      return { result, error };
    }
    return { result };
  },

  render(io, { events, errors, eventsDir }) {
    const s = io.style;
    if (events.length === 0) {
      if (errors.length === 0) io.out(`No events registered. Create one: broadcast make:event OrderShipped (it goes to ${eventsDir})`);
      return;
    }
    let located = false;
    for (const e of events) {
      io.out(`${s.bold(e.name)}  ${s.dim('as')} ${e.as === null ? s.red('(broadcastAs() failed)') : `"${e.as}"`}  ${s.dim(e.source)}`);
      // With {field} placeholders, only the names that show one depend on the payload; without, a dynamic
      // event's names are as they resolve with an empty payload, and all are marked.
      const fields = e.patterns.some((p) => p.includes('{'));
      located ||= fields;
      e.patterns.forEach((name, i) => {
        const type = e.channelTypes[i] ?? 'public';
        let marker = '';
        if (e.dynamic && !fields) marker = s.yellow('  depends on the payload (shown as it resolves with an empty payload)');
        else if (e.dynamic && name.includes('{')) marker = s.yellow('  depends on the payload');
        io.out(`  ${type.padEnd(9)} ${name}${marker}`);
      });
      if (e.error) io.out(`  ${s.yellow(e.error)}`);
    }
    if (located) io.note(io.errStyle.dim('{field} in a channel name is the payload field it is built from.'));
  },
});

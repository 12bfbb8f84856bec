/**
 * The event registry: classes listed in the config's `events`, plus every event class exported by the
 * modules in `eventsDir` (so a new file is picked up with no registration step).
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_EVENTS_DIR, type BroadcastConfig } from '../config/schema.js';
import { channelType, type ChannelType } from '../core/channels.js';
import { isEventClass, type CanBroadcast, type EventClass } from '../core/events.js';
export { closestName } from '../core/names.js';

export interface RegisteredEvent {
  /** The class name, which is also how the CLI refers to it. */
  name: string;
  eventClass: EventClass;
  /** The file it came from (the config file for `events`). */
  source: string;
}

export interface Registry {
  events: RegisteredEvent[];
  /** Modules that failed to load; the other events are still listed. */
  errors: { source: string; message: string }[];
}

const MODULE_FILE = /\.(ts|mts|cts|js|mjs|cjs)$/;
const NOT_EVENTS = /(\.d\.[cm]?ts|\.(test|spec)\.[cm]?[jt]s)$/;

/** Where event modules live for this config (absolute). */
export function eventsDirOf(config: BroadcastConfig, baseDir: string): string {
  return path.resolve(baseDir, config.eventsDir ?? DEFAULT_EVENTS_DIR);
}

export async function loadRegistry(config: BroadcastConfig, options: { baseDir: string; configPath?: string }): Promise<Registry> {
  const registry: Registry = { events: [], errors: [] };
  const seen = new Set<EventClass>();
  const add = (eventClass: EventClass, source: string) => {
    if (seen.has(eventClass)) return;
    seen.add(eventClass);
    // Each module is loaded afresh, so a class re-exported by an index file arrives twice as two objects.
    // Same name and same source text: one class; it is listed under the file named after it.
    const twin = registry.events.find((e) => e.name === eventClass.name && String(e.eventClass) === String(eventClass));
    if (twin) {
      if (path.parse(source).name === eventClass.name && path.parse(twin.source).name !== eventClass.name) {
        Object.assign(twin, { eventClass, source });
      }
      return;
    }
    registry.events.push({ name: eventClass.name, eventClass, source });
  };
  for (const eventClass of config.events ?? []) {
    if (isEventClass(eventClass)) add(eventClass, options.configPath ?? 'config');
  }
  const dir = eventsDirOf(config, options.baseDir);
  let files: string[] = [];
  try {
    files = (await readdir(dir, { recursive: true }))
      .filter((f) => MODULE_FILE.test(f) && !NOT_EVENTS.test(f))
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || config.eventsDir !== undefined) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        registry.errors.push({ source: dir, message: 'the events folder does not exist' });
      } else {
        registry.errors.push({ source: dir, message: (error as Error).message });
      }
    }
  }
  if (files.length > 0) {
    const { importModule } = await import('../config/load.js');
    for (const file of files) {
      const full = path.join(dir, file);
      try {
        const mod = await importModule(full);
        for (const value of Object.values(mod)) if (isEventClass(value)) add(value, full);
      } catch (error) {
        registry.errors.push({ source: full, message: ((error as Error).message ?? String(error)).split('\n')[0]! });
      }
    }
  }
  return registry;
}

/** What an event class sends, as far as it can be told without a real payload (`broadcast events`). */
export interface EventDescription {
  /** `broadcastAs()` of an instance made with an empty payload; undefined when that failed. */
  as?: string;
  /** Full channel names, resolved with an empty payload (`private-orders.undefined` when they use a field). */
  channels: string[];
  /**
   * The channel names with each payload field they read shown as `{field}` (`private-orders.{orderId}`), the
   * syntax of the config's channel rules. Equal to `channels` for static names.
   */
  patterns: string[];
  /** The type of each pattern. */
  channelTypes: ChannelType[];
  /** True when a channel name depends on the payload. */
  dynamic: boolean;
  /** Why the empty-payload resolution failed, if it did (`broadcastOn() failed with an empty payload: …`). */
  error?: string;
}

const FIELD = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Marks a field read inside a channel name; made of characters channel names allow, so Channel classes accept it.
const MARK = /@@([A-Za-z0-9_.]+)@@/g;

/**
 * A stand-in for a payload value: converts to a marker naming its path (`@@user.id@@`) and answers any
 * property read with a deeper stand-in, so `${this.user.id}` resolves to the marker instead of throwing.
 */
function probeValue(path: string): unknown {
  const mark = () => `@@${path}@@`;
  return new Proxy(Object.create(null) as object, {
    get(_target, key) {
      if (key === Symbol.toPrimitive || key === 'toString' || key === 'valueOf' || key === 'toJSON') return mark;
      return typeof key === 'string' && FIELD.test(key) ? probeValue(`${path}.${key}`) : undefined;
    },
  });
}

function namesOf(on: unknown): string[] {
  return (Array.isArray(on) ? on : [on]).map((c) => (typeof c === 'string' ? c : String((c as { name?: unknown } | null)?.name)));
}

/**
 * Describes an event class. Channels are resolved twice: once on an instance made with an empty payload
 * (what the issue asks to show), and once on a probe instance whose missing fields are stand-ins that print
 * as `{field}`. A name is dynamic when the probe shows a field in it or the two resolutions differ; when the
 * probe itself fails, names that contain `undefined`, `null` or an empty segment are taken as dynamic.
 */
export function describeEvent(eventClass: EventClass): EventDescription {
  const description: EventDescription = { channels: [], patterns: [], channelTypes: [], dynamic: false };
  const failed = (step: string, error: unknown) =>
    (description.error ??= `${step} failed with an empty payload: ${(error as Error)?.message ?? String(error)}`);
  let instance: CanBroadcast | undefined;
  let resolved = false;
  try {
    instance = new eventClass({});
  } catch (error) {
    failed(`new ${eventClass.name}({})`, error);
  }
  if (instance) {
    try {
      description.as = instance.broadcastAs();
    } catch (error) {
      failed('broadcastAs()', error);
    }
    try {
      description.channels = namesOf(instance.broadcastOn());
      resolved = true;
    } catch (error) {
      failed('broadcastOn()', error);
    }
  }
  let patterns: string[] | undefined;
  try {
    // Fields with initialisers keep their values; only what the payload would have set is probed.
    const target = instance ?? (Object.create(eventClass.prototype) as CanBroadcast);
    const probe = new Proxy(target, {
      get(t, key, receiver) {
        const value: unknown = Reflect.get(t, key, receiver);
        return value === undefined && typeof key === 'string' && FIELD.test(key) ? probeValue(key) : value;
      },
    });
    patterns = namesOf(target.broadcastOn.call(probe)).map((n) => n.replace(MARK, '{$1}'));
  } catch {
    patterns = undefined;
  }
  const marked = patterns?.some((p) => p.includes('{')) ?? false;
  if (patterns && (!resolved || marked)) {
    description.patterns = patterns;
    description.dynamic = true;
  } else if (patterns) {
    // No field shows in the names; they are still dynamic if a payload changes them (e.g. a condition on a field).
    description.patterns = description.channels;
    description.dynamic = patterns.join('\n') !== description.channels.join('\n');
  } else {
    description.patterns = description.channels;
    description.dynamic = description.channels.some((n) => /undefined|null|(^|[.\-_:])([.\-_:]|$)/.test(n));
  }
  if (!resolved) description.dynamic = true;
  description.channelTypes = description.patterns.map(channelType);
  return description;
}

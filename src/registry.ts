/**
 * The event registry: classes listed in the config's `events`, plus every event class exported by the
 * modules in `eventsDir` (so a new file is picked up with no registration step).
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_EVENTS_DIR, type BroadcastConfig } from './config.js';
import { isEventClass, type EventClass } from './events.js';

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
    const { importModule } = await import('./load-config.js');
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

/** The registered name closest to `name` (for "did you mean"), or undefined. */
export function closestName(name: string, names: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of names) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

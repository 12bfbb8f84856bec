/** Channel types. `.name` is always the full name, prefix included. */
import { editDistance } from './names.js';
import { ValidationError } from './errors.js';
import { LIMITS, channelNameProblem, chunk } from './validation.js';

export type ChannelType = 'public' | 'private' | 'presence' | 'encrypted';

/** Anything with a full channel name: a channel object or a plain string. */
export type ChannelLike = string | { readonly name: string };

export class Channel {
  readonly name: string;
  constructor(name: string) {
    const problem = channelNameProblem(name);
    // `details.channel`: an event's broadcastOn() that failed here is reported with its class (Broadcast.prepare).
    if (problem) throw new ValidationError(`Invalid channel name ${JSON.stringify(name)}: ${problem}`, { details: { channel: name } });
    this.name = name;
  }
  get type(): ChannelType {
    return channelType(this.name);
  }
  toString(): string {
    return this.name;
  }
}

function withPrefix(prefix: string, name: string): string {
  return name.startsWith(prefix) ? name : prefix + name;
}

/** `private-` is prepended unless present. */
export class PrivateChannel extends Channel {
  constructor(name: string) {
    super(withPrefix('private-', name));
  }
}

/** `presence-` is prepended unless present. */
export class PresenceChannel extends Channel {
  constructor(name: string) {
    super(withPrefix('presence-', name));
  }
}

/** `private-encrypted-` is prepended unless present. Payloads are end-to-end encrypted. */
export class EncryptedPrivateChannel extends Channel {
  constructor(name: string) {
    super(withPrefix('private-encrypted-', name));
  }
}

/** The type of a channel, from its full name. */
export function channelType(name: string): ChannelType {
  if (name.startsWith('private-encrypted-')) return 'encrypted';
  if (name.startsWith('private-')) return 'private';
  if (name.startsWith('presence-')) return 'presence';
  return 'public';
}

/**
 * The prefixes of cache channels (Pusher's "cache channels"; soketi and Reverb support them): the server keeps
 * each channel's last event and sends it to new subscribers, or `pusher:cache_miss` when it has none.
 */
export const CACHE_PREFIXES = ['cache-', 'private-cache-', 'private-encrypted-cache-', 'presence-cache-'] as const;

/** Whether a full channel name is a cache channel (`cache-`, `private-cache-`, `private-encrypted-cache-`, `presence-cache-`). */
export function isCacheChannel(name: string): boolean {
  return CACHE_PREFIXES.some((prefix) => name.startsWith(prefix));
}

/** What a channel name says about the channel: its type (as `channelType`) and whether it is a cache channel. */
export interface ChannelKind {
  /** As `channelType`: a `private-cache-` channel is `private`, authorized as any private channel. */
  type: ChannelType;
  /** A cache channel: the server remembers its last event. */
  cache: boolean;
}

/**
 * The kind of a channel, from its full name: `channelKind('private-cache-prices')` is `{ type: 'private', cache: true }`.
 * `channelType` is unchanged by the cache prefixes (a cache channel is authorized as its type says).
 */
export function channelKind(name: string): ChannelKind {
  return { type: channelType(name), cache: isCacheChannel(name) };
}

/** A channel's kind in words, for tables and messages: `private`, `presence cache`, `encrypted cache`. */
export function describeKind(name: string): string {
  const { type, cache } = channelKind(name);
  return cache ? `${type} cache` : type;
}

/** Whether subscribing needs a signature from the auth route. */
export function requiresAuthorization(name: string): boolean {
  return channelType(name) !== 'public';
}

export function channelName(channel: ChannelLike): string {
  return typeof channel === 'string' ? channel : channel.name;
}

/** The name without its type prefix (`private-orders.1` → `orders.1`), as channel rules match it. */
export function stripPrefix(name: string): string {
  for (const prefix of ['private-encrypted-', 'private-', 'presence-']) {
    if (name.startsWith(prefix)) return name.slice(prefix.length);
  }
  return name;
}

/**
 * The channel groups of one trigger, one HTTP request each: Pusher takes at most 100 channels a request,
 * and each encrypted channel in a request of its own (its payload is encrypted for that channel alone).
 */
export function triggerGroups(channels: readonly string[]): string[][] {
  return [
    ...chunk(channels.filter((c) => channelType(c) !== 'encrypted'), LIMITS.channelsPerTrigger),
    ...channels.filter((c) => channelType(c) === 'encrypted').map((c) => [c]),
  ];
}

const PREFIXES = ['private-encrypted-', 'private-', 'presence-'] as const;

/**
 * The prefix a public channel name was probably meant to have: `privat-orders`, `Private-orders`,
 * `private_orders` and `presense-room` are legal public names, but almost always a typo that makes an event
 * go out unauthorized to anyone. Returns `{ prefix, suggestion }`, or undefined for names that look meant.
 */
export function prefixTypo(name: string): { prefix: string; suggestion: string } | undefined {
  if (channelType(name) !== 'public') return undefined;
  // The name's first word with its separator, as a would-be prefix: "privat-", "private_", "Presence-".
  const match = /^([A-Za-z]+(?:-encrypted)?)[-_.:]/i.exec(name);
  if (!match) return undefined;
  const head = `${match[1]!.toLowerCase()}-`;
  const rest = name.slice(match[0].length);
  for (const prefix of PREFIXES) {
    const d = editDistance(head, prefix);
    // Exact (only the case or the separator was off) or one or two letters off a prefix of 8+ characters.
    if (d === 0 || (d <= 2 && prefix.length >= 8)) return { prefix, suggestion: prefix + rest };
  }
  return undefined;
}

/**
 * What the HTTP API reports about a channel when asked with `info` (channel queries, and triggers on servers that
 * answer them), in camelCase. Each is present only when the server reported it.
 */
export interface ChannelAttributes {
  /** Distinct users on a presence channel (`user_count`). */
  userCount?: number;
  /** Connections subscribed (`subscription_count`). */
  subscriptionCount?: number;
  /** A cache channel's cached event (`cache`), as the server gave it (`null` when nothing is cached). */
  cache?: unknown;
}

/** The HTTP API's snake_case channel attributes as camelCase fields (`occupied` is left out: callers read it). */
export function channelAttributes(attributes: Record<string, unknown> | undefined): ChannelAttributes {
  const out: ChannelAttributes = {};
  if (typeof attributes?.user_count === 'number') out.userCount = attributes.user_count;
  if (typeof attributes?.subscription_count === 'number') out.subscriptionCount = attributes.subscription_count;
  if (attributes !== undefined && 'cache' in attributes) out.cache = attributes.cache;
  return out;
}

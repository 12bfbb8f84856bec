/** Channel types. `.name` is always the full name, prefix included. */
import { LIMITS, chunk, validateChannelName } from './validation.js';

export type ChannelType = 'public' | 'private' | 'presence' | 'encrypted';

/** Anything with a full channel name: a channel object or a plain string. */
export type ChannelLike = string | { readonly name: string };

export class Channel {
  readonly name: string;
  constructor(name: string) {
    this.name = validateChannelName(name);
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

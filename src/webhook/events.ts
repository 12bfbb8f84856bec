/**
 * The webhook kinds Pusher documents, typed: each raw event of a webhook body (Pusher's wire format,
 * snake_case) becomes one of these (camelCase, ids as strings), told apart by `name`.
 */
import { channelType } from '../core/channels.js';
import { decryptPayload } from './crypto.js';

/** The first subscriber joined a channel. */
export interface ChannelOccupiedEvent {
  name: 'channel_occupied';
  channel: string;
}

/** The last subscriber left a channel. */
export interface ChannelVacatedEvent {
  name: 'channel_vacated';
  channel: string;
}

/** A user joined a presence channel (their first connection on it). */
export interface MemberAddedEvent {
  name: 'member_added';
  channel: string;
  userId: string;
}

/** A user left a presence channel (their last connection on it). */
export interface MemberRemovedEvent {
  name: 'member_removed';
  channel: string;
  userId: string;
}

/** A client sent a `client-` event on a private or presence channel. */
export interface ClientEventWebhook {
  name: 'client_event';
  channel: string;
  /** The client event's name (`client-typing`). */
  event: string;
  /**
   * Its data as text. On a `private-encrypted-` channel: the decrypted text when the app's master key is
   * given, else the encrypted payload as sent (`encrypted` true, `decrypted` false).
   */
  data: string;
  /** The sender's connection. */
  socketId?: string;
  /** Presence channels: the sender's user id. */
  userId?: string;
  /** The channel is a `private-encrypted-` one. */
  encrypted: boolean;
  /** `data` is the decrypted text (always false on other channels). */
  decrypted: boolean;
}

/** A client subscribed to a cache channel that had no cached event. */
export interface CacheMissEvent {
  name: 'cache_miss';
  channel: string;
}

/** A channel's subscription count changed. */
export interface SubscriptionCountEvent {
  name: 'subscription_count';
  channel: string;
  subscriptionCount: number;
}

/** Every webhook event kind Pusher documents. */
export type PusherWebhookEvent =
  | ChannelOccupiedEvent
  | ChannelVacatedEvent
  | MemberAddedEvent
  | MemberRemovedEvent
  | ClientEventWebhook
  | CacheMissEvent
  | SubscriptionCountEvent;

export type PusherWebhookEventName = PusherWebhookEvent['name'];

export const WEBHOOK_EVENT_NAMES: readonly PusherWebhookEventName[] = [
  'channel_occupied',
  'channel_vacated',
  'member_added',
  'member_removed',
  'client_event',
  'cache_miss',
  'subscription_count',
];

/** An id as text: servers send strings, some numbers. */
function idOf(value: unknown): string | undefined {
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/** Data as text: Pusher sends a string, soketi the client's JSON value as it came. */
function textOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value === undefined) return undefined;
  return JSON.stringify(value);
}

/** Raised when an encrypted client event does not open with the master key given. */
export class DecryptionError extends Error {}

/**
 * One raw event as a typed one, or undefined when its kind is unknown or its fields are not as Pusher
 * documents them. Throws a DecryptionError for an encrypted client event that `masterKey` cannot open.
 */
export function typedEvent(raw: Record<string, unknown>, masterKey: string | undefined): PusherWebhookEvent | undefined {
  const channel = raw.channel;
  if (typeof channel !== 'string' || channel === '') return undefined;
  switch (raw.name) {
    case 'channel_occupied':
    case 'channel_vacated':
    case 'cache_miss':
      return { name: raw.name, channel };
    case 'member_added':
    case 'member_removed': {
      const userId = idOf(raw.user_id);
      return userId === undefined ? undefined : { name: raw.name, channel, userId };
    }
    case 'subscription_count': {
      const count = raw.subscription_count;
      return typeof count === 'number' && Number.isInteger(count) && count >= 0 ? { name: 'subscription_count', channel, subscriptionCount: count } : undefined;
    }
    case 'client_event': {
      const event = raw.event;
      const sent = textOf(raw.data);
      if (typeof event !== 'string' || event === '' || sent === undefined) return undefined;
      const encrypted = channelType(channel) === 'encrypted';
      const decrypted = encrypted && masterKey ? decryptPayload(channel, masterKey, raw.data) : undefined;
      if (encrypted && masterKey && decrypted === undefined) {
        throw new DecryptionError(`The data of client event ${event} on ${channel} does not decrypt with the app's encryptionMasterKeyBase64`);
      }
      const socketId = idOf(raw.socket_id);
      const userId = idOf(raw.user_id);
      return {
        name: 'client_event',
        channel,
        event,
        data: decrypted ?? sent,
        ...(socketId !== undefined ? { socketId } : {}),
        ...(userId !== undefined ? { userId } : {}),
        encrypted,
        decrypted: decrypted !== undefined,
      };
    }
    default:
      return undefined;
  }
}

/**
 * Server profiles: the limits each Pusher-protocol server enforces, in one table. A connection names its server
 * (`server: 'pusher' | 'soketi' | 'reverb'`, or BROADCAST_SERVER), and what is checked before sending follows
 * that server's limits, so an event the server would refuse is refused here, clearly, with nothing sent.
 * Tiny and dependency-free.
 */

/** The servers a connection can talk to. */
export const SERVERS = ['pusher', 'soketi', 'reverb'] as const;
export type ServerName = (typeof SERVERS)[number];

/** What a server accepts in one request. */
export interface ServerLimits {
  /** Largest event data, in KB (1024 bytes). */
  maxPayloadKb: number;
  /** Longest channel name, prefix included. */
  channelNameLength: number;
  /** Longest event name. */
  eventNameLength: number;
  /** Most channels in one trigger request. */
  channelsPerTrigger: number;
  /** Most events in one batch request. */
  eventsPerBatch: number;
  /** Largest HTTP request, headers included, in bytes; null when the server limits only the data. */
  requestBytes: number | null;
}

/** Limits a connection may set itself, under `limits` (the payload limit is the connection's `maxPayloadKb`). */
export type LimitOverrides = Partial<Omit<ServerLimits, 'maxPayloadKb'>>;

/** The names of the limits a connection's `limits` may hold. */
export const LIMIT_KEYS = ['channelNameLength', 'eventNameLength', 'channelsPerTrigger', 'eventsPerBatch', 'requestBytes'] as const;

/**
 * Each server's limits, as the server ships them.
 * - pusher: Pusher Channels' documented limits (data 10 KB, names 164 and 200 characters, 100 channels a
 *   trigger, 10 events a batch).
 * - soketi: its defaults (1.6: SOKETI_EVENT_MAX_SIZE_IN_KB 100, channel names 200 characters; the rest as Pusher).
 * - reverb: Laravel Reverb limits the whole HTTP request, headers included, to 10,000 bytes
 *   (REVERB_MAX_REQUEST_SIZE); the data limit of 9 KB leaves room for the headers and the JSON around the data.
 *   Reverb checks no name lengths or counts: Pusher's are kept.
 */
export const SERVER_LIMITS: Readonly<Record<ServerName, Readonly<ServerLimits>>> = {
  pusher: { maxPayloadKb: 10, channelNameLength: 164, eventNameLength: 200, channelsPerTrigger: 100, eventsPerBatch: 10, requestBytes: null },
  soketi: { maxPayloadKb: 100, channelNameLength: 200, eventNameLength: 200, channelsPerTrigger: 100, eventsPerBatch: 10, requestBytes: null },
  reverb: { maxPayloadKb: 9, channelNameLength: 164, eventNameLength: 200, channelsPerTrigger: 100, eventsPerBatch: 10, requestBytes: 10_000 },
};

/** True for Pusher Channels' own hosts (`api-eu.pusher.com`, `pusher.com`). */
export function isPusherHost(host: string): boolean {
  return /(^|\.)pusher(app)?\.com\.?$/i.test(host);
}

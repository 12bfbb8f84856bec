/** What the Broadcast facade needs from a connection driver. */

/** One trigger request: an event to up to 100 channels. */
export interface TriggerRequest {
  channels: string[];
  event: string;
  data: unknown;
  socketId?: string;
  /** The HTTP API's `info` (`"user_count,subscription_count"`): counts the server returns per channel. */
  info?: string;
}

/** One event of a batch request (at most 10 per request). */
export interface BatchEvent {
  channel: string;
  event: string;
  data: unknown;
  socketId?: string;
  /** The HTTP API's `info` for this event's channel. */
  info?: string;
}

/** A server's raw attributes of one channel (`{"user_count": 2, "subscription_count": 3}`), as the HTTP API spells them. */
export type RawChannelInfo = Record<string, unknown>;

/**
 * What a trigger's answer said, for a request with `info`: the attributes of each channel the server reported
 * (Pusher: every channel triggered to, maybe `{}`; soketi 1.6 ignores `info` and reports none).
 */
export interface TriggerAnswer {
  channels: Record<string, RawChannelInfo>;
}

/** What a batch's answer said, for events with `info`: one entry per event, in request order (empty when none came back). */
export interface BatchAnswer {
  batch: RawChannelInfo[];
}

export interface Driver {
  readonly driver: 'pusher' | 'log' | 'null';
  /** False for drivers that only print or discard. */
  readonly delivers: boolean;
  /** Sends one trigger; the pusher driver answers with the channel attributes the server reported. */
  trigger(request: TriggerRequest): Promise<TriggerAnswer | void>;
  /** Sends one batch; the pusher driver answers with the per-event attributes the server reported. */
  triggerBatch(events: BatchEvent[]): Promise<BatchAnswer | void>;
  /** A signed GET on the HTTP API (`/channels`, …), parsed as JSON. Pusher driver only. */
  get<T = unknown>(path: string, params?: Record<string, string>): Promise<T>;
  /** A signed POST of a JSON body on the HTTP API (`/users/<id>/terminate_connections`). Pusher driver only. */
  post?<T = unknown>(path: string, body: unknown): Promise<T>;
  /** Releases sockets. */
  close(): void;
}

/** An event the log driver writes instead of sending. */
export interface LoggedEvent {
  channels: string[];
  event: string;
  data: unknown;
  socketId?: string;
}

/**
 * Where the log driver writes its lines (`order.shipped → orders {"id":1}`): a function given each line
 * (without the line break, e.g. `console.log`), or a stream (e.g. `process.stdout`).
 */
export type EventLogger = ((line: string) => void) | { write(text: string): unknown };

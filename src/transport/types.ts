/** What the Broadcast facade needs from a connection driver. */

/** One trigger request: an event to up to 100 channels. */
export interface TriggerRequest {
  channels: string[];
  event: string;
  data: unknown;
  socketId?: string;
}

/** One event of a batch request (at most 10 per request). */
export interface BatchEvent {
  channel: string;
  event: string;
  data: unknown;
  socketId?: string;
}

export interface Driver {
  readonly driver: 'pusher' | 'log' | 'null';
  /** False for drivers that only print or discard. */
  readonly delivers: boolean;
  trigger(request: TriggerRequest): Promise<void>;
  triggerBatch(events: BatchEvent[]): Promise<void>;
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

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
  /** Releases sockets. */
  close(): void;
}

/** Receives what the log driver would have sent. */
export type EventLogger = (record: { channels: string[]; event: string; data: unknown; socketId?: string }) => void;

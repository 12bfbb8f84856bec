/** Event classes: what an event is called, which channels it goes out on and what it carries. */
import type { ChannelLike } from './channels.js';

/**
 * Base class for broadcast events, like Laravel's `ShouldBroadcast` and Masonite's `CanBroadcast`.
 *
 * ```ts
 * export class OrderShipped extends CanBroadcast {
 *   declare orderId: number;
 *   broadcastOn() { return new PrivateChannel(`orders.${this.orderId}`); }
 * }
 * await broadcast.channel(new OrderShipped({ orderId: 42 }));
 * ```
 */
export abstract class CanBroadcast {
  /** Copies the payload's own properties onto the instance. */
  constructor(payload: object = {}) {
    for (const [key, value] of Object.entries(payload)) {
      if (key === '__proto__' || key === 'constructor' || key === 'prototype') continue;
      Object.defineProperty(this, key, { value, enumerable: true, writable: true, configurable: true });
    }
  }

  /** The channel or channels the event is sent on. */
  abstract broadcastOn(): ChannelLike | ChannelLike[];

  /** The event name clients listen for. Defaults to the class name. */
  broadcastAs(): string {
    return this.constructor.name;
  }

  /** The payload. Defaults to the instance's own enumerable properties. */
  broadcastWith(): unknown {
    return { ...this };
  }

  /** Return false to skip broadcasting this instance. */
  broadcastWhen?(): boolean;
}

/** A class whose instances can be broadcast. */
export type EventClass<T extends CanBroadcast = CanBroadcast> = new (payload?: any) => T;

/** True for classes that look like broadcast events (duck-typed, so two copies of this package still agree). */
export function isEventClass(value: unknown): value is EventClass {
  return (
    typeof value === 'function' &&
    typeof (value as { prototype?: { broadcastOn?: unknown } }).prototype?.broadcastOn === 'function'
  );
}

/** True for event instances. */
export function isBroadcastEvent(value: unknown): value is CanBroadcast {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { broadcastOn?: unknown }).broadcastOn === 'function'
  );
}

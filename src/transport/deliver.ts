/**
 * Sending one event to its channels, shared by `Broadcast.send` and bulk sending: one trigger request per
 * group of channels (at most 100 a request, each encrypted channel alone: `triggerGroups`), all at once, and
 * an account of which channels got it, which did not, and why.
 */
import { DeliveryError } from '../core/errors.js';
import type { Driver, RawChannelInfo } from './types.js';

/** What happened to one event sent to several channel groups. */
export interface Delivery {
  /** Channels whose request succeeded, in the order given. */
  sent: string[];
  /** Channels whose request failed, in the order given. */
  failed: string[];
  /** The first failure, when a request failed. */
  error?: unknown;
  /** With `info`: the attributes the server reported, channel by channel, from every request that succeeded. */
  info?: Record<string, RawChannelInfo>;
}

/** Sends `event` to each group of channels (one request each, concurrently); never throws for a failed request. */
export async function deliver(
  driver: Driver,
  groups: readonly string[][],
  message: { event: string; data: unknown; socketId?: string; info?: string },
): Promise<Delivery> {
  const { event, data, socketId, info } = message;
  const trigger = (channels: string[]) => driver.trigger({ channels, event, data, socketId, ...(info ? { info } : {}) });
  if (groups.length === 1) {
    // The common case, without allSettled's bookkeeping.
    const channels = groups[0]!;
    try {
      const answer = await trigger(channels);
      return { sent: channels, failed: [], ...(info ? { info: answer?.channels ?? {} } : {}) };
    } catch (error) {
      return { sent: [], failed: channels, error };
    }
  }
  const outcomes = await Promise.allSettled(groups.map(trigger));
  const delivery: Delivery = { sent: [], failed: [], ...(info ? { info: {} } : {}) };
  outcomes.forEach((outcome, i) => {
    if (outcome.status === 'fulfilled') {
      delivery.sent.push(...groups[i]!);
      if (delivery.info) Object.assign(delivery.info, outcome.value?.channels);
    } else {
      delivery.failed.push(...groups[i]!);
      if (!('error' in delivery)) delivery.error = outcome.reason;
    }
  });
  return delivery;
}

/**
 * The error for a delivery that failed: the request's own error when no channel got the event, else a
 * `partial_delivery` DeliveryError whose `details` say which channels did (`sent`) and did not (`failed`).
 */
export function deliveryError(delivery: Delivery): unknown {
  const first = delivery.error;
  if (delivery.sent.length === 0) return first;
  const reason = first instanceof Error ? first.message : String(first);
  const total = delivery.sent.length + delivery.failed.length;
  return new DeliveryError(`Sent to ${delivery.sent.length} of ${total} channels; failed for ${delivery.failed.length}: ${reason}`, {
    code: 'partial_delivery',
    cause: first,
    hint: first instanceof DeliveryError ? first.hint : undefined,
    status: first instanceof DeliveryError ? first.status : undefined,
    details: { sent: delivery.sent, failed: delivery.failed },
  });
}

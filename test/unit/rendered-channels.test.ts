/**
 * The library refuses an event whose channel was rendered from a missing or odd field
 * (`private-orders.undefined`) instead of sending it to a channel nobody listens on, and takes the payload
 * limit as an option (what the CLI's --max-payload-kb and BROADCAST_MAX_PAYLOAD_KB set).
 */
import { describe, expect, it } from 'vitest';
import { Broadcast } from '../../src/core/broadcast.js';
import { PrivateChannel } from '../../src/core/channels.js';
import { UsageError, ValidationError } from '../../src/core/errors.js';
import { CanBroadcast } from '../../src/core/events.js';
import { missingFieldMark } from '../../src/core/validation.js';

class OrderShipped extends CanBroadcast {
  declare orderId: unknown;
  broadcastOn() {
    return [new PrivateChannel(`orders.${this.orderId}`), 'admin'];
  }
}

/** A Broadcast on the log connection whose printed lines are collected. */
function logged(options: { maxPayloadKb?: number } = {}) {
  const lines: string[] = [];
  const broadcast = new Broadcast({ default: 'log' }, { env: {}, logger: (line) => lines.push(line), ...options });
  return { broadcast, lines };
}

async function refusal(promise: Promise<unknown>): Promise<ValidationError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ValidationError);
  return error as ValidationError;
}

describe('channels rendered from a missing or odd field', () => {
  it.each([
    [{}, 'private-orders.undefined', 'undefined'],
    [{ orderId: null }, 'private-orders.null', 'null'],
    [{ orderId: { id: 1 } }, 'private-orders.[object Object]', '[object Object]'],
    [{ orderId: Number('x') }, 'private-orders.NaN', 'NaN'],
  ])('%j: prepare() and channel() refuse it (a ValidationError naming the class and the channel), nothing is sent', async (data, channel, mark) => {
    const { broadcast, lines } = logged();
    const error = await refusal(broadcast.prepare(new OrderShipped(data)));
    expect(error.code).toBe('invalid');
    expect(error.message).toBe(`OrderShipped's channel "${channel}" was built from a missing or invalid field (it contains "${mark}"); nothing was sent`);
    expect(error.details).toEqual({ eventClass: 'OrderShipped', channel });
    await refusal(broadcast.channel(new OrderShipped(data)));
    expect(lines).toEqual([]);
  });

  it('with the field set the event goes out; names given as such are never checked', async () => {
    const { broadcast, lines } = logged();
    await broadcast.channel(new OrderShipped({ orderId: 42 }));
    await broadcast.channel('orders.undefined', 'typed', {});
    expect(lines).toEqual(['OrderShipped → private-orders.42, admin {"orderId":42}', 'typed → orders.undefined {}']);
  });

  it('what counts as a mark: undefined anywhere, null and NaN as whole words, [object …]', () => {
    expect(['orders.undefined', 'user42undefined', 'room-null', 'null', 'a.NaN.b', 'x[object Object]', 'x.[object Map]'].map(missingFieldMark)).toEqual([
      'undefined',
      'undefined',
      'null',
      'null',
      'NaN',
      '[object Object]',
      '[object Map]',
    ]);
    expect(['orders.42', 'nullable', 'annulled', 'Nancy', 'banana', 'private-orders.object'].map(missingFieldMark)).toEqual(Array(6).fill(undefined));
  });
});

describe('the maxPayloadKb option', () => {
  const data = { blob: 'x'.repeat(50_000) };

  it("overrides the connection's limit (and Pusher's default 10 KB), for send and for sendMany's rules", async () => {
    const capped = logged();
    expect((await refusal(capped.broadcast.prepare('a', 'e', data))).message).toContain('the limit for this connection is 10240 bytes (10 KB)');
    const raised = logged({ maxPayloadKb: 100 });
    expect(raised.broadcast.maxPayloadKb).toBe(100);
    expect(raised.broadcast.eventRules.maxPayloadKb).toBe(100);
    await raised.broadcast.channel('a', 'e', data);
    expect(raised.lines).toHaveLength(1);
    const config = new Broadcast({ default: 'small', connections: { small: { driver: 'log', maxPayloadKb: 1 } } }, { env: {}, maxPayloadKb: 64 });
    expect(config.maxPayloadKb).toBe(64);
  });

  it.each([0, -1, Number.NaN, Infinity, '100' as unknown as number])('refuses %j', (maxPayloadKb) => {
    expect(() => new Broadcast({}, { env: {}, maxPayloadKb })).toThrow(UsageError);
  });
});

import { describe, expect, it } from 'vitest';
import { Channel, EncryptedPrivateChannel, PresenceChannel, PrivateChannel, channelType, stripPrefix } from '../../src/core/channels.js';
import { ValidationError } from '../../src/core/errors.js';
import { LIMITS, channelNameProblem, chunk, validateEventName, validatePayloadSize, validateSocketId } from '../../src/core/validation.js';

describe('channel classes', () => {
  it('prefix private, presence and encrypted names unless the prefix is there', () => {
    expect(new Channel('orders').name).toBe('orders');
    expect(new PrivateChannel('orders.1').name).toBe('private-orders.1');
    expect(new PrivateChannel('private-orders.1').name).toBe('private-orders.1');
    expect(new PresenceChannel('room').name).toBe('presence-room');
    expect(new PresenceChannel('presence-room').name).toBe('presence-room');
    expect(new EncryptedPrivateChannel('vault').name).toBe('private-encrypted-vault');
    expect(new EncryptedPrivateChannel('private-encrypted-vault').name).toBe('private-encrypted-vault');
  });

  it('know their type from the full name', () => {
    expect(channelType('orders')).toBe('public');
    expect(channelType('private-a')).toBe('private');
    expect(channelType('presence-a')).toBe('presence');
    expect(channelType('private-encrypted-a')).toBe('encrypted');
    expect(stripPrefix('private-encrypted-a.b')).toBe('a.b');
    expect(stripPrefix('presence-room')).toBe('room');
  });

  it('refuse invalid names when constructed', () => {
    expect(() => new PrivateChannel('has space')).toThrow(ValidationError);
  });
});

describe('channel names', () => {
  it('accept every character Pusher allows', () => {
    expect(channelNameProblem('Az09_-=@,.;')).toBeUndefined();
  });

  it.each([
    ['', 'non-empty'],
    ['a b', '" "'],
    ['orders/1', '"/"'],
    ['ünïcode', '"ü"'],
    ['x'.repeat(LIMITS.channelNameLength + 1), 'the limit is 164'],
  ])('refuse %j naming the problem', (name, problem) => {
    expect(channelNameProblem(name)).toContain(problem);
  });

  it('accept exactly 164 characters', () => {
    expect(channelNameProblem('x'.repeat(164))).toBeUndefined();
  });
});

describe('events, sockets and payloads', () => {
  it('limit event names to 200 characters and reserve the pusher: prefix', () => {
    expect(validateEventName('e'.repeat(200))).toHaveLength(200);
    expect(() => validateEventName('e'.repeat(201))).toThrow(/201 characters long; the limit is 200/);
    expect(() => validateEventName('pusher:subscribe')).toThrow(/reserved/);
    expect(() => validateEventName('')).toThrow(/non-empty/);
  });

  it('accept only digits.digits socket ids', () => {
    expect(validateSocketId('123.456')).toBe('123.456');
    for (const bad of ['123', '123.', 'a.1', '1.2.3', ' 1.2']) expect(() => validateSocketId(bad)).toThrow(/socket id/);
  });

  it('measure the payload as sent and compare it with the connection limit', () => {
    expect(validatePayloadSize({ a: 'x'.repeat(10_000) })).toBeGreaterThan(10_000);
    expect(() => validatePayloadSize({ a: 'x'.repeat(10_240) })).toThrow(/bytes; the limit for this connection is 10240 bytes/);
    expect(validatePayloadSize({ a: 'x'.repeat(10_240) }, 20)).toBeGreaterThan(10_240);
    // Multi-byte characters count in bytes, not characters.
    expect(() => validatePayloadSize('é'.repeat(6000))).toThrow(/12000 bytes/);
  });

  it('chunk lists into groups of at most n', () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunk([], 10)).toEqual([]);
  });
});

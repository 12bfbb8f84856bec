/** Near-miss channel prefixes: legal public names that were almost certainly meant to be private or presence. */
import { describe, expect, it } from 'vitest';
import { prefixTypo } from '../../src/core/channels.js';

describe('prefixTypo', () => {
  it.each([
    ['privat-orders', 'private-orders'],
    ['presense-room', 'presence-room'],
    ['private_orders', 'private-orders'],
    ['Private-orders', 'private-orders'],
    ['PRESENCE-room', 'presence-room'],
    ['prvate-orders', 'private-orders'],
    ['presence_chat.1', 'presence-chat.1'],
  ])('%s → %s', (name, suggestion) => {
    expect(prefixTypo(name)?.suggestion).toBe(suggestion);
  });

  it.each(['orders', 'private-orders', 'presence-room', 'private-encrypted-x', 'prices-eu', 'press-releases', 'priority.high', 'pre-orders', 'user-1'])(
    '%s is left alone',
    (name) => {
      expect(prefixTypo(name)).toBeUndefined();
    },
  );
});

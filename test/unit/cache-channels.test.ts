/**
 * Cache channels as a kind of channel: recognised by name, authorized as their type says, matched by channel
 * rules with `cache-` as part of the name (as Laravel does); and the `info` a trigger can ask for.
 */
import { describe, expect, it } from 'vitest';
import { compileRules, matchRule } from '../../src/auth/rules.js';
import { channelAttributes, channelKind, channelType, describeKind, isCacheChannel, requiresAuthorization } from '../../src/core/channels.js';
import { validateTriggerInfo } from '../../src/core/validation.js';
import { Broadcast } from '../../src/core/broadcast.js';
import { ValidationError } from '../../src/core/errors.js';
import { describeCache } from '../../src/cli/commands/channels.js';

describe('cache channels', () => {
  it.each([
    ['cache-prices', 'public', true],
    ['private-cache-orders.1', 'private', true],
    ['private-encrypted-cache-secrets', 'encrypted', true],
    ['presence-cache-room', 'presence', true],
    ['prices', 'public', false],
    ['private-orders', 'private', false],
    ['cached-prices', 'public', false],
    ['private-cachex', 'private', false],
    ['presence-room-cache-1', 'presence', false],
  ] as const)('%s: type %s, cache %s', (name, type, cache) => {
    expect(channelKind(name)).toEqual({ type, cache });
    expect(isCacheChannel(name)).toBe(cache);
    // The type, and so authorization, is what it always was.
    expect(channelType(name)).toBe(type);
    expect(requiresAuthorization(name)).toBe(type !== 'public');
  });

  it('are described with their kind', () => {
    expect(describeKind('presence-cache-room')).toBe('presence cache');
    expect(describeKind('private-orders')).toBe('private');
  });

  it('channel rules see "cache-" as part of the name, as Laravel\'s do: a rule for orders.{id} does not cover private-cache-orders.1', () => {
    const rules = compileRules({ 'orders.{id}': () => true, 'cache-prices.{market}': () => true });
    expect(matchRule(rules, 'private-orders.1')?.rule.pattern).toBe('orders.{id}');
    expect(matchRule(rules, 'private-cache-orders.1')).toBeUndefined();
    expect(matchRule(rules, 'private-cache-prices.eu')).toMatchObject({ rule: { pattern: 'cache-prices.{market}' }, params: { market: 'eu' } });
    expect(matchRule(rules, 'presence-cache-prices.eu')?.params).toEqual({ market: 'eu' });
    expect(matchRule(rules, 'private-encrypted-cache-prices.eu')?.params).toEqual({ market: 'eu' });
    expect(matchRule(rules, 'cache-prices.eu')).toBeUndefined(); // public: never authorized
  });
});

describe('channel attributes and the cached event', () => {
  it('camelCase, keeping a null cache (nothing cached)', () => {
    expect(channelAttributes({ occupied: true, user_count: 2, subscription_count: 3 })).toEqual({ userCount: 2, subscriptionCount: 3 });
    expect(channelAttributes({ occupied: true, cache: null })).toEqual({ cache: null });
    expect(channelAttributes(undefined)).toEqual({});
  });

  it('a cached event in one line', () => {
    expect(describeCache({ event: 'price.updated', data: '{"eur":1.1}', ttl: 1800 })).toBe('price.updated {"eur":1.1} (expires in 1800 s)');
    expect(describeCache({ event: 'price.updated', channel: 'cache-prices', data: { eur: 1.1 } })).toBe('price.updated {"eur":1.1}');
    expect(describeCache(null)).toBe('nothing cached');
    expect(describeCache({ something: 'else' })).toBe('{"something":"else"}');
    expect(describeCache({ event: 'e', data: 'x'.repeat(500) }).length).toBeLessThan(140);
  });
});

describe('info on a trigger', () => {
  it('user_count and subscription_count, comma-separated or as a list, once each', () => {
    expect(validateTriggerInfo('user_count,subscription_count', ['presence-a'])).toBe('user_count,subscription_count');
    expect(validateTriggerInfo(['subscription_count', 'subscription_count'], ['orders'])).toBe('subscription_count');
  });

  it('refuses an unknown attribute, and user_count for a channel that is not a presence channel', () => {
    expect(() => validateTriggerInfo('cache', ['cache-x'])).toThrow(/Unknown info attribute "cache"/);
    expect(() => validateTriggerInfo([], ['orders'])).toThrow(ValidationError);
    expect(() => validateTriggerInfo('user_count', ['presence-a', 'private-b'])).toThrow('The info attribute user_count applies to presence channels only, and "private-b" is not one');
  });

  it('the library refuses it before sending, and a dry run carries it', async () => {
    const broadcast = new Broadcast({ default: 'log' }, { env: {}, logger: () => {} });
    await expect(broadcast.prepare(['orders'], 'e', {}, { info: 'user_count' })).rejects.toThrow(ValidationError);
    const prepared = await broadcast.prepare(['presence-a'], 'e', {}, { info: ['user_count'] });
    expect(prepared.info).toBe('user_count');
    // The log driver sends nothing, so nothing is counted: the result says so with an empty `info`.
    expect((await broadcast.send(prepared)).info).toEqual({});
    expect((await broadcast.channel('orders', 'e', {})).info).toBeUndefined();
  });
});

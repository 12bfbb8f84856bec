import { describe, expect, it } from 'vitest';
import { applyRules, compilePattern, compileRules, matchRule, rulesOf } from '../../src/auth/rules.js';
import { authRoutes } from '../../src/auth/routes.js';
import { Broadcast } from '../../src/core/broadcast.js';
import type { BroadcastConfig } from '../../src/config/schema.js';
import { ConfigError } from '../../src/core/errors.js';

const ada = { id: 1, name: 'Ada' };

describe('patterns', () => {
  it('match the name without its prefix and capture {placeholders} as one dot-separated segment', () => {
    const rules = compileRules({ 'orders.{orderId}': () => true });
    expect(matchRule(rules, 'private-orders.42')?.params).toEqual({ orderId: '42' });
    expect(matchRule(rules, 'presence-orders.a-b_c')?.params).toEqual({ orderId: 'a-b_c' });
    expect(matchRule(rules, 'private-encrypted-orders.7')?.params).toEqual({ orderId: '7' });
    expect(matchRule(rules, 'private-orders.1.2')).toBeUndefined();
    expect(matchRule(rules, 'private-orders.')).toBeUndefined();
    expect(matchRule(rules, 'private-xorders.1')).toBeUndefined();
    expect(matchRule(rules, 'orders.1')).toBeUndefined(); // public channels are never matched
  });

  it('treat regex characters literally, and * as a wildcard', () => {
    const { regex, params } = compilePattern('a.b=c@d,{x};*');
    expect(params).toEqual(['x']);
    expect(regex.test('a.b=c@d,1;anything.at.all')).toBe(true);
    expect(regex.test('aXb=c@d,1;')).toBe(false);
  });

  it('capture several placeholders in order', () => {
    const rules = compileRules({ 'chat.{team}.{room}': () => true });
    expect(matchRule(rules, 'presence-chat.red.lobby')?.params).toEqual({ team: 'red', room: 'lobby' });
  });

  it('refuse patterns that cannot match a channel name, with a ConfigError naming them', () => {
    expect(() => compilePattern('orders {id}')).toThrow(/Channel rule "orders \{id\}" contains " "/);
    expect(() => compilePattern('private-orders.{id}')).toThrow(ConfigError);
    expect(() => compilePattern('private-orders.{id}')).toThrow(/without the "private-" prefix/);
    expect(() => compilePattern('a.{id}.{id}')).toThrow(/\{id\} is used twice/);
    expect(() => compilePattern('a.{id')).toThrow(/contains "\{"/);
    expect(() => compileRules({ 'a.{id}': 'yes' } as never)).toThrow(/must be a function/);
    expect(() => compileRules({ a: { authorize: () => true, type: 'public' } } as never)).toThrow(/type must be "private", "presence"/);
  });

  it('a placeholder named __proto__ is an own property, not the prototype', () => {
    const rules = compileRules({ 'x.{__proto__}': () => true });
    const params = matchRule(rules, 'private-x.polluted')!.params;
    expect(Object.getPrototypeOf(params)).toBe(Object.prototype);
    expect(Object.keys(params)).toEqual(['__proto__']);
  });
});

describe('applying rules', () => {
  it('allows every user when no rules are configured', async () => {
    expect(await applyRules([], ada, 'private-anything')).toEqual({ allowed: true });
  });

  it('refuses a private or presence channel no rule matches once rules exist', async () => {
    const rules = compileRules({ 'orders.{id}': () => true });
    expect(await applyRules(rules, ada, 'private-invoices.1')).toEqual({ allowed: false, reason: 'no-rule' });
  });

  it('passes the user and the parameters; true allows, false/null/other values refuse', async () => {
    const seen: unknown[] = [];
    const rules = compileRules({
      'orders.{orderId}': (user, { orderId }) => {
        seen.push([user.id, orderId]);
        return Number(orderId) === user.id;
      },
      'maybe.{v}': (_u, { v }) => ({ null: null, one: 1, str: 'yes', arr: ['a'], undef: undefined } as Record<string, unknown>)[v!] as never,
    });
    expect(await applyRules(rules, ada, 'private-orders.1')).toEqual({ allowed: true, rule: 'orders.{orderId}' });
    expect(await applyRules(rules, ada, 'private-orders.2')).toEqual({ allowed: false, reason: 'refused', rule: 'orders.{orderId}' });
    expect(seen).toEqual([[1, '1'], [1, '2']]);
    for (const v of ['null', 'one', 'str', 'arr', 'undef']) {
      expect((await applyRules(rules, ada, `private-maybe.${v}`)).allowed, v).toBe(false);
    }
  });

  it('an object allows and becomes user_info; async rules are awaited', async () => {
    const rules = compileRules({ 'room.{id}': async (user) => ({ name: user.name }) });
    expect(await applyRules(rules, ada, 'presence-room.9')).toEqual({ allowed: true, rule: 'room.{id}', userInfo: { name: 'Ada' } });
  });

  it('the first matching rule in config order decides', async () => {
    const rules = compileRules({ 'a.admin': () => false, 'a.{x}': () => true });
    expect((await applyRules(rules, ada, 'private-a.admin')).allowed).toBe(false);
    expect((await applyRules(rules, ada, 'private-a.other')).allowed).toBe(true);
  });

  it('a rule limited to presence does not authorize the private channel of the same name', async () => {
    const rules = compileRules({ 'room.{id}': { type: 'presence', authorize: () => ({ name: 'x' }) } });
    expect((await applyRules(rules, ada, 'presence-room.1')).allowed).toBe(true);
    expect(await applyRules(rules, ada, 'private-room.1')).toEqual({ allowed: false, reason: 'no-rule' });
    const privateOnly = compileRules({ 'doc.{id}': { type: ['private'], authorize: () => true } });
    expect((await applyRules(privateOnly, ada, 'private-encrypted-doc.1')).allowed).toBe(true);
    expect((await applyRules(privateOnly, ada, 'presence-doc.1')).allowed).toBe(false);
  });

  it('a rule that throws or rejects refuses instead of propagating', async () => {
    const boom = new Error('db down');
    const rules = compileRules({ 'a.{x}': () => { throw boom; }, 'b.{x}': () => Promise.reject(boom) });
    expect(await applyRules(rules, ada, 'private-a.1')).toEqual({ allowed: false, reason: 'error', rule: 'a.{x}', error: boom });
    expect(await applyRules(rules, ada, 'private-b.1')).toMatchObject({ allowed: false, reason: 'error' });
  });

  it('compiles a config once', () => {
    const config: BroadcastConfig = { channels: { a: () => true } };
    expect(rulesOf(config)).toBe(rulesOf(config));
  });
});

describe('Broadcast.authorize', () => {
  const env = { PUSHER_APP_ID: '1', PUSHER_APP_KEY: '278d425bdf160c739803', PUSHER_APP_SECRET: '7ad3773142a6692b25b8' };

  it('signs the published examples through a rule (private and presence)', async () => {
    const broadcast = new Broadcast({ channels: { foobar: () => ({ name: 'Mr. Channels' }) } }, { env });
    expect(await broadcast.authorize('1234.1234', 'private-foobar', { id: 10 })).toEqual({
      ok: true,
      status: 200,
      channel: 'private-foobar',
      rule: 'foobar',
      body: { auth: '278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4' },
    });
    const presence = await broadcast.authorize('1234.1234', 'presence-foobar', { id: 10 });
    expect(presence.body).toEqual({
      auth: '278d425bdf160c739803:31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80',
      channel_data: '{"user_id":10,"user_info":{"name":"Mr. Channels"}}',
    });
  });

  it('with no rules, any user gets presence channel_data with just the user id', async () => {
    const broadcast = new Broadcast({}, { env });
    const result = await broadcast.authorize('1.2', 'presence-room', { id: 'u-1', email: 'private@example.com' });
    expect(result.ok && result.body.channel_data).toBe('{"user_id":"u-1"}');
  });

  it.each([
    [undefined, 'private-a', 400, 'Missing socket_id'],
    [null, 'private-a', 400, 'Missing socket_id'],
    ['1.2', null, 400, 'Missing channel_name'],
    [['1.2'], 'private-a', 400, 'socket_id must be a string'],
    ['1.2.3', 'private-a', 400, 'Invalid socket_id'],
    ['1.2', undefined, 400, 'Missing channel_name'],
    ['1.2', 42, 400, 'channel_name must be a string'],
    ['1.2', 'private-a b', 400, 'Invalid channel_name'],
    ['1.2', 'public', 400, 'Public channels need no authorization'],
  ])('refuses socket_id %j, channel_name %j with %i', async (socketId, channel, status, message) => {
    const result = await new Broadcast({}, { env }).authorize(socketId, channel, ada);
    expect(result.status).toBe(status);
    expect(!result.ok && result.body.error.message).toContain(message);
  });

  it('403 without a user or with a user that has no id', async () => {
    const broadcast = new Broadcast({}, { env });
    for (const user of [null, undefined, false, {}, { id: '' }, { id: NaN }]) {
      const result = await broadcast.authorize('1.2', 'private-a', user);
      expect(result).toMatchObject({ ok: false, status: 403, body: { error: { code: 'unauthenticated' } } });
    }
  });

  it('500 encryption_not_configured for an encrypted channel without a master key, with the ConfigError as cause', async () => {
    const result = await new Broadcast({}, { env }).authorize('1.2', 'private-encrypted-a', ada);
    expect(result).toMatchObject({ ok: false, status: 500, body: { error: { code: 'encryption_not_configured' } } });
    expect(!result.ok && result.cause).toBeInstanceOf(ConfigError);
  });

  it('adds shared_secret for an encrypted channel when the master key is set', async () => {
    const master = 'zyrm8pvV2C9fJcBfhyXzvxbJVN/H7QLmbe0xJi1GhPU=';
    const broadcast = new Broadcast({}, { env: { ...env, PUSHER_ENCRYPTION_MASTER_KEY_BASE64: master } });
    const result = await broadcast.authorize('1.2', 'private-encrypted-bla', ada);
    expect(result.ok && result.body.shared_secret).toBe('nlr49ISQHz91yS3cy/yWmW8wFMNeTnNL5tNHnbPJcLQ=');
  });

  it('throws a ConfigError on a connection that cannot sign', async () => {
    await expect(new Broadcast({}, { env: {} }).authorize('1.2', 'private-a', ada)).rejects.toThrow(/log driver, which has no app key and secret/);
  });
});

describe('route definitions', () => {
  it('use the authRoute option, else config auth.route, else /broadcasting/authorize', () => {
    expect(authRoutes({})[0]).toMatchObject({ method: 'POST', path: '/broadcasting/authorize', name: 'broadcasting.authorize', csrfExempt: true, middleware: [] });
    expect(authRoutes({ auth: { route: '/ws/auth', middleware: ['auth'] } })[0]).toMatchObject({ path: '/ws/auth', middleware: ['auth'] });
    expect(new Broadcast({ auth: { route: '/ws/auth' } }, { env: {} }).routes({ authRoute: '/x' })[0]!.path).toBe('/x');
    expect(() => authRoutes({ auth: { route: 'no-slash' } })).toThrow(/"no-slash" \(from config auth.route\) is not a valid path/);
    expect(() => authRoutes({}, { authRoute: '/a?b' })).toThrow(ConfigError);
  });
});

import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.js';
import {
  fullChannelName,
  initDefaults,
  kebabCase,
  normaliseEventName,
  parseChannel,
  renderConfig,
  renderEnvExample,
  renderEvent,
} from '../../src/cli/scaffold.js';

describe('normaliseEventName', () => {
  it.each([
    ['UserAdded', 'UserAdded'],
    ['user_added', 'UserAdded'],
    ['user-added', 'UserAdded'],
    ['userAdded', 'UserAdded'],
    ['order_shipped_v2', 'OrderShippedV2'],
    ['X', 'X'],
  ])('%s → %s', (input, expected) => {
    expect(normaliseEventName(input)).toBe(expected);
  });

  it.each([
    ['', /it is empty/],
    ['events/UserAdded', /not a path/],
    ['..\\UserAdded', /not a path/],
    ['..', /not a path/],
    ['User..Added', /not a path/],
    ['UserAdded.ts', /without a file extension/],
    ['user added', /contains " "/],
    ['user.added', /contains "\."/],
    ['Ümlaut', /contains "Ü"/],
    ['1stEvent', /must start with a letter/],
    ['-added', /starts or ends/],
    ['user__added', /two in a row/],
    ['user-', /starts or ends/],
    ['private_channel', /imports from pusher-broadcast/],
    ['A'.repeat(101), /limit is 100/],
  ])('refuses %j with a usage error (exit 2)', (input, message) => {
    let error: unknown;
    try {
      normaliseEventName(input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).exitCode).toBe(2);
    expect((error as Error).message).toMatch(message);
  });

  it('points at --as for dotted event names and at --dir for paths', () => {
    expect(() => normaliseEventName('user.added')).toThrow(expect.objectContaining({ hint: expect.stringContaining('--as') }));
    expect(() => normaliseEventName('a/B')).toThrow(expect.objectContaining({ hint: expect.stringContaining('--dir') }));
  });
});

describe('kebabCase', () => {
  it('turns class names into default channel names', () => {
    expect(kebabCase('UserAdded')).toBe('user-added');
    expect(kebabCase('HTTPRequestMade')).toBe('http-request-made');
    expect(kebabCase('OrderShippedV2')).toBe('order-shipped-v2');
  });
});

describe('parseChannel', () => {
  it('defaults to a private channel', () => {
    expect(parseChannel('orders')).toEqual({ type: 'private', name: 'orders', params: [] });
  });

  it('takes the type from a prefix, or from the flag', () => {
    expect(parseChannel('presence-chat')).toMatchObject({ type: 'presence', name: 'chat' });
    expect(parseChannel('private-encrypted-vault')).toMatchObject({ type: 'encrypted', name: 'vault' });
    expect(parseChannel('private-orders', 'private')).toMatchObject({ type: 'private', name: 'orders' });
    expect(parseChannel('orders', 'public')).toMatchObject({ type: 'public', name: 'orders' });
  });

  it('refuses a prefix that contradicts the flag', () => {
    expect(() => parseChannel('private-orders', 'public')).toThrow(/is a private channel, but --public was given/);
  });

  it('collects {field} placeholders once each', () => {
    expect(parseChannel('orders.{orderId}.{userId}.{orderId}', 'presence')).toEqual({
      type: 'presence',
      name: 'orders.{orderId}.{userId}.{orderId}',
      params: ['orderId', 'userId'],
    });
    expect(fullChannelName(parseChannel('orders.{id}', 'encrypted'))).toBe('private-encrypted-orders.{id}');
  });

  it.each([
    ['bad name', /contains " "/],
    ['orders.{1id}', /Invalid placeholder \{1id\}/],
    ['orders.{broadcastOn}', /method of CanBroadcast/],
    ['orders.{id', /contains "\{"/],
    ['private-', /it is empty/],
    ['x'.repeat(160), /the limit is 164/],
  ])('refuses %j', (input, message) => {
    expect(() => parseChannel(input)).toThrow(message);
  });
});

describe('renderEvent', () => {
  const source = renderEvent({ className: 'OrderShipped', channel: parseChannel('orders.{orderId}', 'private') });

  it('imports from the published package and extends CanBroadcast', () => {
    expect(source).toContain("import { CanBroadcast, PrivateChannel } from 'pusher-broadcast';");
    expect(source).toContain('export class OrderShipped extends CanBroadcast {');
  });

  it('declares payload fields with `declare` and explains why', () => {
    expect(source).toContain('  declare orderId: string | number;');
    expect(source).toMatch(/ES2022 class-field semantics/);
    expect(source).not.toMatch(/^\s+orderId[!?]?:/m);
  });

  it('builds the channel name from the fields', () => {
    expect(source).toContain('override broadcastOn(): PrivateChannel {');
    expect(source).toContain('return new PrivateChannel(`orders.${this.orderId}`);');
  });

  it('shows broadcastAs, broadcastWith and broadcastWhen as commented options', () => {
    expect(source).toMatch(/\/\/ override broadcastAs\(\): string \{/);
    expect(source).toMatch(/\/\/ override broadcastWith\(\): unknown \{/);
    expect(source).toMatch(/\/\/ override broadcastWhen\(\): boolean \{/);
  });

  it('writes broadcastAs when --as is given, quoting it safely', () => {
    const withAs = renderEvent({ className: 'A', channel: parseChannel('a', 'public'), as: "it's \"odd\"\\" });
    expect(withAs).toContain("import { CanBroadcast, Channel } from 'pusher-broadcast';");
    expect(withAs).toContain(`    return 'it\\'s "odd"\\\\';`);
    expect(withAs).not.toMatch(/\/\/ override broadcastAs/);
  });

  it('uses the right channel class for each type', () => {
    const classes = { public: 'Channel', private: 'PrivateChannel', presence: 'PresenceChannel', encrypted: 'EncryptedPrivateChannel' } as const;
    for (const [type, cls] of Object.entries(classes)) {
      const text = renderEvent({ className: 'E', channel: parseChannel('room', type as keyof typeof classes) });
      expect(text).toContain(`return new ${cls}('room');`);
    }
  });

  it('refuses an invalid --as', () => {
    expect(() => renderEvent({ className: 'A', channel: parseChannel('a'), as: 'pusher:x' })).toThrow(/reserved/);
  });
});

describe('renderConfig and renderEnvExample', () => {
  it('read every value from PUSHER_* with soketi defaults', () => {
    const config = renderConfig(initDefaults());
    expect(config).toContain("import type { BroadcastConfig } from 'pusher-broadcast';");
    // Nothing is imported at run time: the config loads where the package is not installed.
    expect(config).not.toMatch(/^import (?!type )/m);
    expect(config).toContain("appId: process.env.PUSHER_APP_ID ?? 'app-id',");
    expect(config).toContain("port: Number(process.env.PUSHER_PORT ?? '6001'),");
    expect(config).toContain("eventsDir: 'src/events',");
    expect(config).toContain("auth: { route: '/broadcasting/authorize' },");
    const env = renderEnvExample(initDefaults());
    expect(env).toMatch(/^PUSHER_HOST=127\.0\.0\.1$/m);
    expect(env).toMatch(/^PUSHER_APP_SECRET=app-secret$/m);
  });

  it('never write a secret for a real server', () => {
    const config = renderConfig({ ...initDefaults('pusher'), appId: '123', key: 'k', cluster: 'eu' });
    expect(config).toContain("secret: process.env.PUSHER_APP_SECRET ?? '',");
    expect(config).toContain("cluster: process.env.PUSHER_APP_CLUSTER ?? 'eu',");
    expect(config).not.toContain('host:');
    expect(renderEnvExample({ ...initDefaults('reverb') })).toMatch(/^PUSHER_APP_SECRET=$/m);
  });
});

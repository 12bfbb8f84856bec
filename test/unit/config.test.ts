import { describe, expect, it } from 'vitest';
import {
  connectionUrl,
  defaultServer,
  rememberConfigFile,
  resolveConnection,
  SERVER_LIMITS,
  type BroadcastConfig,
  type PusherConnection,
} from '../../src/config/schema.js';
import { Broadcast } from '../../src/core/broadcast.js';
import { ConfigError } from '../../src/core/errors.js';

const creds = { PUSHER_APP_ID: '1', PUSHER_APP_KEY: 'k', PUSHER_APP_SECRET: 's3cret-value' };

describe('connection resolution', () => {
  it('falls back to the log driver with no config and no credentials', () => {
    const r = resolveConnection({}, {});
    expect(r.name).toBe('log');
    expect(r.connection.driver).toBe('log');
    expect(r.sources.$selected).toBe('default');
  });

  it('builds a pusher connection from PUSHER_* with no config file', () => {
    const r = resolveConnection({}, { ...creds, PUSHER_HOST: '127.0.0.1', PUSHER_PORT: '6001', PUSHER_SCHEME: 'http' });
    expect(r.name).toBe('pusher');
    expect(r.connection).toMatchObject({ driver: 'pusher', appId: '1', key: 'k', host: '127.0.0.1', port: 6001, scheme: 'http' });
    expect(r.sources.host).toBe('env');
  });

  it('lets environment values override the config\'s pusher connection, field by field', () => {
    const config: BroadcastConfig = {
      connections: { pusher: { driver: 'pusher', appId: 'cfg', key: 'cfg-key', secret: 'cfg-secret', host: 'cfg.example' } },
    };
    const r = resolveConnection(config, { PUSHER_APP_KEY: 'env-key' });
    expect(r.connection).toMatchObject({ appId: 'cfg', key: 'env-key', host: 'cfg.example' });
    expect(r.sources).toMatchObject({ appId: 'config', key: 'env' });
  });

  it('picks the connection by flag, then BROADCAST_CONNECTION, then config default', () => {
    const config: BroadcastConfig = {
      default: 'a',
      connections: { a: { driver: 'null' }, b: { driver: 'null' }, c: { driver: 'null' } },
    };
    expect(resolveConnection(config, {}).name).toBe('a');
    expect(resolveConnection(config, { BROADCAST_CONNECTION: 'b' }).name).toBe('b');
    expect(resolveConnection(config, { BROADCAST_CONNECTION: 'b' }, 'c').name).toBe('c');
    expect(resolveConnection(config, { BROADCAST_CONNECTION: 'b' }, 'c').sources.$selected).toBe('flag');
  });

  it('names the known connections for an unknown one', () => {
    expect(() => resolveConnection({ connections: { staging: { driver: 'null' } } }, {}, 'prod')).toThrow(ConfigError);
    try {
      resolveConnection({ connections: { staging: { driver: 'null' } } }, {}, 'prod');
    } catch (error) {
      expect((error as ConfigError).message).toContain('Unknown connection "prod"');
      expect((error as ConfigError).hint).toContain('log, null, staging');
    }
  });

  it('names the missing variables for an incomplete pusher connection', () => {
    try {
      resolveConnection({}, { PUSHER_APP_KEY: 'k' });
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).message).toBe('Connection "pusher" is missing appId, secret');
      expect((error as ConfigError).hint).toContain('PUSHER_APP_ID, PUSHER_APP_SECRET');
    }
  });

  it('rejects a bad port, scheme and master key without printing the key', () => {
    expect(() => resolveConnection({}, { ...creds, PUSHER_PORT: 'eighty' })).toThrow(/^PUSHER_PORT must be a port number \(1-65535\), not "eighty"$/);
    expect(() => resolveConnection({}, { ...creds, PUSHER_SCHEME: 'ftp' })).toThrow(/^PUSHER_SCHEME must be "http" or "https", not "ftp"$/);
    const key = Buffer.from('short-key').toString('base64');
    try {
      resolveConnection({}, { ...creds, PUSHER_ENCRYPTION_MASTER_KEY_BASE64: key });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toBe('PUSHER_ENCRYPTION_MASTER_KEY_BASE64 must decode to 32 bytes (it decodes to 9)');
      expect((error as Error).message).not.toContain(key);
    }
  });
});

/** The ConfigError `resolve` throws. */
function refusal(resolve: () => unknown): ConfigError {
  try {
    resolve();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('a host given with a scheme or port', () => {
  it.each([
    ['127.0.0.1:6001', {}, { host: '127.0.0.1', port: 6001 }, 'https://127.0.0.1:6001'],
    ['http://127.0.0.1', {}, { host: '127.0.0.1', scheme: 'http' }, 'http://127.0.0.1:80'],
    ['http://127.0.0.1:6001/', { PUSHER_PORT: '6001', PUSHER_SCHEME: 'http' }, { host: '127.0.0.1', port: 6001, scheme: 'http' }, 'http://127.0.0.1:6001'],
    ['wss://ws.example.com', {}, { host: 'ws.example.com', scheme: 'https' }, 'https://ws.example.com:443'],
    ['soketi_1:6001', { PUSHER_SCHEME: 'http' }, { host: 'soketi_1', port: 6001 }, 'http://soketi_1:6001'],
    ['[::1]:6001', {}, { host: '::1', port: 6001 }, 'https://[::1]:6001'],
    ['::1', { PUSHER_PORT: '6001' }, { host: '::1', port: 6001 }, 'https://[::1]:6001'],
  ])('%s %j is split, never doubled', (host, more, fields, url) => {
    const r = resolveConnection({}, { ...creds, ...more, PUSHER_HOST: host });
    expect(r.connection).toMatchObject(fields);
    expect(connectionUrl(r.connection as PusherConnection)).toBe(url);
    if ('port' in fields && !('PUSHER_PORT' in more)) expect(r.origins.port).toBe('PUSHER_HOST');
  });

  it.each([
    ['http://127.0.0.1:6001', { PUSHER_PORT: '7000' }, 'PUSHER_HOST gives port 6001 but PUSHER_PORT is 7000; give the port in one place'],
    ['https://127.0.0.1', { PUSHER_SCHEME: 'http' }, 'PUSHER_HOST gives the scheme https but PUSHER_SCHEME is http; give the scheme in one place'],
    ['ftp://files.example.com', {}, 'PUSHER_HOST must be a host name or address such as ws.example.com or 127.0.0.1, not "ftp://files.example.com" (the scheme is http or https)'],
    ['example.com/pusher', {}, 'PUSHER_HOST must be a host name or address such as ws.example.com or 127.0.0.1, not "example.com/pusher": a path cannot be given'],
    ['user:pass@example.com', {}, 'PUSHER_HOST must not hold credentials (user:password@): set the key and secret instead'],
    ['127.0.0.1:99999', {}, 'PUSHER_HOST has a port that is not a port number (1-65535): "127.0.0.1:99999"'],
    ['127.0.0.1:6001:6001', {}, 'PUSHER_HOST must be a host name or address such as ws.example.com or 127.0.0.1, not "127.0.0.1:6001:6001"'],
    ['my host', {}, 'PUSHER_HOST must be a host name or address such as ws.example.com or 127.0.0.1, not "my host"'],
    ['"127.0.0.1"', {}, 'PUSHER_HOST is wrapped in quotes'],
    ['127.0.0.1 ', {}, 'PUSHER_HOST has spaces at its start or end'],
  ])('%s %j is refused, naming the variable', (host, more, message) => {
    expect(refusal(() => resolveConnection({}, { ...creds, ...more, PUSHER_HOST: host })).message).toBe(message);
  });

  it('names the place in the config file for a value that came from it', () => {
    const config: BroadcastConfig = { connections: { pusher: { driver: 'pusher', appId: '1', key: 'k', secret: 's3cret', host: 'http://127.0.0.1:6001', port: 7000 } } };
    expect(refusal(() => resolveConnection(config, {})).message).toBe(
      'connections.pusher.host in the config gives port 6001 but connections.pusher.port in the config is 7000; give the port in one place',
    );
    rememberConfigFile(config, 'broadcast.config.ts');
    expect(refusal(() => resolveConnection(config, {})).message).toMatch(/^connections\.pusher\.host in broadcast\.config\.ts gives port 6001 but connections\.pusher\.port in broadcast\.config\.ts is 7000/);
    // The environment's value (PUSHER_HOST) overrides the config's host, and is named as such.
    expect(refusal(() => resolveConnection(config, { PUSHER_HOST: '127.0.0.1:6001' })).message).toMatch(/^PUSHER_HOST gives port 6001 but connections\.pusher\.port in broadcast\.config\.ts is 7000/);
  });
});

describe('every connection field is checked when resolved', () => {
  it.each([
    [{ PUSHER_PORT: '0' }, 'PUSHER_PORT must be a port number (1-65535), not "0"'],
    [{ PUSHER_PORT: '65536' }, 'PUSHER_PORT must be a port number (1-65535), not "65536"'],
    [{ PUSHER_APP_CLUSTER: 'EU' }, 'PUSHER_APP_CLUSTER must be a cluster name such as mt1, eu or us2 (lowercase letters, digits and -), not "EU"'],
    [{ PUSHER_APP_CLUSTER: 'eu.pusher.com' }, 'PUSHER_APP_CLUSTER must be a cluster name such as mt1, eu or us2 (lowercase letters, digits and -), not "eu.pusher.com"'],
    [{ PUSHER_APP_ID: '12/events' }, 'PUSHER_APP_ID must be an app id, without / ? # % or \\, not "12/events"'],
    [{ PUSHER_APP_KEY: 'app key' }, 'PUSHER_APP_KEY has spaces in it'],
    [{ PUSHER_APP_KEY: "'app-key'" }, 'PUSHER_APP_KEY is wrapped in quotes'],
    [{ PUSHER_APP_SECRET: 's3cret-value\r' }, 'PUSHER_APP_SECRET has spaces at its start or end (the value is not shown)'],
    [{ PUSHER_ENCRYPTION_MASTER_KEY_BASE64: 'not base64!' }, 'PUSHER_ENCRYPTION_MASTER_KEY_BASE64 must be standard base64 (A-Z a-z 0-9 + / =) that decodes to 32 bytes'],
    [{ PUSHER_ENCRYPTION_MASTER_KEY_BASE64: Buffer.alloc(32, 251).toString('base64url') }, 'PUSHER_ENCRYPTION_MASTER_KEY_BASE64 must be standard base64 (A-Z a-z 0-9 + / =) that decodes to 32 bytes'],
  ])('%j', (env, message) => {
    const error = refusal(() => resolveConnection({}, { ...creds, ...env }));
    expect(error.message).toBe(message);
    expect(error.message).not.toContain('s3cret-value');
  });

  it('accepts a good master key, a lowercase cluster and numbers given as strings', () => {
    const r = resolveConnection({}, { ...creds, PUSHER_APP_CLUSTER: 'ap-southeast-1', PUSHER_PORT: '443', PUSHER_ENCRYPTION_MASTER_KEY_BASE64: Buffer.alloc(32, 7).toString('base64') });
    expect(r.connection).toMatchObject({ cluster: 'ap-southeast-1', port: 443 });
  });
});

describe("Reverb's environment", () => {
  const reverb = { REVERB_APP_ID: '42', REVERB_APP_KEY: 'reverb-key', REVERB_APP_SECRET: 'reverb-secret', REVERB_HOST: 'localhost', REVERB_PORT: '8080', REVERB_SCHEME: 'http' };

  it('REVERB_* define the "reverb" connection, talking to Reverb', () => {
    const r = resolveConnection({}, reverb);
    expect(r.name).toBe('reverb');
    expect(r.connection).toMatchObject({ driver: 'pusher', appId: '42', key: 'reverb-key', host: 'localhost', port: 8080, scheme: 'http' });
    expect(r.origins).toMatchObject({ appId: 'REVERB_APP_ID', host: 'REVERB_HOST', $selected: 'a "reverb" connection exists' });
    expect(r.server).toBe('reverb');
    expect(r.limits).toEqual(SERVER_LIMITS.reverb);
    expect(r.limits.requestBytes).toBe(10_000);
  });

  it('the choice: BROADCAST_CONNECTION, else BROADCAST_DRIVER (with a note), else the config default, else pusher, else reverb', () => {
    const both = { ...creds, ...reverb };
    expect(resolveConnection({}, both).name).toBe('pusher');
    expect(resolveConnection({ default: 'reverb' }, both).name).toBe('reverb');
    expect(resolveConnection({ default: 'reverb' }, { ...both, BROADCAST_CONNECTION: 'pusher' }).name).toBe('pusher');
    const legacy = resolveConnection({}, { ...both, BROADCAST_DRIVER: 'reverb' });
    expect(legacy).toMatchObject({ name: 'reverb', sources: { $selected: 'env' }, origins: { $selected: 'BROADCAST_DRIVER' } });
    expect(legacy.notes).toEqual([expect.stringMatching(/^BROADCAST_DRIVER=reverb chose the connection \(Laravel 10 and earlier\); Laravel 11 names it BROADCAST_CONNECTION/)]);
    const modern = resolveConnection({}, { ...both, BROADCAST_DRIVER: 'reverb', BROADCAST_CONNECTION: 'pusher' });
    expect(modern).toMatchObject({ name: 'pusher', notes: [] });
    expect(refusal(() => resolveConnection({}, { ...both, BROADCAST_DRIVER: 'redis' })).message).toBe('Unknown connection "redis" (from BROADCAST_DRIVER)');
  });

  it('names the REVERB_* variables when something is missing', () => {
    const error = refusal(() => resolveConnection({}, { REVERB_APP_KEY: 'k', REVERB_HOST: 'localhost' }));
    expect(error.message).toBe('Connection "reverb" is missing appId, secret');
    expect(error.hint).toMatch(/^Set REVERB_APP_ID, REVERB_APP_SECRET/);
    const noHost = refusal(() => resolveConnection({}, { REVERB_APP_ID: '1', REVERB_APP_KEY: 'k', REVERB_APP_SECRET: 'secret' }));
    expect(noHost.message).toBe('Connection "reverb" talks to Reverb but has no host');
    expect(noHost.hint).toMatch(/^Set REVERB_HOST/);
  });
});

describe('server profiles', () => {
  const soketiHost = { ...creds, PUSHER_HOST: '127.0.0.1', PUSHER_PORT: '6001', PUSHER_SCHEME: 'http' };

  it('the default: pusher for Pusher Channels and for any host not known as another server', () => {
    expect(resolveConnection({}, creds).server).toBe('pusher');
    expect(resolveConnection({}, { ...creds, PUSHER_HOST: 'api-eu.pusher.com' }).server).toBe('pusher');
    const other = resolveConnection({}, soketiHost);
    expect(other.server).toBe('pusher');
    expect(defaultServer(other.name, other.connection).reason).toMatch(/127\.0\.0\.1 is not a Pusher Channels host: set server to "soketi" or "reverb"/);
    expect(resolveConnection({}, {}).limits).toEqual(SERVER_LIMITS.pusher);
  });

  it('BROADCAST_SERVER or `server` picks the profile, and the payload limit (Broadcast.maxPayloadKb) follows it', () => {
    const soketi = resolveConnection({}, { ...soketiHost, BROADCAST_SERVER: 'soketi' });
    expect(soketi).toMatchObject({ server: 'soketi', sources: { server: 'env' }, origins: { server: 'BROADCAST_SERVER' } });
    expect(soketi.limits).toMatchObject({ maxPayloadKb: 100, channelNameLength: 200 });
    expect(new Broadcast({}, { env: { ...soketiHost, BROADCAST_SERVER: 'soketi' } }).maxPayloadKb).toBe(100);
    expect(new Broadcast({}, { env: soketiHost }).maxPayloadKb).toBe(10);
    const config: BroadcastConfig = { default: 'r', connections: { r: { driver: 'pusher', appId: '1', key: 'k', secret: 's3cret', host: 'reverb.test', server: 'reverb' } } };
    expect(new Broadcast(config, { env: {} }).maxPayloadKb).toBe(9);
    expect(new Broadcast(config, { env: {} }).resolved.limits.requestBytes).toBe(10_000);
  });

  it("the connection's own maxPayloadKb and limits override the profile's", () => {
    const config: BroadcastConfig = {
      default: 's',
      connections: {
        s: { driver: 'pusher', appId: '1', key: 'k', secret: 's3cret', host: '127.0.0.1', server: 'soketi', maxPayloadKb: 500, limits: { channelNameLength: 250, requestBytes: null } },
      },
    };
    const r = resolveConnection(config, {});
    expect(r.limits).toEqual({ ...SERVER_LIMITS.soketi, maxPayloadKb: 500, channelNameLength: 250, requestBytes: null });
    expect(new Broadcast(config, { env: {} }).maxPayloadKb).toBe(500);
  });

  it('refuses an unknown server, a self-hosted server without a host, and bad limits', () => {
    expect(refusal(() => resolveConnection({}, { ...soketiHost, BROADCAST_SERVER: 'soketti' })).message).toBe('BROADCAST_SERVER must be "pusher", "soketi" or "reverb", not "soketti"');
    expect(refusal(() => resolveConnection({}, { ...creds, BROADCAST_SERVER: 'soketi' })).message).toBe('Connection "pusher" talks to soketi but has no host');
    const limits = (value: unknown) => ({ default: 'l', connections: { l: { driver: 'log', limits: value } } }) as unknown as BroadcastConfig;
    expect(refusal(() => resolveConnection(limits({ channelNameLength: 0 }), {})).message).toBe('connections.l.limits in the config: channelNameLength must be a positive whole number, not 0');
    expect(refusal(() => resolveConnection(limits({ maxPayloadKb: 5 }), {})).hint).toMatch(/the payload limit is the connection's own maxPayloadKb/);
  });
});

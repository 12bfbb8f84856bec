import { describe, expect, it } from 'vitest';
import { listConnections, resolveConnection, type BroadcastConfig } from '../../src/config/schema.js';
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
    expect(() => listConnections({}, { ...creds, PUSHER_PORT: 'eighty' })).toThrow(/PUSHER_PORT must be a port number/);
    expect(() => listConnections({}, { ...creds, PUSHER_SCHEME: 'ftp' })).toThrow(/PUSHER_SCHEME must be "http" or "https"/);
    const key = Buffer.from('short-key').toString('base64');
    try {
      resolveConnection({}, { ...creds, PUSHER_ENCRYPTION_MASTER_KEY_BASE64: key });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toContain('must decode to 32 bytes');
      expect((error as Error).message).not.toContain(key);
    }
  });
});

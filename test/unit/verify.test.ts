import { describe, expect, it } from 'vitest';
import { channelAuthBody, verifyChannelAuth } from '../../src/auth/sign.js';
import { ConfigError, ValidationError } from '../../src/core/errors.js';

// Pusher's published example credentials (channels docs, "Authorizing users").
const docs = { key: '278d425bdf160c739803', secret: '7ad3773142a6692b25b8' };
const PRIVATE = '278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4';
const PRESENCE = '278d425bdf160c739803:31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80';
const CHANNEL_DATA = '{"user_id":10,"user_info":{"name":"Mr. Channels"}}';

describe('channelAuthBody', () => {
  it('returns the published bodies', () => {
    expect(channelAuthBody(docs, '1234.1234', 'private-foobar')).toEqual({ auth: PRIVATE });
    expect(channelAuthBody(docs, '1234.1234', 'presence-foobar', CHANNEL_DATA)).toEqual({ auth: PRESENCE, channel_data: CHANNEL_DATA });
  });

  it('refuses what the route refuses', () => {
    expect(() => channelAuthBody(docs, '1234', 'private-foobar')).toThrow(ValidationError);
    expect(() => channelAuthBody(docs, '1.2', 'foobar')).toThrow(/public channel: it needs no authorization/);
    expect(() => channelAuthBody(docs, '1.2', 'presence-foobar')).toThrow(/needs channel_data/);
    expect(() => channelAuthBody({ ...docs, connectionName: 'prod' }, '1.2', 'private-encrypted-x')).toThrow(ConfigError);
    expect(() => channelAuthBody({ ...docs, connectionName: 'prod' }, '1.2', 'private-encrypted-x')).toThrow(/connection "prod" has no encryptionMasterKeyBase64/);
  });
});

describe('verifyChannelAuth', () => {
  it('accepts the published signatures (hex in either case)', () => {
    expect(verifyChannelAuth(docs, { socketId: '1234.1234', channel: 'private-foobar', auth: PRIVATE })).toEqual({ valid: true });
    expect(verifyChannelAuth(docs, { socketId: '1234.1234', channel: 'private-foobar', auth: PRIVATE.toUpperCase().replace(docs.key.toUpperCase(), docs.key) })).toEqual({ valid: true });
    expect(verifyChannelAuth(docs, { socketId: '1234.1234', channel: 'presence-foobar', channelData: CHANNEL_DATA, auth: PRESENCE })).toEqual({ valid: true });
  });

  it('names what differs: format, key, or the signed inputs', () => {
    expect(verifyChannelAuth(docs, { socketId: '1234.1234', channel: 'private-foobar', auth: 'nonsense' })).toMatchObject({ valid: false, differs: 'format' });
    expect(verifyChannelAuth(docs, { socketId: '1234.1234', channel: 'private-foobar', auth: PRIVATE.replace(docs.key, 'other') })).toMatchObject({
      valid: false,
      differs: 'key',
      message: expect.stringContaining('the key differs'),
    });
    for (const input of [
      { socketId: '1234.1235', channel: 'private-foobar' },
      { socketId: '1234.1234', channel: 'private-foobaz' },
      { socketId: '1234.1234', channel: 'private-foobar', channelData: '{}' },
    ]) {
      expect(verifyChannelAuth(docs, { ...input, auth: PRIVATE })).toEqual({
        valid: false,
        differs: 'signature',
        message: 'signature does not match: the socket id, channel name, channel_data or secret differ',
      });
    }
    expect(verifyChannelAuth({ ...docs, secret: 'x' }, { socketId: '1234.1234', channel: 'private-foobar', auth: PRIVATE })).toMatchObject({ differs: 'signature' });
  });

  it('checks shared_secret for encrypted channels', () => {
    const creds = { key: 'f00d', secret: 'tofu', encryptionMasterKeyBase64: 'zyrm8pvV2C9fJcBfhyXzvxbJVN/H7QLmbe0xJi1GhPU=' };
    const body = channelAuthBody(creds, '123.456', 'private-encrypted-bla');
    expect(body.shared_secret).toBe('nlr49ISQHz91yS3cy/yWmW8wFMNeTnNL5tNHnbPJcLQ=');
    const input = { socketId: '123.456', channel: 'private-encrypted-bla', auth: body.auth };
    expect(verifyChannelAuth(creds, { ...input, sharedSecret: body.shared_secret })).toEqual({ valid: true });
    expect(verifyChannelAuth(creds, { ...input, sharedSecret: 'AAAA' })).toMatchObject({ valid: false, differs: 'shared_secret' });
  });
});

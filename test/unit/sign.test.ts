import { createRequire } from 'node:module';
import type PusherClient from 'pusher';
import { describe, expect, it, vi } from 'vitest';
import { presenceChannelData, safeEqual, sharedSecret, signApiRequest, signChannel } from '../../src/auth/sign.js';

// Pusher's published example credentials (channels docs, "Authorizing users").
const docs = { key: '278d425bdf160c739803', secret: '7ad3773142a6692b25b8' };

describe('channel signatures', () => {
  it('match the published private-channel example', () => {
    expect(signChannel(docs, '1234.1234', 'private-foobar')).toBe(
      '278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4',
    );
  });

  it('match the published presence-channel example, signing channel_data byte for byte', () => {
    const channelData = presenceChannelData(10, { name: 'Mr. Channels' });
    expect(channelData).toBe('{"user_id":10,"user_info":{"name":"Mr. Channels"}}');
    expect(signChannel(docs, '1234.1234', 'presence-foobar', channelData)).toBe(
      '278d425bdf160c739803:31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80',
    );
    // One byte of difference (a space) changes the signature.
    expect(signChannel(docs, '1234.1234', 'presence-foobar', '{"user_id": 10,"user_info":{"name":"Mr. Channels"}}')).not.toBe(
      signChannel(docs, '1234.1234', 'presence-foobar', channelData),
    );
  });

  it('match the pusher library vectors for encrypted channels (auth and shared_secret)', () => {
    const creds = { key: 'f00d', secret: 'tofu' };
    const master = 'zyrm8pvV2C9fJcBfhyXzvxbJVN/H7QLmbe0xJi1GhPU=';
    expect(signChannel(creds, '123.456', 'private-encrypted-bla', '"foo"')).toBe(
      'f00d:962c48b78bf93d98ff4c92ee7dff04865821455b7b401e9d60a9e0a90af2c105',
    );
    expect(sharedSecret('private-encrypted-bla', master)).toBe('nlr49ISQHz91yS3cy/yWmW8wFMNeTnNL5tNHnbPJcLQ=');
  });

  it('sign names using every allowed character', () => {
    const name = 'private-Az09_-=@,.;';
    const expected = signChannel(docs, '1.2', name);
    expect(expected).toMatch(/^278d425bdf160c739803:[0-9a-f]{64}$/);
    expect(signChannel(docs, '1.2', name)).toBe(expected);
    expect(signChannel(docs, '1.2', 'private-Az09_-=@,.')).not.toBe(expected);
  });

  it('compare signatures exactly', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
  });
});

describe('HTTP API request signatures', () => {
  it('match the worked example of Pusher\'s HTTP API reference', () => {
    const body = '{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}';
    expect(signApiRequest(docs, { method: 'POST', path: '/apps/3/events', body }, 1353088179_000)).toBe(
      'auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f' +
        '&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c',
    );
  });

  it('match the official client for bodies, query parameters and GET requests', () => {
    const Pusher = createRequire(import.meta.url)('pusher') as typeof PusherClient;
    const official = new Pusher({ appId: '3', key: docs.key, secret: docs.secret, host: 'api.example.com' });
    const now = 1_700_000_123_456;
    vi.useFakeTimers({ now, toFake: ['Date'] });
    try {
      const requests = [
        { method: 'POST', path: '/apps/3/batch_events', body: JSON.stringify({ batch: [{ channel: 'a', name: 'e', data: '{"é":"ü ✓"}' }] }) },
        { method: 'GET', path: '/apps/3/channels', params: { info: 'user_count,subscription_count', filter_by_prefix: 'presence-' } },
        { method: 'GET', path: '/apps/3/channels/presence-room/users' },
      ];
      for (const request of requests) {
        expect(signApiRequest(docs, request, now)).toBe(official.createSignedQueryString(request));
      }
    } finally {
      vi.useRealTimers();
    }
  });

  it('refuse a parameter that would replace part of the signature', () => {
    expect(() => signApiRequest(docs, { method: 'GET', path: '/apps/3/channels', params: { auth_timestamp: '1' } })).toThrow(/auth_timestamp/);
  });
});

/**
 * Reading a server's refusal: Pusher's timestamp and signature explanations (in its exact words), soketi's and
 * Reverb's bare 401s, and Reverb's 422 validation answers, each turned into the cause and the fix.
 */
import { describe, expect, it } from 'vitest';
import { statusError } from '../../src/transport/pusher.js';
import {
  compareStringsToSign,
  describeSkew,
  parseExpectedStringToSign,
  parseTimestampExpired,
  validationMessages,
} from '../../src/transport/rejection.js';

// Pusher's own answers, as its clients report them.
const EXPIRED = 'Timestamp expired: Given timestamp (2013-09-29T08:46:33Z) not within 600s of server time (2013-09-29T08:36:32Z)';
const SIGNED = 'POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f';
const INVALID =
  'Invalid signature: you should have sent HmacSHA256Hex("POST\\n/apps/3/events\\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179' +
  '&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f", your_secret_key), but you sent "e2abd797832ba0fe963c77dd2656aae135a2bd2e45afc9d419ac3a7e2ae59765"';

describe('Pusher\'s timestamp error', () => {
  it('gives this machine\'s clock against the server\'s, from ISO dates or seconds', () => {
    expect(parseTimestampExpired(EXPIRED)).toEqual({ skewSeconds: 601, windowSeconds: 600 });
    expect(parseTimestampExpired('Timestamp expired: Given timestamp (1000) not within 600s of server time (2000)')).toEqual({ skewSeconds: -1000, windowSeconds: 600 });
    expect(parseTimestampExpired('401 UNAUTHORIZED: Timestamp expired: Given timestamp (2010-05-05T11:24:42Z) not within 600s of server time (2010-05-05T11:51:42Z)')).toEqual({
      skewSeconds: -1620,
      windowSeconds: 600,
    });
    expect(parseTimestampExpired('Timestamp expired')).toBeUndefined();
  });

  it('becomes a message with the skew in seconds and the fix', () => {
    const error = statusError(401, `${EXPIRED}\n`, 'pusher', { stringToSign: SIGNED });
    expect(error.message).toBe(
      "The server rejected the request's timestamp (HTTP 401): this machine's clock is 601 s (10 min 1 s) ahead of the server's, and requests must be signed within 600 s of the server's time",
    );
    expect(error.hint).toContain('sudo chronyc makestep');
    expect(error.details).toEqual({ clockSkewSeconds: 601 });
    expect(error.code).toBe('delivery');
  });

  it('describes a skew for people', () => {
    expect(describeSkew(-5)).toBe('5 s behind');
    expect(describeSkew(75)).toBe('75 s (1 min 15 s) ahead of');
    expect(describeSkew(-7322)).toBe('7322 s (2 h 2 min) behind');
  });
});

describe('Pusher\'s signature error', () => {
  it('gives the string the server signed (Ruby-quoted, or with real line breaks)', () => {
    expect(parseExpectedStringToSign(INVALID)).toBe(SIGNED);
    expect(parseExpectedStringToSign(`Invalid signature: you should have sent HmacSHA256Hex("${SIGNED}", your_secret_key), but you sent "x"`)).toBe(SIGNED);
    expect(parseExpectedStringToSign('Invalid signature: you should have sent HmacSHA256Hex("a\\"b\\\\c\\#d", your_secret_key)')).toBe('a"b\\c#d');
    expect(parseExpectedStringToSign('The secret authentication failed')).toBeUndefined();
  });

  it('the same string as ours: the secret is wrong', () => {
    const error = statusError(401, INVALID, 'pusher', { stringToSign: SIGNED });
    expect(error.message).toMatch(/^The server rejected the signature \(HTTP 401\): it expected the same request this client signed .*so the secret differs$/);
    expect(error.hint).toContain('PUSHER_APP_SECRET');
    expect(error.details).toEqual({ diagnosis: 'wrong-secret' });
  });

  it('another string: the request was changed on the way, and the message shows where', () => {
    const ours = SIGNED.replace('/apps/3/events', '/apps/3/events').replace('body_md5=ec36', 'body_md5=0000');
    const prefixed = SIGNED.replace('\n/apps/', '\n/pusher/apps/');
    const error = statusError(401, `Invalid signature: you should have sent HmacSHA256Hex(${JSON.stringify(prefixed)}, your_secret_key), but you sent "x"`, 'pusher', {
      stringToSign: ours,
    });
    expect(error.message).toMatch(/^The server rejected the signature \(HTTP 401\): the request was changed on the way \(proxy, path prefix\)/);
    expect(error.message).toContain('path: sent "/apps/3/events", the server signed "/pusher/apps/3/events"');
    expect(error.message).toContain('parameter body_md5: sent "0000');
    expect(error.message).toContain('(the body was changed)');
    expect(error.hint).toMatch(/reverse proxy.*PUSHER_HOST/);
    expect(error.details).toMatchObject({ diagnosis: 'request-changed', differences: [{ part: 'path' }, { part: 'parameter body_md5' }] });
  });

  it('compares method, path and each parameter; strings it cannot split are compared whole', () => {
    expect(compareStringsToSign(SIGNED, SIGNED)).toEqual([]);
    expect(compareStringsToSign('GET\n/a\nx=1&y=2', 'POST\n/a\nx=1&z=3')).toEqual([
      { part: 'method', sent: 'GET', server: 'POST' },
      { part: 'parameter y', sent: '2', server: '(absent)' },
      { part: 'parameter z', sent: '(absent)', server: '3' },
    ]);
    expect(compareStringsToSign('GET\n/a\nx=1', 'GET/a\nx=1')).toEqual([{ part: 'request', sent: 'GET\n/a\nx=1', server: 'GET/a\nx=1' }]);
  });

  it('without what this client signed, the general message stays', () => {
    expect(statusError(401, INVALID, 'pusher').message).toMatch(/^The server rejected the credentials \(HTTP 401\): Invalid signature/);
  });
});

describe('other refusals', () => {
  it('soketi\'s and Reverb\'s bare 401s keep the credentials message, with what to check', () => {
    const soketi = statusError(401, '{"error":"The secret authentication failed","code":401}', 'local', { stringToSign: SIGNED });
    expect(soketi.message).toBe('The server rejected the credentials (HTTP 401): The secret authentication failed');
    // The hint says where the credentials are set: the config for a connection of its own, the variables for
    // the connections they make (pusher: PUSHER_*, reverb: REVERB_*).
    expect(soketi.hint).toMatch(/\(appId, key, secret of connections\.local in the config\)\. soketi and Reverb answer a wrong secret this way.*proxy/);
    expect(statusError(401, '{"error":"The secret authentication failed","code":401}', 'reverb').hint).toContain('(REVERB_APP_ID, REVERB_APP_KEY, REVERB_APP_SECRET)');
    expect(statusError(401, '{"error":"The secret authentication failed","code":401}', 'pusher').hint).toContain('(PUSHER_APP_ID, PUSHER_APP_KEY, PUSHER_APP_SECRET)');
    expect(statusError(401, 'Authentication signature invalid.', 'local').message).toBe('The server rejected the credentials (HTTP 401): Authentication signature invalid.');
  });

  it('an unknown key, and Pusher\'s 403 for a disabled app or one over quota', () => {
    expect(statusError(401, 'Unknown auth_key', 'p')).toMatchObject({ message: 'The server does not know the app key (HTTP 401): Unknown auth_key', hint: expect.stringContaining('PUSHER_APP_KEY') });
    expect(statusError(403, 'Over quota', 'p')).toMatchObject({ message: 'The server refused the request (HTTP 403): Over quota', hint: expect.stringContaining('quota') });
  });

  it('a long answer is cut in the message', () => {
    expect(statusError(401, 'x'.repeat(5000), 'p').message.length).toBeLessThan(300);
  });

  it('Reverb\'s 422 names the fields, code invalid (exit 2)', () => {
    const error = statusError(422, '{"data":["The data field must be a string."],"channels":["The channels field is required when channel is not present."]}', 'reverb');
    expect(error.message).toBe(
      'The server refused the request as invalid (HTTP 422): data: The data field must be a string.; channels: The channels field is required when channel is not present.',
    );
    expect(error).toMatchObject({ code: 'invalid', exitCode: 2, status: 422, retryable: false });
    expect(error.hint).toContain('Nothing was delivered');
    expect(validationMessages('{"message":"The given data was invalid.","errors":{"name":["The name field is required."]}}')).toBe('name: The name field is required.');
    expect(validationMessages('{"message":"Unprocessable"}')).toBe('Unprocessable');
    expect(statusError(422, 'Unprocessable Entity', 'p').message).toBe('The server refused the request as invalid (HTTP 422): Unprocessable Entity');
  });
});

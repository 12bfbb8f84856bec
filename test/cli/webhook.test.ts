/**
 * Webhook signatures: the library check (`verifyWebhook`) and `broadcast webhook:verify` as a user runs it.
 */
import { createHmac } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../../src/core/errors.js';
import { parseWebhook, verifyWebhook, webhookSignature } from '../../src/webhook/verify.js';
import { runCli } from '../helpers/cli.js';
import { describe, expect, test } from '../helpers/fixtures.js';
import { runMain } from '../helpers/main.js';
import { jsonOf } from '../helpers/schema.js';

const app = { key: 'app-key', secret: 'webhook-secret-1' };
const other = { key: 'other-key', secret: 'webhook-secret-2' };
const body = JSON.stringify({
  time_ms: 1_700_000_000_000,
  events: [
    { name: 'channel_occupied', channel: 'private-orders' },
    { name: 'member_added', channel: 'presence-room', user_id: '42' },
    { name: 'client_event', channel: 'private-chat', event: 'client-typing', data: '{"on":true}', socket_id: '1.2' },
  ],
});
// Independent of the code under test: what Pusher computes.
const sign = (text: string, secret: string) => createHmac('sha256', secret).update(text).digest('hex');

describe('verifyWebhook (library)', () => {
  test('accepts a correctly signed body and decodes its events', () => {
    const result = verifyWebhook({ body, signature: sign(body, app.secret), key: app.key }, app);
    expect(result.valid).toBe(true);
    if (!result.valid) return;
    expect(result.key).toBe('app-key');
    expect(result.webhook.time_ms).toBe(1_700_000_000_000);
    expect(result.webhook.events.map((e) => e.name)).toEqual(['channel_occupied', 'member_added', 'client_event']);
  });

  test('rejects a tampered body, a wrong secret and a missing signature', () => {
    const signature = sign(body, app.secret);
    expect(verifyWebhook({ body: body.replace('42', '43'), signature }, app)).toMatchObject({ valid: false, reason: 'signature-mismatch' });
    expect(verifyWebhook({ body, signature: sign(body, 'another-secret') }, app)).toMatchObject({ valid: false, reason: 'signature-mismatch' });
    expect(verifyWebhook({ body, signature: undefined }, app)).toMatchObject({ valid: false, reason: 'missing-signature' });
    expect(verifyWebhook({ body, signature: signature.slice(0, 10) }, app)).toMatchObject({ valid: false, reason: 'signature-mismatch' });
  });

  test('picks the app by X-Pusher-Key, tries each without one, and refuses an unknown key', () => {
    const signature = sign(body, other.secret);
    expect(verifyWebhook({ body, signature, key: 'other-key' }, [app, other])).toMatchObject({ valid: true, key: 'other-key' });
    expect(verifyWebhook({ body, signature }, [app, other])).toMatchObject({ valid: true, key: 'other-key' });
    expect(verifyWebhook({ body, signature, key: 'app-key' }, [app, other])).toMatchObject({ valid: false, reason: 'signature-mismatch' });
    expect(verifyWebhook({ body, signature, key: 'nobody' }, [app, other])).toMatchObject({ valid: false, reason: 'unknown-key' });
  });

  test('takes raw bytes, accepts upper-case hex, and refuses an authentic body that is not a webhook', () => {
    const bytes = new TextEncoder().encode(body);
    expect(webhookSignature(bytes, app.secret)).toBe(sign(body, app.secret));
    expect(verifyWebhook({ body: bytes, signature: sign(body, app.secret).toUpperCase() }, app).valid).toBe(true);
    const notWebhook = '{"hello":"world"}';
    expect(verifyWebhook({ body: notWebhook, signature: sign(notWebhook, app.secret) }, app)).toMatchObject({ valid: false, reason: 'malformed-body' });
    expect(parseWebhook('not json')).toBeUndefined();
  });

  test('a missing or empty secret is a configuration error, never a key anyone could sign with', () => {
    // `process.env.PUSHER_APP_SECRET!` while the variable is unset: undefined, which String() would turn into "undefined".
    const forged = sign(body, 'undefined');
    const unset = { key: 'app-key', secret: undefined as unknown as string };
    expect(() => verifyWebhook({ body, signature: forged }, unset)).toThrow(ConfigError);
    expect(() => verifyWebhook({ body, signature: forged }, unset)).toThrow('verifyWebhook: the app (key "app-key") has no secret');
    expect(() => verifyWebhook({ body, signature: sign(body, '') }, { key: 'app-key', secret: '' })).toThrow('has an empty secret');
    // One misconfigured app among several is refused too: without a key, every app is tried.
    expect(() => verifyWebhook({ body, signature: forged }, [app, unset])).toThrow('app 1 (key "app-key") has no secret');
    expect(() => verifyWebhook({ body, signature: forged }, [])).toThrow('no app to check the webhook against');
    expect(() => verifyWebhook({ body, signature: sign(body, app.secret) }, { key: undefined as unknown as string, secret: app.secret })).toThrow('the app has no key');
    expect(() => webhookSignature(body, undefined as unknown as string)).toThrow(ConfigError);
  });

  test('a body of any type gives a result, never a throw: only a string or bytes can be verified', () => {
    const signature = sign(body, app.secret);
    // express.raw() leaves {} when the Content-Type does not match; a JSON parser leaves an object.
    for (const [value, got] of [
      [{}, 'an object'],
      [null, 'null'],
      [undefined, 'nothing'],
      [42, 'a number'],
      [[1], 'an array'],
      [JSON.parse(body), 'an object'],
    ] as const) {
      const result = verifyWebhook({ body: value, signature }, app);
      expect(result).toMatchObject({ valid: false, reason: 'unsupported-body' });
      expect(!result.valid && result.message).toContain(`not ${got}: verify before any JSON body parser`);
      expect(parseWebhook(value)).toBeUndefined();
    }
    const bytes = Buffer.from(body);
    const arrayBuffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    expect(verifyWebhook({ body: arrayBuffer, signature }, app).valid).toBe(true);
    expect(verifyWebhook({ body: new DataView(arrayBuffer), signature }, app).valid).toBe(true);
    expect(verifyWebhook(null as never, app)).toMatchObject({ valid: false, reason: 'unsupported-body' });
  });
});

describe('broadcast webhook:verify', () => {
  const env = { PUSHER_APP_ID: '1', PUSHER_APP_KEY: app.key, PUSHER_APP_SECRET: app.secret };

  test('a signed body on stdin is valid (exit 0) and its events are listed (built binary)', async ({ project }) => {
    const r = await runCli(['webhook:verify', '--signature', sign(body, app.secret)], { cwd: project.dir, env, input: body });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('✓ valid signature (connection "pusher", key app-key), sent 2023-11-14T22:13:20.000Z');
    expect(r.stdout).toContain('member_added  presence-room  user 42');
    expect(r.stdout + r.stderr).not.toContain(app.secret);
  });

  test('--json prints the connection and the decoded webhook, as Pusher sent it', async ({ project }) => {
    await writeFile(path.join(project.dir, 'webhook.json'), body);
    const r = await runMain(['webhook:verify', '--signature', sign(body, app.secret), '--body', '@webhook.json', '--json'], { cwd: project.dir, env });
    expect(r.code).toBe(0);
    expect(jsonOf('webhook:verify', r.stdout)).toEqual({ ok: true, connection: 'pusher', key: 'app-key', webhook: JSON.parse(body) });
  });

  test('a tampered body does not match: exit 1, code "mismatch" (built binary)', async ({ project }) => {
    const tampered = body.replace('private-orders', 'private-orderz');
    const r = await runCli(['webhook:verify', '--signature', sign(body, app.secret), '--json'], { cwd: project.dir, env, input: tampered });
    expect(r.code).toBe(1);
    expect(jsonOf('webhook:verify', r.stdout)).toEqual({
      ok: false,
      error: {
        code: 'mismatch',
        message: 'The signature does not match the body (wrong secret, or the body was changed)',
        hint: 'The body must be byte for byte what was received; checked against the secret of connection "pusher"',
        details: { reason: 'signature-mismatch', connections: ['pusher'] },
        exitCode: 1,
      },
    });
    expect(r.stderr).toContain('error: The signature does not match the body');
    expect(r.stdout + r.stderr).not.toContain(app.secret);
  });

  test('an authentic body that is not a webhook is refused: exit 2, code "invalid"', async ({ project }) => {
    const notWebhook = '{"hello":"world"}';
    const r = await runMain(['webhook:verify', '--signature', sign(notWebhook, app.secret), '--json'], { cwd: project.dir, env, input: notWebhook });
    expect(r.code).toBe(2);
    expect(jsonOf('webhook:verify', r.stdout)).toMatchObject({ ok: false, error: { code: 'invalid', details: { reason: 'malformed-body' }, exitCode: 2 } });
    expect(r.stderr).toContain('The signature matches, but the body is not a webhook');
  });

  test('--key picks among the configured connections', async ({ project }) => {
    const connections = {
      main: { driver: 'pusher', appId: '1', ...app },
      partner: { driver: 'pusher', appId: '2', ...other },
    };
    await writeFile(path.join(project.dir, '.broadcastrc.json'), JSON.stringify({ default: 'main', connections }));
    const signature = sign(body, other.secret);
    const withKey = await runMain(['webhook:verify', '--signature', signature, '--key', 'other-key'], { cwd: project.dir, input: body });
    expect(withKey.code).toBe(0);
    expect(withKey.stdout).toContain('connection "partner", key other-key');
    // Without --key the default connection's secret is used, which did not sign it.
    const withoutKey = await runMain(['webhook:verify', '--signature', signature, '--json'], { cwd: project.dir, input: body });
    expect(withoutKey.code).toBe(1);
    expect(jsonOf('webhook:verify', withoutKey.stdout).error).toMatchObject({ code: 'mismatch', details: { connections: ['main'] } });
    const unknown = await runMain(['webhook:verify', '--signature', signature, '--key', 'nobody', '--json'], { cwd: project.dir, input: body });
    expect(unknown.code).toBe(2);
    expect(jsonOf('webhook:verify', unknown.stdout).error).toMatchObject({ code: 'config', exitCode: 2 });
    expect(unknown.stderr).toContain('No configured pusher connection has key "nobody"');
    expect(unknown.stderr).toContain('partner (other-key)');
    expect(unknown.stdout + unknown.stderr).not.toContain(other.secret);
  });

  test('--key with --connection: the message is about the connection --connection chose', async ({ project }) => {
    const connections = {
      main: { driver: 'pusher', appId: '1', ...app },
      partner: { driver: 'pusher', appId: '2', ...other },
      nosecret: { driver: 'pusher', appId: '3', key: 'third-key', secret: '' },
    };
    await writeFile(path.join(project.dir, '.broadcastrc.json'), JSON.stringify({ default: 'main', connections }));
    const signature = sign(body, app.secret);
    const run = (...args: string[]) => runMain(['webhook:verify', '--signature', signature, ...args, '--json'], { cwd: project.dir, input: body });

    const log = await run('--key', 'app-key', '--connection', 'log');
    expect(log.code).toBe(2);
    expect(jsonOf('webhook:verify', log.stdout).error).toMatchObject({ code: 'config', exitCode: 2 });
    expect(log.stderr).toContain('--connection "log" uses the log driver: it has no app key and secret to check a webhook against');
    expect(log.stderr).not.toContain('No configured pusher connection has key');

    const narrowed = await run('--key', 'app-key', '--connection', 'partner');
    expect(narrowed.code).toBe(2);
    expect(narrowed.stderr).toContain('Connection "partner", chosen with --connection, has key "other-key", not "app-key"');

    const noSecret = await run('--key', 'third-key');
    expect(noSecret.code).toBe(2);
    expect(noSecret.stderr).toContain('Connection "nosecret" has key "third-key" but no secret to check the webhook against');

    const unknown = await run('--key', 'app-key', '--connection', 'nope');
    expect(unknown.stderr).toContain('Unknown connection "nope" (from --connection)');

    const both = await run('--key', 'app-key', '--connection', 'main');
    expect(both.code).toBe(0);
    expect(jsonOf('webhook:verify', both.stdout)).toMatchObject({ ok: true, connection: 'main', key: 'app-key' });
  });

  test.for([
    [['--signature', 'abc'], /--signature must be the X-Pusher-Signature header: 64 hexadecimal characters/],
    [['--signature', 'a'.repeat(64), '--body', 'inline'], /--body takes @file/],
    [['--signature', 'a'.repeat(64), '--body', '@missing.json'], /Cannot read --body file missing.json: no such file/],
    [[], /required option '--signature <hex>' not specified/],
  ] as const)('bad usage %j exits 2', async ([args, message], { project }) => {
    const r = await runMain(['webhook:verify', ...args, '--json'], { cwd: project.dir, env, input: body });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(jsonOf('webhook:verify', r.stdout)).toMatchObject({ ok: false, error: { code: 'usage', exitCode: 2 } });
  });

  test('without a pusher connection there is no secret to check against (exit 2)', async ({ project }) => {
    const r = await runMain(['webhook:verify', '--signature', sign(body, app.secret)], { cwd: project.dir, input: body });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('has no app secret to check against');
  });
});

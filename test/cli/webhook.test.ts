/**
 * Webhook signatures: the library check (`verifyWebhook`) and `broadcast webhook:verify` as a user runs it.
 */
import { createHmac } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWebhook, verifyWebhook, webhookSignature } from '../../src/webhook.js';
import { runCli, tempProject } from '../helpers/cli.js';

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
  it('accepts a correctly signed body and decodes its events', () => {
    const result = verifyWebhook({ body, signature: sign(body, app.secret), key: app.key }, app);
    expect(result.valid).toBe(true);
    if (!result.valid) return;
    expect(result.key).toBe('app-key');
    expect(result.webhook.time_ms).toBe(1_700_000_000_000);
    expect(result.webhook.events.map((e) => e.name)).toEqual(['channel_occupied', 'member_added', 'client_event']);
  });

  it('rejects a tampered body, a wrong secret and a missing signature', () => {
    const signature = sign(body, app.secret);
    expect(verifyWebhook({ body: body.replace('42', '43'), signature }, app)).toMatchObject({ valid: false, reason: 'signature-mismatch' });
    expect(verifyWebhook({ body, signature: sign(body, 'another-secret') }, app)).toMatchObject({ valid: false, reason: 'signature-mismatch' });
    expect(verifyWebhook({ body, signature: undefined }, app)).toMatchObject({ valid: false, reason: 'missing-signature' });
    expect(verifyWebhook({ body, signature: signature.slice(0, 10) }, app)).toMatchObject({ valid: false, reason: 'signature-mismatch' });
  });

  it('picks the app by X-Pusher-Key, tries each without one, and refuses an unknown key', () => {
    const signature = sign(body, other.secret);
    expect(verifyWebhook({ body, signature, key: 'other-key' }, [app, other])).toMatchObject({ valid: true, key: 'other-key' });
    expect(verifyWebhook({ body, signature }, [app, other])).toMatchObject({ valid: true, key: 'other-key' });
    expect(verifyWebhook({ body, signature, key: 'app-key' }, [app, other])).toMatchObject({ valid: false, reason: 'signature-mismatch' });
    expect(verifyWebhook({ body, signature, key: 'nobody' }, [app, other])).toMatchObject({ valid: false, reason: 'unknown-key' });
  });

  it('takes raw bytes, accepts upper-case hex, and refuses an authentic body that is not a webhook', () => {
    const bytes = new TextEncoder().encode(body);
    expect(webhookSignature(bytes, app.secret)).toBe(sign(body, app.secret));
    expect(verifyWebhook({ body: bytes, signature: sign(body, app.secret).toUpperCase() }, app).valid).toBe(true);
    const notWebhook = '{"hello":"world"}';
    expect(verifyWebhook({ body: notWebhook, signature: sign(notWebhook, app.secret) }, app)).toMatchObject({ valid: false, reason: 'malformed-body' });
    expect(parseWebhook('not json')).toBeUndefined();
  });
});

describe('broadcast webhook:verify', () => {
  let project: Awaited<ReturnType<typeof tempProject>>;
  const env = { PUSHER_APP_ID: '1', PUSHER_APP_KEY: app.key, PUSHER_APP_SECRET: app.secret };
  beforeAll(async () => {
    project = await tempProject();
    await writeFile(path.join(project.dir, 'webhook.json'), body);
  });
  afterAll(() => project.cleanup());

  it('a signed body on stdin is valid (exit 0) and its events are listed', async () => {
    const r = await runCli(['webhook:verify', '--signature', sign(body, app.secret)], { cwd: project.dir, env, input: body });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('✓ valid signature (connection "pusher", key app-key)');
    expect(r.stdout).toContain('member_added  presence-room  user 42');
    expect(r.stdout + r.stderr).not.toContain(app.secret);
  });

  it('--json prints the decoded events', async () => {
    const r = await runCli(['webhook:verify', '--signature', sign(body, app.secret), '--body', '@webhook.json', '--json'], { cwd: project.dir, env });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ valid: true, connection: 'pusher', key: 'app-key', ...JSON.parse(body) });
  });

  it('a tampered body is invalid (exit 1)', async () => {
    const tampered = body.replace('private-orders', 'private-orderz');
    const r = await runCli(['webhook:verify', '--signature', sign(body, app.secret), '--json'], { cwd: project.dir, env, input: tampered });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ valid: false, reason: 'signature-mismatch' });
    expect(r.stderr).toContain('✗ invalid: The signature does not match the body');
    expect(r.stdout + r.stderr).not.toContain(app.secret);
  });

  it('--key picks among the configured connections', async () => {
    const keyed = await tempProject();
    try {
      const connections = {
        main: { driver: 'pusher', appId: '1', ...app },
        partner: { driver: 'pusher', appId: '2', ...other },
      };
      await writeFile(path.join(keyed.dir, '.broadcastrc.json'), JSON.stringify({ default: 'main', connections }));
      const signature = sign(body, other.secret);
      const withKey = await runCli(['webhook:verify', '--signature', signature, '--key', 'other-key'], { cwd: keyed.dir, input: body });
      expect(withKey.code).toBe(0);
      expect(withKey.stdout).toContain('connection "partner", key other-key');
      // Without --key the default connection's secret is used, which did not sign it.
      const withoutKey = await runCli(['webhook:verify', '--signature', signature], { cwd: keyed.dir, input: body });
      expect(withoutKey.code).toBe(1);
      const unknown = await runCli(['webhook:verify', '--signature', signature, '--key', 'nobody'], { cwd: keyed.dir, input: body });
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('No configured pusher connection has key "nobody"');
      expect(unknown.stderr).toContain('partner (other-key)');
      expect(unknown.stderr).not.toContain(other.secret);
    } finally {
      await keyed.cleanup();
    }
  });

  it.each([
    [['--signature', 'abc'], /--signature must be the X-Pusher-Signature header: 64 hexadecimal characters/],
    [['--signature', 'a'.repeat(64), '--body', 'inline'], /--body takes @file/],
    [['--signature', 'a'.repeat(64), '--body', '@missing.json'], /Cannot read --body file missing.json: no such file/],
    [[], /required option '--signature <hex>' not specified/],
  ])('bad usage %j exits 2', async (args, message) => {
    const r = await runCli(['webhook:verify', ...args], { cwd: project.dir, env, input: body });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('without a pusher connection there is no secret to check against (exit 2)', async () => {
    const r = await runCli(['webhook:verify', '--signature', sign(body, app.secret)], { cwd: project.dir, input: body });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('has no app secret to check against');
  });
});

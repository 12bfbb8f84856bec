/** The server profile's limits are what `emit` checks before sending: soketi's longer names, Reverb's request size. */
import { describe, expect, it } from 'vitest';
import { runMain } from '../helpers/main.js';
import { jsonOf } from '../helpers/schema.js';

const pusherEnv = { PUSHER_APP_ID: '1', PUSHER_APP_KEY: 'key', PUSHER_APP_SECRET: 'limits-secret', PUSHER_HOST: '127.0.0.1', PUSHER_PORT: '9', PUSHER_SCHEME: 'http' };
const reverbEnv = { REVERB_APP_ID: '1', REVERB_APP_KEY: 'key', REVERB_APP_SECRET: 'limits-secret', REVERB_HOST: '127.0.0.1', REVERB_PORT: '9', REVERB_SCHEME: 'http' };

describe('server profiles set the limits emit checks', () => {
  const long = `orders-${'x'.repeat(173)}`; // 180 characters: over Pusher's 164, within soketi's 200

  it('a 180-character channel name: refused for Pusher Channels, accepted for soketi', async () => {
    const pusher = await runMain(['emit', long, 'e', '--dry-run', '--json'], { env: pusherEnv });
    expect(pusher.code).toBe(2);
    expect(jsonOf('emit', pusher.stdout).error.message).toContain('the limit is 164');

    const soketi = await runMain(['emit', long, 'e', '--dry-run', '--json'], { env: { ...pusherEnv, BROADCAST_SERVER: 'soketi' } });
    expect(soketi.stderr).toBe('');
    expect(soketi.code).toBe(0);
    expect(jsonOf('emit', soketi.stdout)).toMatchObject({ ok: true, dryRun: true, channels: [long] });
  });

  it('Reverb: data within its payload limit, but a request over 10,000 bytes with many channels, is refused before sending', async () => {
    const data = JSON.stringify({ text: 'y'.repeat(8000) });
    const channels = Array.from({ length: 60 }, (_, i) => `orders-${String(i).padStart(20, '0')}`).join(',');
    const many = await runMain(['emit', channels, 'e', '--data', data, '--dry-run', '--json'], { env: reverbEnv });
    expect(many.code).toBe(2);
    expect(jsonOf('emit', many.stdout).error).toMatchObject({ code: 'invalid', message: expect.stringMatching(/reverb accepts at most 10000 per request/) });

    const one = await runMain(['emit', 'orders', 'e', '--data', data, '--dry-run', '--json'], { env: reverbEnv });
    expect(one.stderr).toBe('');
    expect(one.code).toBe(0);
  });
});

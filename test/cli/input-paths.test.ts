/**
 * File arguments are paths, relative to the working folder: `#`, `%` and `?` in folder or file names are
 * characters of the name, never URL syntax (`--data @order.json` inside a folder named `C#` reads that folder's
 * file, not the one above).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createHmac } from 'node:crypto';
import { signChannel } from '../../src/auth/sign.js';
import { describe, expect, test } from '../helpers/fixtures.js';
import { runMain } from '../helpers/main.js';
import { jsonOf } from '../helpers/schema.js';

const env = { PUSHER_APP_ID: '1', PUSHER_APP_KEY: 'app-key', PUSHER_APP_SECRET: 'paths-secret' };

describe('@file arguments in folders and files whose names hold URL characters', () => {
  test.for(['C#', '%41', 'a?b', 'sp ace'])('emit --data @order.json inside %j reads that folder\'s file', async (folder, { project }) => {
    const dir = path.join(project.dir, folder);
    await mkdir(dir);
    await writeFile(path.join(dir, 'order.json'), '{"id":"inside"}');
    // What a URL-based lookup would read instead: the folder above (for C#), or nothing (for %41).
    await writeFile(path.join(project.dir, 'order.json'), '{"id":"above"}');
    const r = await runMain(['emit', 'orders', 'order.shipped', '--data', '@order.json', '--connection', 'log', '--json'], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, data: { id: 'inside' } });
  });

  test('auth:sign --user-info @a#b.json, relative and through a %41 folder', async ({ project }) => {
    const dir = path.join(project.dir, '%41');
    await mkdir(dir);
    await writeFile(path.join(dir, 'a#b.json'), '{"name":"Ada"}');
    const channelData = '{"user_id":7,"user_info":{"name":"Ada"}}';
    const expected = { auth: signChannel({ key: env.PUSHER_APP_KEY, secret: env.PUSHER_APP_SECRET }, '1.2', 'presence-room', channelData), channel_data: channelData };
    for (const [cwd, file] of [
      [dir, 'a#b.json'],
      [project.dir, '%41/a#b.json'],
      [project.dir, path.join(dir, 'a#b.json')],
    ]) {
      const r = await runMain(['auth:sign', 'presence-room', '--socket-id', '1.2', '--user', '7', '--user-info', `@${file}`, '--json'], { cwd, env });
      expect(r.stderr, file).toBe('');
      expect(jsonOf('auth:sign', r.stdout)).toMatchObject({ ok: true, body: expected });
    }
    const missing = await runMain(['auth:sign', 'presence-room', '--socket-id', '1.2', '--user', '7', '--user-info', '@a#c.json', '--json'], { cwd: dir, env });
    expect(missing.code).toBe(2);
    expect(jsonOf('auth:sign', missing.stdout)).toMatchObject({ ok: false, error: { code: 'usage', message: 'Cannot read --user-info file a#c.json: no such file' } });
  });

  test('webhook:verify --body @a#b.json inside C#', async ({ project }) => {
    const dir = path.join(project.dir, 'C#');
    await mkdir(dir);
    const body = '{"time_ms":1,"events":[{"name":"channel_occupied","channel":"x"}]}';
    await writeFile(path.join(dir, 'a#b.json'), body);
    const signature = createHmac('sha256', env.PUSHER_APP_SECRET).update(body).digest('hex');
    const r = await runMain(['webhook:verify', '--signature', signature, '--body', '@a#b.json', '--json'], { cwd: dir, env });
    expect(r.code).toBe(0);
    expect(jsonOf('webhook:verify', r.stdout)).toMatchObject({ ok: true, webhook: JSON.parse(body) });
  });
});

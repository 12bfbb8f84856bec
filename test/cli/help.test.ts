/**
 * Help tells the truth: the defaults `--help` shows are the ones the code uses (both come from
 * src/config/defaults.ts), checked against what the commands really do.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/defaults.js';
import { formatDuration } from '../../src/core/duration.js';
import { runMain } from '../helpers/main.js';
import { freePort } from '../helpers/soketi.js';

const help = async (command: string) => (await runMain([command, '--help'])).stdout.replace(/\s+/g, ' ');

describe('--help shows the defaults the code uses', () => {
  it.each(['emit', 'channels', 'channel', 'users', 'bench'])('%s: --timeout and --retries', async (command) => {
    const text = await help(command);
    expect(text).toContain(`default ${formatDuration(DEFAULTS.timeoutMs)})`);
    expect(text).toContain(`(default ${DEFAULTS.retries})`);
  });

  it('doctor: its own shorter time limit and no retries', async () => {
    const text = await help('doctor');
    expect(text).toContain(`default ${formatDuration(DEFAULTS.doctorTimeoutMs)})`);
    expect(text).toContain(`(default ${DEFAULTS.doctorRetries})`);
  });

  it('bench: --count and --size defaults', async () => {
    const text = await help('bench');
    expect(text).toContain(`events to publish (default ${DEFAULTS.benchCount})`);
    expect(text).toContain(`payload size in bytes (default ${DEFAULTS.benchSize})`);
  });

  it(`emit retries an unsent request ${DEFAULTS.retries} times by default; doctor does not retry`, async () => {
    const env = { PUSHER_APP_ID: '1', PUSHER_APP_KEY: 'key', PUSHER_APP_SECRET: 'secret-for-help-test', PUSHER_HOST: '127.0.0.1', PUSHER_PORT: String(await freePort()), PUSHER_SCHEME: 'http' };
    const emit = await runMain(['emit', 'orders', 'e', '--verbose'], { env });
    expect(emit.code).toBe(1);
    expect(emit.stderr.match(/^retry \d+ in/gm) ?? []).toHaveLength(DEFAULTS.retries);

    const doctor = await runMain(['doctor', '--verbose'], { env });
    expect(doctor.code).toBe(1);
    expect(doctor.stderr).not.toMatch(/^retry \d+ in/m);
  }, 20_000);
});

describe('--version', () => {
  it('prints the package version, from the binary (fast path) and from main alike', async () => {
    const { version } = JSON.parse((await import('node:fs')).readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const { runCli } = await import('../helpers/cli.js');
    for (const flag of ['--version', '-V']) {
      const bin = await runCli([flag]);
      expect(bin).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
    }
    const inProcess = await runMain(['--version']);
    expect(inProcess).toMatchObject({ code: 0, stdout: `${version}\n` });
  });
});

/**
 * `broadcast console` in a real browser (Debian's Chromium driven by playwright-core) against a real soketi of
 * its own (the console follows every occupied channel, and joins presence channels: on the shared server it
 * would show up in other test files' member lists). Channels, events and members come from real pusher-js
 * clients and `broadcast emit`; what the composer sends is received by a pusher-js listener.
 */
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channelAuthBody, presenceChannelData } from '../../src/auth/sign.js';
import { FOLLOW_DEFAULTS } from '../../src/follow.js';
import { main } from '../../src/cli/main.js';
import { staticDir } from '../../src/cli/console/server.js';
import { cleanEnv, ROOT, tempProject } from '../helpers/cli.js';
import { listen, type Listener } from '../helpers/listener.js';
import { capture, runMain } from '../helpers/main.js';
import { startCli } from '../helpers/running.js';
import { expectSchema, jsonOf } from '../helpers/schema.js';
import { hasCommand, needs } from '../helpers/services.js';
import { startSoketi, type SoketiServer } from '../helpers/soketi.js';
import { uid } from '../helpers/fixtures.js';

const chromiumInstalled = needs('chromium', hasCommand('chromium'), 'apt-get install chromium');
/** Where `command -v chromium` finds it (Debian: /usr/bin/chromium). */
const chromiumPath = () => execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
const MASTER_KEY = Buffer.alloc(32, 'console-test-master-key').toString('base64');
const id = uid();

/** `broadcast console --json` in this process, stopped with `stop()` as Ctrl-C would. */
async function startConsole(args: string[], options: { env: Record<string, string>; cwd: string }) {
  const controller = new AbortController();
  const stdout = capture();
  const stderr = capture();
  const done = main(['node', 'broadcast', 'console', '--json', ...args], {
    cwd: options.cwd,
    env: cleanEnv(options.env),
    stdout,
    stderr,
    stdin: Readable.from([]),
    signal: controller.signal,
  });
  const records = () => stdout.text().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
  const deadline = Date.now() + 15_000;
  let listening: Record<string, unknown> | undefined;
  while (!(listening = records().find((r) => r.type === 'listening'))) {
    if (Date.now() > deadline) throw new Error(`the console did not start: ${stderr.text()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    url: listening.url as string,
    records,
    stderr: () => stderr.text(),
    async stop() {
      controller.abort('SIGINT');
      return { code: await done, records: records(), stderr: stderr.text() };
    },
  };
}

/** A raw request to the console, with the headers a test chooses (fetch would not let it set Host). */
function request(url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  const target = new URL(url);
  return new Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
    const req = http.request({ host: target.hostname, port: target.port, path: target.pathname + target.search, method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe.skipIf(!chromiumInstalled)('in a real browser', () => {
  let server: SoketiServer;
  let browser: Browser;
  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    [server, browser] = await Promise.all([startSoketi(), chromium.launch({ executablePath: chromiumPath() })]);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  describe('broadcast console', () => {
    let env: Record<string, string>;
    let project: Awaited<ReturnType<typeof tempProject>>;
    let consoleRun: Awaited<ReturnType<typeof startConsole>>;
    let page: Page;
    const bodies: string[] = [];
    const clients: Listener[] = [];
    const client = async (user?: { id: number; info: unknown }) => {
      const l = await listen(server, user ? { user } : {});
      clients.push(l);
      return l;
    };
    /** The channel's button in the list, once the console follows it. */
    const followed = (channel: string) => page.getByRole('button', { name: new RegExp(`^${channel.replace(/[.-]/g, '\\$&')} \\w+ following`) });

    beforeAll(async () => {
      project = await tempProject();
      // A registered event class, for the composer.
      await mkdir(path.join(project.dir, 'src/events'), { recursive: true });
      await writeFile(path.join(project.dir, 'broadcast.config.ts'), `import { defineConfig } from 'pusher-broadcast';\nexport default defineConfig({ eventsDir: 'src/events' });\n`);
      await writeFile(
        path.join(project.dir, 'src/events/OrderShipped.ts'),
        `import { CanBroadcast, PrivateChannel } from 'pusher-broadcast';
  export class OrderShipped extends CanBroadcast {
    declare orderId: string;
    broadcastOn() { return new PrivateChannel(\`orders.\${this.orderId}\`); }
    override broadcastAs() { return 'order.shipped'; }
  }
  `,
      );
      env = { ...server.env, PUSHER_ENCRYPTION_MASTER_KEY_BASE64: MASTER_KEY };
      consoleRun = await startConsole(['--interval', '300ms'], { env, cwd: project.dir });
      page = await browser.newPage();
      page.setDefaultTimeout(10_000);
      page.on('response', async (res) => {
        if (!(res.headers()['content-type'] ?? '').startsWith('text/event-stream')) bodies.push(await res.text().catch(() => ''));
      });
      await page.goto(consoleRun.url);
    });

    afterAll(async () => {
      for (const c of clients) c.disconnect();
      await page?.close();
      await consoleRun?.stop();
      await project?.cleanup();
    });

    it('shows the server state: live, every check passed, with its latency', async () => {
      await page.locator('#state', { hasText: 'Live' }).waitFor();
      await page.locator('#checks li.pass').nth(4).waitFor();
      const checks = await page.locator('#checks li').allTextContents();
      expect(checks.map((c) => c.replace(/\d+ ms$/, 'N ms'))).toEqual(['config', 'serverN ms', 'credentialsN ms', 'websocketN ms', 'roundtripN ms']);
      await expect(page.locator('#checks li', { hasText: 'roundtrip' }).getAttribute('aria-label')).resolves.toMatch(/^roundtrip: pass\. .* \(\d+ ms\)$/);
      await expect(page.locator('#where').textContent()).resolves.toContain(`http://127.0.0.1:${server.port}`);
      // Every control has a name: a <label for>, an aria-label or its own text.
      const unnamed = await page.locator('input, select, textarea, button').evaluateAll((controls) =>
        controls
          .filter((c) => !((c as unknown as { labels?: { length: number } }).labels?.length || c.getAttribute('aria-label') || (c.tagName === 'BUTTON' && c.textContent!.trim())))
          .map((c) => c.outerHTML),
      );
      expect(unnamed).toEqual([]);
    });

    it('lists a channel as soon as a client subscribes, with its count, and filters by prefix', async () => {
      const orders = `orders-${id}`;
      const l = await client();
      await l.subscribe(orders);
      await l.subscribe(`private-audit-${id}`);
      const button = followed(orders);
      await button.waitFor();
      await expect(button.textContent()).resolves.toContain('1 sub');
      await page.getByLabel('Filter by prefix').fill('private-');
      await followed(`private-audit-${id}`).waitFor();
      expect(await page.locator('#channel-list li').count()).toBe(1);
      await page.getByLabel('Filter by prefix').fill('');
    });

    it('shows an event sent with broadcast emit, its data pretty-printed when opened', async () => {
      const orders = `orders-${id}`;
      await followed(orders).waitFor();
      const sent = await runMain(['emit', orders, 'order.created', '--data', JSON.stringify({ id: 42, items: ['book'] })], { env });
      expect(sent.code).toBe(0);
      const row = page.locator('#events li', { hasText: 'order.created' });
      await row.waitFor();
      await expect(row.locator('.ch').textContent()).resolves.toBe(orders);
      await expect(row.locator('.preview').textContent()).resolves.toBe('{"id":42,"items":["book"]}');
      await row.locator('summary').press('Enter');
      await expect(row.locator('pre').textContent()).resolves.toBe(JSON.stringify({ id: 42, items: ['book'] }, null, 2));

      // Filtering and pausing.
      await page.getByLabel('Filter events').fill('no such text');
      await row.waitFor({ state: 'hidden' });
      await page.getByLabel('Filter events').fill('');
      await page.getByRole('button', { name: 'Pause' }).click();
      await runMain(['emit', orders, 'while.paused', '--data', '{}'], { env });
      await page.locator('#stream-status', { hasText: 'paused: 1 new held' }).waitFor();
      expect(await page.locator('#events li', { hasText: 'while.paused' }).count()).toBe(0);
      await page.getByRole('button', { name: 'Resume' }).click();
      await page.locator('#events li', { hasText: 'while.paused' }).waitFor();
    });

    it('shows presence members joining and leaving, live', async () => {
      const room = `presence-room-${id}`;
      const ada = await client({ id: 1, info: { name: 'Ada' } });
      await ada.subscribe(room);
      await followed(room).waitFor();
      await page.getByLabel('Presence channel').selectOption(room);
      const members = page.locator('#members li');
      await members.filter({ hasText: '1' }).waitFor();
      await expect(members.allTextContents()).resolves.toEqual(['1{"name":"Ada"}']);
      const grace = await client({ id: 2, info: { name: 'Grace' } });
      await grace.subscribe(room);
      await members.filter({ hasText: 'Grace' }).waitFor();
      await expect(page.locator('#member-count').textContent()).resolves.toBe('2');
      grace.disconnect();
      await members.filter({ hasText: 'Grace' }).waitFor({ state: 'detached' });
      await expect(page.locator('#member-count').textContent()).resolves.toBe('1');
    });

    it('checks the composer as you type and sends what it shows to a pusher-js listener', async () => {
      const inbox = `inbox-${id}`;
      const listener = await client();
      await listener.subscribe(inbox);
      await page.getByLabel('Channels (comma-separated)').fill(inbox);
      await page.getByLabel('Event name').fill('note.added');
      const data = page.getByLabel('Data (JSON)');
      await data.fill('{"text": ');
      await page.locator('#c-check.bad', { hasText: /^JSON: / }).waitFor();
      expect(await page.getByRole('button', { name: 'Send' }).isDisabled()).toBe(true);
      await data.fill(JSON.stringify({ text: 'x'.repeat(11_000) }));
      await page.locator('#c-check.bad', { hasText: 'the limit for this connection is 10240 bytes' }).waitFor();
      await page.getByLabel('Event name').fill('pusher:nope');
      await page.locator('#c-check.bad', { hasText: 'the "pusher:" prefix is reserved' }).waitFor();
      await page.getByLabel('Event name').fill('note.added');
      await data.fill('{"text": "hello from the console"}');
      await page.locator('#c-check.ok', { hasText: `note.added → ${inbox} · 33 of 10,240 bytes · 1 request` }).waitFor();
      await page.getByRole('button', { name: 'Send' }).click();
      await page.locator('#c-answer.ok', { hasText: /^Sent at / }).waitFor();
      const [got] = await listener.waitFor(1, (e) => e.channel === inbox);
      expect(got).toEqual({ channel: inbox, event: 'note.added', data: { text: 'hello from the console' } });
    });

    it('offers the registered event classes, resolving their channels from the data', async () => {
      const channel = `private-orders.${id}`;
      const listener = await client();
      await listener.subscribe(channel);
      await page.getByLabel('Registered event').selectOption('OrderShipped');
      await expect(page.getByLabel('Channels (comma-separated)').inputValue()).resolves.toBe('private-orders.{orderId}');
      await expect(page.getByLabel('Event name').inputValue()).resolves.toBe('order.shipped');
      await page.getByLabel('Data (JSON)').fill(JSON.stringify({ orderId: id }));
      await page.locator('#c-check.ok', { hasText: `order.shipped → ${channel}` }).waitFor();
      await page.getByRole('button', { name: 'Send' }).click();
      const [got] = await listener.waitFor(1, (e) => e.channel === channel);
      expect(got).toEqual({ channel, event: 'order.shipped', data: { orderId: id } });
      await page.getByLabel('Registered event').selectOption('');
    });

    it('signs a subscription as auth:sign does', async () => {
      const room = `presence-room-${id}`;
      await page.getByLabel('Channel', { exact: true }).fill(room);
      await page.getByLabel('Socket id (random if empty)').fill('1234.5678');
      await page.getByLabel('User id (presence)').fill('7');
      await page.getByLabel('User info (presence, JSON)').fill('{"name":"Ada"}');
      await page.getByRole('button', { name: 'Sign' }).click();
      const answer = page.locator('#s-answer.ok');
      await answer.waitFor();
      const body = channelAuthBody({ key: server.key, secret: server.secret }, '1234.5678', room, presenceChannelData(7, { name: 'Ada' }));
      expect(await answer.textContent()).toBe(`${JSON.stringify(body, null, 2)}\n\nsocket id 1234.5678`);
    });

    it('never sends the app secret or the master key to the page', async () => {
      const token = new URL(consoleRun.url).searchParams.get('token')!;
      // The live stream, while an event and the state go through it.
      const streamed = await new Promise<string>((resolve, reject) => {
        let text = '';
        const req = http.get(`${consoleRun.url.replace('/?', '/api/stream?')}`, (res) => {
          res.on('data', (d: Buffer) => (text += d));
          setTimeout(() => {
            req.destroy();
            resolve(text);
          }, 1_000);
          // Even event data that carries a secret is scrubbed on its way to the page.
          void runMain(['emit', `orders-${id}`, 'scan', '--data', JSON.stringify({ n: 1, leaked: server.secret })], { env });
        });
        req.on('error', reject);
      });
      expect(streamed).toContain('"event":"scan","data":{"n":1,"leaked":"[redacted]"}');
      const api = (p: string, body?: unknown) =>
        request(new URL(p, consoleRun.url).href, {
          method: body ? 'POST' : 'GET',
          headers: { 'x-console-token': token, host: new URL(consoleRun.url).host, ...(body ? { 'content-type': 'application/json' } : {}) },
          body: body ? JSON.stringify(body) : undefined,
        });
      const answers = await Promise.all([
        api('/api/state'),
        api(`/api/members?channel=presence-room-${id}`),
        api('/api/sign', { channel: `private-encrypted-${id}`, socketId: '1.2' }),
        api('/api/check', { channels: `private-encrypted-${id}`, event: 'e', data: '{}' }),
      ]);
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
      const all = [...bodies, streamed, await page.content(), ...answers.map((a) => a.body)];
      expect(bodies.length).toBeGreaterThan(5);
      for (const text of all) {
        expect(text).not.toContain(server.secret);
        expect(text).not.toContain(MASTER_KEY);
      }
    });

    it('refuses requests without the token, and with a foreign Host or Origin (DNS rebinding)', async () => {
      const url = new URL(consoleRun.url);
      const token = url.searchParams.get('token')!;
      const host = url.host;
      const ok = await request(`${url.origin}/?token=${token}`, { headers: { host } });
      expect(ok.status).toBe(200);
      expect(ok.headers).toMatchObject({
        'content-security-policy': expect.stringContaining("default-src 'none'; script-src 'self'"),
        'referrer-policy': 'no-referrer',
        'x-frame-options': 'DENY',
        'cache-control': 'no-store',
      });
      const refused = await Promise.all([
        request(`${url.origin}/`, { headers: { host } }),
        request(`${url.origin}/api/state?token=${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`, { headers: { host } }),
        request(`${url.origin}/?token=${token}`, { headers: { host: `evil.example:${url.port}` } }),
        request(`${url.origin}/api/check`, { method: 'POST', headers: { host, 'x-console-token': token, origin: 'http://evil.example', 'content-type': 'application/json' }, body: '{}' }),
        request(`${url.origin}/api/send`, { method: 'POST', headers: { host, 'x-console-token': token, origin: `http://evil.example:${url.port}`, 'content-type': 'application/json' }, body: '{}' }),
      ]);
      expect(refused.map((r) => r.status)).toEqual([403, 403, 403, 403, 403]);
      expect(JSON.parse(refused[2]!.body)).toEqual({ ok: false, error: { code: 'forbidden', message: 'Refused: unexpected Host header' } });
      // localhost names the same server.
      expect((await request(`${url.origin}/?token=${token}`, { headers: { host: `localhost:${url.port}` } })).status).toBe(200);
    });

    it('keeps up with 1,000 events a second, keeping the newest 1,000', async () => {
      const flood = `flood-${id}`;
      const l = await client();
      await l.subscribe(flood);
      await followed(flood).waitFor();
      await page.getByLabel('Show events of').selectOption(flood);
      const lines = Array.from({ length: 1_100 }, (_, n) => JSON.stringify({ channel: flood, event: 'tick', data: { n } }));
      const started = Date.now();
      const sent = await runMain(['emit', '--file', '-', '--rate', '1000'], { env, input: lines.join('\n') });
      expect(sent.code).toBe(0);
      await page.locator('#events li').first().filter({ hasText: '{"n":1099}' }).waitFor();
      // Rendered as they came, not long after the last one was sent.
      expect(Date.now() - started).toBeLessThan(8_000);
      expect(await page.locator('#events li').count()).toBe(1_000);
      await expect(page.locator('#events li').last().locator('.preview').textContent()).resolves.toBe('{"n":100}');
      await expect(page.locator('#stream-status').textContent()).resolves.toMatch(/the newest 1000 kept · 1000 shown by the filter/);
      await page.getByLabel('Show events of').selectOption('');
    });

    it('--json: the listening record, then the result when stopped (exit 130)', async () => {
      const [listening] = consoleRun.records();
      expectSchema('console', listening);
      expect(listening).toEqual({ type: 'listening', url: consoleRun.url, host: '127.0.0.1', port: Number(new URL(consoleRun.url).port), readOnly: false });
      const stopped = await consoleRun.stop();
      expect(stopped.code).toBe(130);
      const result = stopped.records.at(-1)!;
      expectSchema('console', result);
      expect(result).toMatchObject({ type: 'result', ok: false, connection: 'pusher', readOnly: false, eventsSent: 2, error: { code: 'interrupted', exitCode: 130 } });
      expect(result.eventsReceived).toBeGreaterThanOrEqual(5);
      expect(stopped.records).toHaveLength(2);
    });
  });

  describe('broadcast console --read-only (the process)', () => {
    it('hides the composer, refuses to send, prints its address on stdout and stops on SIGINT', async () => {
      const cli = startCli(['console', '--read-only'], { env: server.env });
      const { line: url } = (await cli.waitForRecord((r) => typeof r.line === 'string' && r.line.startsWith('http://127.0.0.1:'), 15_000)) as { line: string };
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{32}$/);
      const page = await browser.newPage();
      await page.goto(url);
      await page.locator('#readonly-note').waitFor();
      expect(await page.locator('#composer').isHidden()).toBe(true);
      await expect(page.locator('#where').textContent()).resolves.toContain('read-only');
      const sent = await page.evaluate(async (token) => {
        const res = await fetch('api/send', { method: 'POST', headers: { 'x-console-token': token, 'content-type': 'application/json' }, body: JSON.stringify({ channels: 'a', event: 'e', data: '{}' }) });
        return { status: res.status, body: await res.json() };
      }, new URL(url).searchParams.get('token')!);
      expect(sent).toEqual({ status: 403, body: { ok: false, error: { code: 'read_only', message: 'This console is read-only (--read-only): it does not send events' } } });
      await page.close();
      cli.signal('SIGINT');
      const exit = await cli.exited();
      expect(exit.code).toBe(130);
      expect(exit.stdout).toBe(`${url}\n`);
      expect(exit.stderr).toContain('Console for connection "pusher" (read-only): open the address above. Press Ctrl-C to stop.');
      expect(exit.stderr).toMatch(/Console stopped after .*: 0 events received, 0 sent, \d+ requests answered\./);
      expect(exit.stderr).toContain('error: Interrupted (Ctrl-C)');
    });
  });
});

describe('broadcast console: bad input exits 2 before serving anything', () => {
  const env = { PUSHER_APP_ID: '1', PUSHER_APP_KEY: 'key', PUSHER_APP_SECRET: 'secret-for-console-test', PUSHER_HOST: '127.0.0.1', PUSHER_PORT: '9', PUSHER_SCHEME: 'http' };
  it.each([
    [['--interval', '100ms'], /--interval must be at least 250ms, not 100ms/],
    [['--port', '70000'], /--port must be at most 65535, not 70000/],
    [['--port', 'x'], /--port must be a whole number >= 0/],
    [['--max-channels', '0'], /--max-channels must be a whole number >= 1/],
  ])('%j', async (args, message) => {
    const r = await runMain(['console', ...args, '--json'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(jsonOf('console', r.stdout)).toMatchObject({ ok: false, error: { code: 'usage', exitCode: 2 } });
  });

  it('a connection without a server (the log driver) is refused', async () => {
    const r = await runMain(['console', '--json'], { env: {} });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('uses the log driver: there is no server to watch');
    expect(jsonOf('console', r.stdout)).toMatchObject({ ok: false, error: { code: 'usage' } });
  });

  it('the page ships in the package', () => {
    const { files } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
    expect(files).toContain(path.relative(ROOT, staticDir()));
    for (const file of ['index.html', 'console.css', 'console.js']) expect(existsSync(path.join(staticDir(), file))).toBe(true);
  });

  it('--help shows the defaults the code uses', async () => {
    const help = (await runMain(['console', '--help'])).stdout.replace(/\s+/g, ' ');
    expect(help).toContain(`default ${FOLLOW_DEFAULTS.intervalMs / 1000}s)`);
    expect(help).toContain(`(default ${FOLLOW_DEFAULTS.maxChannels})`);
  });
});

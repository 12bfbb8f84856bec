#!/usr/bin/env node
/**
 * Takes docs/console.png: the console's page with live data. Starts a private soketi, `broadcast console`
 * (the build in dist/: run `npm run build` first), a few pusher-js clients (presence members, subscribers),
 * sends some events, and photographs the page in Debian's Chromium (playwright-core).
 *
 *   node scripts/console-screenshot.mjs [out.png] [--width 1440] [--height 900]
 */
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import PusherModule from 'pusher-js';
import { startSoketi } from '../bench/soketi.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const out = path.resolve(args.find((a) => a.endsWith('.png')) ?? path.join(ROOT, 'docs/console.png'));
const width = flag('--width', 1440);
const height = flag('--height', 940);
const { Broadcast, presenceChannelData, signChannel } = await import(path.join(ROOT, 'dist/index.js'));
const Pusher = PusherModule.default ?? PusherModule;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const server = await startSoketi({ credentials: { appId: 'shop', key: 'shop-key', secret: 'shop-secret-not-shown' } });
const cleanup = [() => server.stop()];
try {
  const env = { ...process.env, ...server.env };
  const cli = spawn(process.execPath, [path.join(ROOT, 'bin/broadcast.js'), 'console', '--json', '--interval', '500ms'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  cli.stderr.on('data', (d) => (stderr += d));
  cleanup.unshift(() => new Promise((resolve) => (cli.exitCode !== null ? resolve() : (cli.once('exit', resolve), cli.kill('SIGINT')))));
  const url = await new Promise((resolve, reject) => {
    let text = '';
    cli.stdout.on('data', (d) => {
      text += d;
      const line = text.split('\n').find((l) => l.includes('"listening"'));
      if (line) resolve(JSON.parse(line).url);
    });
    cli.once('exit', () => reject(new Error(`the console exited: ${stderr}`)));
  });

  // Clients that occupy channels, as an application's users would.
  const client = (user) => {
    const pusher = new Pusher(server.key, {
      cluster: 'mt1', wsHost: server.host, wsPort: server.port, forceTLS: false, enabledTransports: ['ws'], disableStats: true,
      channelAuthorization: {
        endpoint: '/unused', transport: 'ajax',
        customHandler: ({ socketId, channelName }, callback) => {
          const data = channelName.startsWith('presence-') ? presenceChannelData(user.id, user.info) : undefined;
          callback(null, { auth: signChannel(server, socketId, channelName, data), ...(data ? { channel_data: data } : {}) });
        },
      },
    });
    cleanup.unshift(() => pusher.disconnect());
    return pusher;
  };
  const people = [
    { id: 7, info: { name: 'Ada Lovelace', role: 'admin' } },
    { id: 12, info: { name: 'Grace Hopper', role: 'support' } },
    { id: 31, info: { name: 'Linus Torvalds' } },
  ];
  for (const person of people) {
    const c = client(person);
    c.subscribe('presence-support.room');
    c.subscribe('orders');
  }
  client(people[0]).subscribe('private-orders.1042');
  client(people[1]).subscribe('private-user.12');
  client(people[2]).subscribe('dashboard.stats');
  await sleep(1500);

  const browser = await chromium.launch({ executablePath: execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim() });
  cleanup.unshift(() => browser.close());
  const page = await browser.newPage({ viewport: { width, height }, deviceScaleFactor: 1 });
  await page.goto(url);
  await page.getByRole('button', { name: /presence-support\.room/ }).waitFor();
  await sleep(800);

  const broadcast = new Broadcast({}, { env });
  const events = [
    ['orders', 'order.created', { id: 1042, customer: 'Ada Lovelace', total: 129.5, currency: 'EUR', items: [{ sku: 'KB-87', qty: 1 }, { sku: 'MS-02', qty: 2 }] }],
    ['private-orders.1042', 'order.paid', { id: 1042, method: 'card', paidAt: new Date().toISOString() }],
    ['dashboard.stats', 'stats.updated', { online: 3, ordersToday: 58, revenue: 7310.25 }],
    ['private-user.12', 'notification', { title: 'New ticket #881', from: 'Linus Torvalds', priority: 'high' }],
    ['presence-support.room', 'message.sent', { user: 7, text: 'Order 1042 has shipped' }],
    ['private-orders.1042', 'order.shipped', { id: 1042, carrier: 'DHL', tracking: 'JD014600006281' }],
    ['dashboard.stats', 'stats.updated', { online: 3, ordersToday: 59, revenue: 7439.75 }],
  ];
  for (const [channel, event, data] of events) {
    await broadcast.channel(channel, event, data);
    await sleep(150);
  }
  broadcast.close();

  await page.getByLabel('Presence channel').selectOption('presence-support.room');
  await page.locator('#members li').nth(2).waitFor();
  await page.locator('#events li').nth(events.length - 1).waitFor();
  await page.locator('#events li summary').nth(1).click();
  await page.getByLabel('Channels (comma-separated)').fill('private-orders.1042');
  await page.getByLabel('Event name').fill('order.refunded');
  await page.getByLabel('Data (JSON)').fill('{\n  "id": 1042,\n  "amount": 129.5,\n  "reason": "damaged"\n}');
  await page.locator('#c-check.ok').waitFor();
  await page.getByLabel('Channel', { exact: true }).fill('presence-support.room');
  await page.getByLabel('User id (presence)').fill('7');
  await page.getByLabel('Socket id (random if empty)').fill('1234.5678');
  await page.getByRole('button', { name: 'Sign' }).click();
  await page.locator('#s-answer.ok').waitFor();
  await page.locator('.side').evaluate((side) => side.scrollTo(0, 0));
  await sleep(1500);
  await page.screenshot({ path: out, fullPage: args.includes('--full') });
  console.log(`wrote ${path.relative(process.cwd(), out)} (${width}x${height})`);
} finally {
  for (const step of cleanup) await step();
}

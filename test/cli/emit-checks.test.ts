/**
 * `broadcast emit` fails loudly instead of exiting 0 having delivered nothing useful: channels rendered from a
 * missing field, a CI job with no connection configured, flags that would be ignored, near-miss channel
 * prefixes, the payload limit without a config file, and servers that answer 200 with something other than
 * the Pusher API's JSON. In process (`runMain`) against the real soketi (what was and was not delivered is
 * seen by a real subscriber), or a misbehaving fake server where the point is the misbehaviour.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../helpers/cli.js';
import { faultServers, html } from '../helpers/fault-server.js';
import { afterAll, beforeAll, describe, expect, inject, test, uid, type Project } from '../helpers/fixtures.js';
import { listen, settle, type Listener } from '../helpers/listener.js';
import { runMain } from '../helpers/main.js';
import { jsonOf } from '../helpers/schema.js';
import type { SoketiServer } from '../helpers/soketi.js';

const server = inject('soketi') as SoketiServer;
const serve = faultServers(afterAll);

/** A project whose src/events holds OrderShipped (channel `private-<prefix>.{orderId}`) and Tagged (`tags-<prefix>.{tag}`). */
async function eventsProject(project: Project, prefix: string): Promise<void> {
  await mkdir(path.join(project.dir, 'src/events'), { recursive: true });
  await writeFile(
    path.join(project.dir, 'src/events/OrderShipped.ts'),
    `import { CanBroadcast, PrivateChannel } from 'pusher-broadcast';
export class OrderShipped extends CanBroadcast {
  declare orderId: string;
  broadcastOn() { return new PrivateChannel(\`${prefix}.\${this.orderId}\`); }
  override broadcastAs() { return 'order.shipped'; }
}
export class Tagged extends CanBroadcast {
  declare tag: unknown;
  broadcastOn() { return \`tags-${prefix}.\${this.tag}\`; }
}
`,
  );
}

describe('a channel rendered from a missing or odd field is refused (exit 2, invalid), naming the class, the field and the pattern', () => {
  const prefix = `orders-${uid()}`;
  let listener: Listener;
  beforeAll(async () => {
    listener = await listen(server);
    await listener.subscribe(`private-${prefix}.undefined`);
    await listener.subscribe(`tags-${prefix}.null`);
  });
  afterAll(async () => {
    await settle(300);
    // Nothing reached the channels a missing field would have made.
    expect(listener.received).toEqual([]);
    listener.disconnect();
  });

  test('no --data at all: `emit OrderShipped`', async ({ project }) => {
    await eventsProject(project, prefix);
    const r = await runMain(['emit', 'OrderShipped', '--json'], { cwd: project.dir, env: server.env });
    expect(r.code).toBe(2);
    expect(jsonOf('emit', r.stdout)).toEqual({
      ok: false,
      error: {
        code: 'invalid',
        exitCode: 2,
        message: `Cannot send OrderShipped: its channel private-${prefix}.{orderId} needs "orderId", and no --data was given, so it would go to "private-${prefix}.undefined"`,
        hint: `Give it in --data: broadcast emit OrderShipped --data '{"orderId":…}'`,
        details: { eventClass: 'OrderShipped', channel: `private-${prefix}.undefined`, pattern: `private-${prefix}.{orderId}`, field: 'orderId' },
      },
    });
    expect(r.stderr).toMatch(/^error: Cannot send OrderShipped: its channel private-\S+\.\{orderId\} needs "orderId"/);

    // A channel name typed as such is the user's choice: `emit typed-….undefined e` is sent.
    const typed = `typed-${uid()}.undefined`;
    const to = await listen(server);
    try {
      await to.subscribe(typed);
      const sent = await runMain(['emit', typed, 'e', '--json'], { env: server.env });
      expect(sent.code).toBe(0);
      expect(jsonOf('emit', sent.stdout)).toMatchObject({ delivered: true, channels: [typed], warnings: [] });
      expect((await to.waitFor(1))[0]).toMatchObject({ channel: typed, event: 'e' });
    } finally {
      to.disconnect();
    }
  });

  test('a case typo in --data says so; --dry-run reports it the same way; spelt right, the event is delivered', async ({ project }) => {
    await eventsProject(project, prefix);
    const expected = `which --data does not have (it has "orderid"; field names are case-sensitive), so it would go to "private-${prefix}.undefined"`;
    for (const extra of [[], ['--dry-run']]) {
      const r = await runMain(['emit', 'OrderShipped', '--data', '{"orderid":42}', ...extra, '--json'], { cwd: project.dir, env: server.env });
      expect(r.code).toBe(2);
      expect(jsonOf('emit', r.stdout).error).toMatchObject({ code: 'invalid', message: expect.stringContaining(expected), details: { field: 'orderId' } });
      const human = await runMain(['emit', 'OrderShipped', '--data', '{"orderid":42}', ...extra], { cwd: project.dir, env: server.env });
      expect(human.code).toBe(2);
      expect(human.stdout).toBe('');
      expect(human.stderr).toContain(expected);
    }
    const id = uid();
    const to = await listen(server);
    try {
      await to.subscribe(`private-${prefix}.${id}`);
      const r = await runMain(['emit', 'OrderShipped', '--data', JSON.stringify({ orderId: id }), '--json'], { cwd: project.dir, env: server.env });
      expect(r.code).toBe(0);
      expect(jsonOf('emit', r.stdout)).toMatchObject({ delivered: true, channels: [`private-${prefix}.${id}`], warnings: [] });
      await to.waitFor(1);
    } finally {
      to.disconnect();
    }
  });

  test('null and object values: "tags-….null", "tags-….[object Object]"', async ({ project }) => {
    await eventsProject(project, prefix);
    const none = await runMain(['emit', 'Tagged', '--data', '{"tag":null}', '--json'], { cwd: project.dir, env: server.env });
    expect(none.code).toBe(2);
    expect(jsonOf('emit', none.stdout).error.message).toBe(`Cannot send Tagged: its channel tags-${prefix}.{tag} needs "tag", which is null in --data, so it would go to "tags-${prefix}.null"`);
    const object = await runMain(['emit', 'Tagged', '--data', '{"tag":{"id":1}}'], { cwd: project.dir, env: server.env });
    expect(object.code).toBe(2);
    expect(object.stderr).toContain(`needs "tag", which is an object in --data, so it would go to "tags-${prefix}.[object Object]"`);
    // Through a PrivateChannel, which refuses "[" and " " itself: the same explanation.
    const channel = await runMain(['emit', 'OrderShipped', '--data', '{"orderId":{"id":1}}', '--json'], { cwd: project.dir, env: server.env });
    expect(channel.code).toBe(2);
    expect(jsonOf('emit', channel.stdout).error.message).toBe(
      `Cannot send OrderShipped: its channel private-${prefix}.{orderId} needs "orderId", which is an object in --data, so it would go to "private-${prefix}.[object Object]"`,
    );
  });
});

describe('in CI, no connection configured is an error, not a green run that delivered nothing', () => {
  const noConfig = 'No connection is configured, so emit would only print the events (the built-in "log" connection) and deliver nothing; refused in CI (CI=true)';

  test('emit: exit 2 (config), saying how to configure one or to choose --connection log; nothing printed as sent', async ({ project }) => {
    const r = await runMain(['emit', 'orders', 'order.shipped', '--json'], { cwd: project.dir, env: { CI: 'true' } });
    expect(r.code).toBe(2);
    const { error } = jsonOf('emit', r.stdout);
    expect(error).toMatchObject({ code: 'config', exitCode: 2, message: noConfig });
    expect(error.hint).toContain('PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET');
    expect(error.hint).toContain('broadcast.config.ts');
    expect(error.hint).toContain('--connection log');
    const human = await runMain(['emit', 'orders', 'order.shipped'], { cwd: project.dir, env: { CI: '1' } });
    expect(human.code).toBe(2);
    expect(human.stdout).toBe('');
    expect(human.stderr).toContain('refused in CI (CI=1)');
  });

  test('emit --file: the same, before anything is read or printed', async ({ project }) => {
    await writeFile(path.join(project.dir, 'events.ndjson'), '{"channel":"a","event":"e"}\n');
    const r = await runMain(['emit', '--file', 'events.ndjson', '--json'], { cwd: project.dir, env: { CI: 'true' } });
    expect(r.code).toBe(2);
    expect(jsonOf('emit', r.stdout).error).toMatchObject({ code: 'config', message: noConfig });
  });

  test('the process exits 2', async ({ project }) => {
    const r = await runCli(['emit', 'orders', 'e'], { cwd: project.dir, env: { CI: 'true' } });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('No connection is configured');
  });

  test.each([
    ['--connection log', ['--connection', 'log'], {}],
    ['BROADCAST_CONNECTION=log', [], { BROADCAST_CONNECTION: 'log' }],
    ['--dry-run (nothing is sent either way)', ['--dry-run'], {}],
  ])('refused without it, %s works in CI', async (_what, args, env) => {
    const refused = await runMain(['emit', 'orders', 'e', '--json'], { env: { CI: 'true' } });
    expect(refused.code).toBe(2);
    const r = await runMain(['emit', 'orders', 'e', ...args, '--json'], { env: { CI: 'true', ...env } });
    expect(r.code).toBe(0);
    expect(jsonOf('emit', r.stdout)).toMatchObject({ ok: true, connection: 'log', delivered: false });
  });

  test("refused without it, the config's default: 'log' works in CI", async ({ project }) => {
    const refused = await runMain(['emit', 'orders', 'e', '--json'], { cwd: project.dir, env: { CI: 'true' } });
    expect(refused.code).toBe(2);
    await writeFile(path.join(project.dir, 'broadcast.config.json'), JSON.stringify({ default: 'log' }));
    const r = await runMain(['emit', 'orders', 'e', '--json'], { cwd: project.dir, env: { CI: 'true' } });
    expect(r.code).toBe(0);
    expect(jsonOf('emit', r.stdout)).toMatchObject({ ok: true, connection: 'log' });
  });

  test.each(['', 'false', 'FALSE', '0'])('outside CI (CI=%j) the fallback stays: exit 0 and a note on stderr', async (ci) => {
    const r = await runMain(['emit', 'orders', 'e'], { env: { CI: ci } });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('e → orders {}\n');
    expect(r.stderr).toContain('nothing was delivered');
    const inCi = await runMain(['emit', 'orders', 'e'], { env: { CI: 'yes' } });
    expect(inCi.code).toBe(2);
  });

  test('with credentials, CI delivers as usual', async ({ uid: id }) => {
    const to = await listen(server);
    try {
      await to.subscribe(`ci-${id}`);
      const r = await runMain(['emit', `ci-${id}`, 'e', '--json'], { env: { CI: 'true', ...server.env } });
      expect(r.code).toBe(0);
      expect(jsonOf('emit', r.stdout)).toMatchObject({ delivered: true, connection: 'pusher', warnings: [] });
      await to.waitFor(1);
    } finally {
      to.disconnect();
    }
  });
});

describe('flags that would be ignored are refused (exit 2, usage), naming both', () => {
  test.each([
    [['--file', 'events.ndjson', '--data', '{}'], '--data does not apply with --file'],
    [['--file', 'events.ndjson', '--data', '{"id":1}'], '--data does not apply with --file'],
    [['--file', 'events.ndjson', '--socket-id', '1.2'], '--socket-id does not apply with --file'],
  ])('emit %j', async (args, message) => {
    const fault = await serve((_n, _req, res) => res.writeHead(500).end());
    const r = await runMain(['emit', ...args, '--json'], { env: fault.env });
    expect(r.code).toBe(2);
    expect(jsonOf('emit', r.stdout).error).toMatchObject({ code: 'usage', message: expect.stringContaining(message) });
    expect(fault.requests).toHaveLength(0);
  });

  test('a registered event class with an event name too', async ({ project }) => {
    await eventsProject(project, `orders-${uid()}`);
    const r = await runMain(['emit', 'OrderShipped', 'order.shipped', '--json'], { cwd: project.dir, env: server.env });
    expect(r.code).toBe(2);
    expect(jsonOf('emit', r.stdout).error).toMatchObject({
      code: 'usage',
      message: '"OrderShipped" is a registered event class, and an event name was given too ("order.shipped"): an event class names its own event and channels',
      hint: "Send the class alone: broadcast emit OrderShipped --data '{...}'",
    });
  });

  test('--data no longer has a default: {"a":1} and {} with --file are both refused, and a single event without --data carries {}', async ({ uid: id }) => {
    const refused = await runMain(['emit', '--file', 'events.ndjson', '--data', '{}'], { env: server.env });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--data does not apply with --file');
    const to = await listen(server);
    try {
      await to.subscribe(`plain-${id}`);
      const r = await runMain(['emit', `plain-${id}`, 'e'], { env: server.env });
      expect(r.code).toBe(0);
      expect((await to.waitFor(1))[0]!.data).toEqual({});
    } finally {
      to.disconnect();
    }
  });
});

describe('a channel prefix that looks mistyped: a warning on stderr (and in `warnings`), or with --strict exit 2', () => {
  test('privat-…: still sent (a legal public channel), the warning suggests the prefix', async ({ uid: id }) => {
    const channel = `privat-orders-${id}`;
    const to = await listen(server);
    try {
      await to.subscribe(channel);
      const json = await runMain(['emit', channel, 'e', '--json'], { env: server.env });
      expect(json.code).toBe(0);
      const warning = `channel "${channel}" is a public channel (anyone can subscribe); did you mean "private-orders-${id}"?`;
      expect(jsonOf('emit', json.stdout)).toMatchObject({ ok: true, delivered: true, warnings: [warning] });
      expect(json.stderr).toBe(`warning: ${warning}\n`);
      const human = await runMain(['emit', channel, 'e'], { env: server.env });
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(/^✓ sent e to privat-orders-/);
      expect(human.stderr).toBe(`warning: ${warning}\n`);
      await to.waitFor(2);
    } finally {
      to.disconnect();
    }
  });

  test.each([
    ['presense-room', 'presence-room'],
    ['private_orders', 'private-orders'],
    ['Private-orders', 'private-orders'],
  ])('%s: --dry-run warns too, suggesting %s', async (channel, suggestion) => {
    const r = await runMain(['emit', `ok-channel,${channel}`, 'e', '--dry-run', '--json'], { env: server.env });
    expect(r.code).toBe(0);
    expect(jsonOf('emit', r.stdout).warnings).toEqual([`channel "${channel}" is a public channel (anyone can subscribe); did you mean "${suggestion}"?`]);
    expect(r.stderr).toContain(`did you mean "${suggestion}"?`);
  });

  test('--strict refuses it: exit 2 (invalid), nothing sent', async ({ uid: id }) => {
    const channel = `privat-strict-${id}`;
    const to = await listen(server);
    try {
      await to.subscribe(channel);
      const r = await runMain(['emit', channel, 'e', '--strict', '--json'], { env: server.env });
      expect(r.code).toBe(2);
      expect(jsonOf('emit', r.stdout).error).toMatchObject({
        code: 'invalid',
        message: `Channel "${channel}" looks like a mistyped "private-" prefix (did you mean "private-strict-${id}"?); refused with --strict`,
        details: { channel },
      });
      await settle(300);
      expect(to.received).toEqual([]);
    } finally {
      to.disconnect();
    }
  });

  test('a proper name: no warning, an empty `warnings`, quiet stderr (also with --strict)', async () => {
    const r = await runMain(['emit', 'private-orders,presence-room,orders', 'e', '--dry-run', '--strict', '--json'], { env: server.env });
    expect(r.code).toBe(0);
    expect(jsonOf('emit', r.stdout).warnings).toEqual([]);
    expect(r.stderr).toBe('');
  });
});

describe('the payload limit without a config file: --max-payload-kb and BROADCAST_MAX_PAYLOAD_KB', () => {
  // 50 KB: over Pusher's 10 KB default, under soketi's 100 KB.
  const data = JSON.stringify({ blob: 'x'.repeat(50_000) });

  test('env-only against soketi: refused at 10 KB by default, delivered with either setting', async ({ uid: id }) => {
    const channel = `big-${id}`;
    const to = await listen(server);
    try {
      await to.subscribe(channel);
      const capped = await runMain(['emit', channel, 'e', '--data', data, '--json'], { env: server.env });
      expect(capped.code).toBe(2);
      expect(jsonOf('emit', capped.stdout).error).toMatchObject({ code: 'invalid', message: expect.stringContaining('the limit for this connection is 10240 bytes') });
      expect(capped.stderr).toContain('--max-payload-kb or BROADCAST_MAX_PAYLOAD_KB');

      const viaEnv = await runMain(['emit', channel, 'e', '--data', data, '--json'], { env: { ...server.env, BROADCAST_MAX_PAYLOAD_KB: '100' } });
      expect(viaEnv.code).toBe(0);
      expect(jsonOf('emit', viaEnv.stdout)).toMatchObject({ delivered: true, bytes: 50_011 });
      const viaFlag = await runMain(['emit', channel, 'e', '--data', data, '--max-payload-kb', '100'], { env: server.env });
      expect(viaFlag.code).toBe(0);
      const got = await to.waitFor(2);
      expect((got[0]!.data as { blob: string }).blob).toHaveLength(50_000);
    } finally {
      to.disconnect();
    }
  });

  test('the flag wins over the variable', async () => {
    const r = await runMain(['emit', 'x', 'e', '--data', data, '--max-payload-kb', '20', '--dry-run'], { env: { ...server.env, BROADCAST_MAX_PAYLOAD_KB: '100' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('the limit for this connection is 20480 bytes (20 KB)');
  });

  test('emit --file checks each line against it too', async ({ project }) => {
    await writeFile(path.join(project.dir, 'events.ndjson'), `${JSON.stringify({ channel: 'a', event: 'e', data: JSON.parse(data) })}\n`);
    const capped = await runMain(['emit', '--file', 'events.ndjson', '--dry-run', '--json'], { cwd: project.dir, env: server.env });
    expect(capped.code).toBe(2);
    const raised = await runMain(['emit', '--file', 'events.ndjson', '--dry-run', '--json'], { cwd: project.dir, env: { ...server.env, BROADCAST_MAX_PAYLOAD_KB: '64' } });
    expect(raised.code).toBe(0);
    expect(jsonOf('emit', raised.stdout)).toMatchObject({ ok: true, events: 1 });
  });

  test.each([
    [['--max-payload-kb', '0'], {}, 'usage', `--max-payload-kb must be a positive number, not "0"`],
    [['--max-payload-kb', 'lots'], {}, 'usage', `--max-payload-kb must be a positive number, not "lots"`],
    [[], { BROADCAST_MAX_PAYLOAD_KB: '-5' }, 'config', 'BROADCAST_MAX_PAYLOAD_KB must be a positive number of KB, not "-5"'],
    [[], { BROADCAST_MAX_PAYLOAD_KB: '100kb' }, 'config', 'BROADCAST_MAX_PAYLOAD_KB must be a positive number of KB, not "100kb"'],
  ])('%j %j: exit 2 naming it', async (args, env, code, message) => {
    const r = await runMain(['emit', 'x', 'e', ...args, '--json'], { env: { ...server.env, ...env } });
    expect(r.code).toBe(2);
    expect(jsonOf('emit', r.stdout).error).toMatchObject({ code, message: expect.stringContaining(message) });
  });
});

describe('delivered means the server said so: a 200 that is not the Pusher API is a failure (exit 1)', () => {
  test('emit against a web page answering 200: not delivered, naming what came back', async () => {
    const fault = await serve((_n, _req, res) => html(res));
    const r = await runMain(['emit', 'orders', 'e', '--json'], { env: fault.env });
    expect(r.code).toBe(1);
    const doc = jsonOf('emit', r.stdout);
    expect(doc).not.toHaveProperty('delivered');
    expect(doc.error).toMatchObject({ code: 'delivery', exitCode: 1, details: { maybeDelivered: true } });
    expect(doc.error.message).toMatch(/^The server answered HTTP 200 with 95 bytes of text\/html; charset=utf-8 that is not JSON: "<!DOCTYPE html>/);
    expect(r.stderr).toContain('hint: Is it a Pusher server?');
  });

  test('emit --file against it: none of the events counted as sent', async ({ project }) => {
    const fault = await serve((_n, _req, res) => html(res));
    const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify({ channel: `c-${i % 5}`, event: 'tick', data: { i } })).join('\n');
    await writeFile(path.join(project.dir, 'events.ndjson'), `${lines}\n`);
    const r = await runMain(['emit', '--file', 'events.ndjson', '--json'], { cwd: project.dir, env: fault.env });
    expect(r.code).toBe(1);
    expect(jsonOf('emit', r.stdout)).toMatchObject({ ok: false, delivered: false, events: 50, sent: 0, failed: 50, error: { code: 'delivery' } });
  });
});

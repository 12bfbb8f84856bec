/**
 * `broadcast make:event` and `broadcast events` in throwaway projects, as a user runs them: generated classes
 * compile under `tsc --strict`, are listed at once, and `emit <Name>` delivers them to a real pusher-js client.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { BIN, ROOT, cleanEnv, runCli, tempProject } from '../helpers/cli.js';
import { afterAll, beforeAll, describe, expect, inject, test, uid } from '../helpers/fixtures.js';
import { listen, type Listener } from '../helpers/listener.js';
import { runMain } from '../helpers/main.js';
import { jsonOf } from '../helpers/schema.js';
import type { SoketiServer } from '../helpers/soketi.js';
import { openTerminal } from '../helpers/terminal.js';

const server = inject('soketi') as SoketiServer;
const exec = promisify(execFile);


describe('make:event with each channel type, then events and emit', () => {
  let p: Awaited<ReturnType<typeof tempProject>>;
  let listener: Listener;
  const id = uid();
  const masterKey = Buffer.alloc(32, 9).toString('base64');
  const env = { ...server.env, PUSHER_ENCRYPTION_MASTER_KEY_BASE64: masterKey };
  // name argument, flags, class, type, full channel pattern, payload field
  const cases = [
    ['ping-sent', ['--public', '--channel', 'pings.{runId}'], 'PingSent', 'public', 'pings.{runId}', 'runId'],
    ['order_shipped', ['--private', '--channel', 'orders.{orderId}', '--as', 'order.shipped'], 'OrderShipped', 'private', 'private-orders.{orderId}', 'orderId'],
    ['UserJoined', ['--presence', '--channel', 'room.{roomId}'], 'UserJoined', 'presence', 'presence-room.{roomId}', 'roomId'],
    ['secret-shared', ['--channel', 'private-encrypted-vault.{vaultId}'], 'SecretShared', 'encrypted', 'private-encrypted-vault.{vaultId}', 'vaultId'],
  ] as const;

  // One project for the whole sequence: write, type-check, list, send.
  beforeAll(async () => {
    p = await tempProject();
    // It also sees @types/node, as a real project would (the package's types use Buffer).
    await mkdir(path.join(p.dir, 'node_modules/@types'), { recursive: true });
    await symlink(path.join(ROOT, 'node_modules/@types/node'), path.join(p.dir, 'node_modules/@types/node'), 'dir');
    listener = await listen(server, { masterKey, user: { id: 7 } });
  });
  afterAll(async () => {
    listener?.disconnect();
    await p?.cleanup();
  });

  test('writes the files and reports each in JSON', async () => {
    const runs = await Promise.all(cases.map(([name, flags]) => runMain(['make:event', name, ...flags, '--json'], { cwd: p.dir })));
    runs.forEach((r, i) => {
      const [, , className, type, pattern] = cases[i]!;
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(jsonOf('make:event', r.stdout)).toEqual({
        ok: true,
        name: className,
        file: `src/events/${className}.ts`,
        channel: { type, name: pattern },
        params: [cases[i]![5]],
        as: className === 'OrderShipped' ? 'order.shipped' : className,
        written: true,
        existed: false,
        dryRun: false,
        // The fixture links the package without npm's .bin: the next step runs this copy by its path.
        cli: `node ${BIN}`,
      });
    });
    expect((await readdir(path.join(p.dir, 'src/events'))).sort()).toEqual(cases.map((c) => `${c[2]}.ts`).sort());
  });

  test('the generated files type-check with tsc --strict against the published types', async () => {
    const files = cases.map((c) => `src/events/${c[2]}.ts`);
    const tsc = path.join(ROOT, 'node_modules/.bin/tsc');
    const args = ['--strict', '--noEmit', '--noImplicitOverride', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', ...files];
    const result = await exec(tsc, args, { cwd: p.dir }).then(
      () => ({ code: 0, out: '' }),
      (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
    );
    expect(result.out).toBe('');
    expect(result.code).toBe(0);
  });

  test('events --json lists them at once, each channel as its pattern ({field}, never a rendered undefined), marked dynamic', async () => {
    const r = await runMain(['events', '--json'], { cwd: p.dir });
    expect(r.code).toBe(0);
    const { events, errors, eventsDir } = jsonOf('events', r.stdout);
    expect(errors).toEqual([]);
    expect(eventsDir).toBe('src/events');
    expect(events).toHaveLength(cases.length);
    for (const [, , className, type, pattern] of cases) {
      expect(events).toContainEqual({
        name: className,
        as: className === 'OrderShipped' ? 'order.shipped' : className,
        patterns: [pattern],
        channelTypes: [type],
        dynamic: true,
        source: `src/events/${className}.ts`,
      });
    }
    const text = await runMain(['events'], { cwd: p.dir });
    expect(text.stdout).toContain('OrderShipped  as "order.shipped"  src/events/OrderShipped.ts');
    expect(text.stdout).toContain('  private   private-orders.{orderId}  depends on the payload\n');
    expect(text.stdout + r.stdout).not.toContain('undefined');
    expect(text.stderr).toContain('{field} in a channel name is the payload field it is built from.');
  });

  test('emit <Name> delivers each to a pusher-js client on its own channel', async () => {
    const channels = cases.map(([, , , , pattern]) => pattern.replace(/\{\w+\}/, id));
    await Promise.all(channels.map((c) => listener.subscribe(c)));
    const runs = await Promise.all(
      cases.map(([, , className, , , field]) => runMain(['emit', className, '--data', JSON.stringify({ [field]: id, n: 1 })], { cwd: p.dir, env })),
    );
    runs.forEach((r) => {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    });
    const got = await listener.waitFor(cases.length, (e) => channels.includes(e.channel));
    for (const [i, [, , className, , , field]] of cases.entries()) {
      expect(got).toContainEqual({
        channel: channels[i],
        event: className === 'OrderShipped' ? 'order.shipped' : className,
        data: { [field]: id, n: 1 },
      });
    }
  });
});

describe('make:event refuses, writing nothing', () => {
  test.for([
    ['../Evil'],
    ['events/UserAdded'],
    ['a\\b'],
    ['user.added'],
    ['1stPlace'],
    ['UserAdded.ts'],
    ['has space'],
    [''],
    ['user__added'],
  ])('the name %j (exit 2)', async ([name], { project }) => {
    const r = await runMain(['make:event', name!, '--json'], { cwd: project.dir });
    expect(r.code).toBe(2);
    expect(jsonOf('make:event', r.stdout)).toMatchObject({ ok: false, error: { code: 'usage', exitCode: 2 } });
    expect(r.stderr).toContain(`Invalid event name ${JSON.stringify(name)}`);
    expect((await readdir(project.dir)).sort()).toEqual(['node_modules', 'package.json']);
  });

  test('conflicting channel flags (exit 2)', async ({ project }) => {
    const both = await runCli(['make:event', 'A', '--public', '--private'], { cwd: project.dir });
    expect(both.code).toBe(2);
    expect(both.stdout).toBe('');
    expect(both.stderr).toContain('Choose one channel type: --public and --private were given');
    const prefix = await runMain(['make:event', 'A', '--public', '--channel', 'private-a'], { cwd: project.dir });
    expect(prefix.code).toBe(2);
    expect(prefix.stderr).toContain('is a private channel, but --public was given');
    const dryForce = await runMain(['make:event', 'A', '--public', '--channel', 'a', '--dry-run', '--force', '--json'], { cwd: project.dir });
    expect(dryForce.code).toBe(2);
    expect(jsonOf('make:event', dryForce.stdout)).toMatchObject({ ok: false, error: { code: 'usage', message: expect.stringContaining('--dry-run and --force cannot go together') } });
    const connection = await runMain(['make:event', 'A', '--public', '--channel', 'a', '--connection', 'log'], { cwd: project.dir });
    expect(connection.code).toBe(2);
    expect(connection.stderr).toContain('make:event uses no connection: --connection "log" would be ignored');
    const bad = await runMain(['make:event', 'A', '--channel', 'a b', '--json'], { cwd: project.dir });
    expect(bad.code).toBe(2);
    expect(jsonOf('make:event', bad.stdout)).toMatchObject({ ok: false, error: { code: 'invalid', message: expect.stringContaining('Invalid channel name "a b"') } });
    expect((await readdir(project.dir)).sort()).toEqual(['node_modules', 'package.json']);
  });

  test('to overwrite an existing file without --force (exit 2, file unchanged); --force overwrites', async ({ project }) => {
    const file = path.join(project.dir, 'src/events/UserAdded.ts');
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, '// mine\n');
    const r = await runMain(['make:event', 'user-added', '--public'], { cwd: project.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('src/events/UserAdded.ts already exists; nothing was written');
    expect(r.stderr).toContain('--force');
    expect(await readFile(file, 'utf8')).toBe('// mine\n');
    const forced = await runMain(['make:event', 'user-added', '--public', '--force'], { cwd: project.dir });
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain('overwrote src/events/UserAdded.ts');
    expect(await readFile(file, 'utf8')).toContain("return new Channel('user-added');");
  });
});

describe('make:event without a terminal', () => {
  test('never prompts: takes the defaults (private, channel from the name), says so, and finishes', async ({ project }) => {
    const r = await runMain(['make:event', 'InvoicePaid'], { cwd: project.dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('no terminal to ask in: using the default private channel');
    expect(r.stderr).toContain('--channel <name>');
    expect(r.stdout).toContain('on the private channel private-invoice-paid');
    expect(r.stdout).toContain("browsers need an authorization rule for 'invoice-paid' in the config's `channels`");
    // How to send it, runnable from here: this copy by its path (no npm .bin in the fixture), npx where npm linked it.
    expect(r.stdout).toContain(`  send it: node ${BIN} emit InvoicePaid --data '{}'\n`);
    const source = await readFile(path.join(project.dir, 'src/events/InvoicePaid.ts'), 'utf8');
    expect(source).toContain("return new PrivateChannel('invoice-paid');");
    // --yes takes the same defaults without the note.
    await mkdir(path.join(project.dir, 'node_modules/.bin'));
    await symlink('../pusher-broadcast/bin/broadcast.js', path.join(project.dir, 'node_modules/.bin/broadcast'));
    const quiet = await runMain(['make:event', 'InvoiceSent', '--yes'], { cwd: project.dir });
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
    expect(quiet.stdout).toContain("  send it: npx broadcast emit InvoiceSent --data '{}'\n");
  });

  test('--dry-run prints the file and writes nothing; with --json the content is in the document', async ({ project }) => {
    const r = await runMain(['make:event', 'Shown', '--public', '--channel', 'news', '--dry-run'], { cwd: project.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('export class Shown extends CanBroadcast {');
    expect(r.stderr).toContain('dry run: would write src/events/Shown.ts');
    const j = await runMain(['make:event', 'Shown', '--public', '--channel', 'news', '--dry-run', '--json'], { cwd: project.dir });
    expect(jsonOf('make:event', j.stdout)).toMatchObject({ ok: true, written: false, existed: false, dryRun: true, channel: { type: 'public', name: 'news' }, content: r.stdout });
    expect((await readdir(project.dir)).sort()).toEqual(['node_modules', 'package.json']);
  });

  test('uses the config eventsDir, and --dir (with a warning when the registry will not look there)', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.json'), JSON.stringify({ eventsDir: 'app/broadcast' }));
    const r = await runMain(['make:event', 'A', '--yes', '--json'], { cwd: project.dir });
    expect(jsonOf('make:event', r.stdout)).toMatchObject({ file: 'app/broadcast/A.ts', written: true });
    const elsewhere = await runMain(['make:event', 'B', '--yes', '--dir', 'lib'], { cwd: project.dir });
    expect(elsewhere.code).toBe(0);
    expect(elsewhere.stdout).toContain('created lib/B.ts');
    expect(elsewhere.stderr).toContain('lib is outside the events folder app/broadcast');
    const listed = jsonOf('events', (await runMain(['events', '--json'], { cwd: project.dir })).stdout);
    expect(listed.events.map((e: { name: string }) => e.name)).toEqual(['A']);
    expect(listed.eventsDir).toBe('app/broadcast');
  });
});

describe('events', () => {
  test('reports a module that fails to load with its path and still lists the others', async ({ project }) => {
    await mkdir(path.join(project.dir, 'src/events'), { recursive: true });
    await writeFile(path.join(project.dir, 'src/events/Broken.ts'), "throw new Error('kaboom');\n");
    await runMain(['make:event', 'Fine', '--public', '--channel', 'fine', '--yes'], { cwd: project.dir });
    const r = await runMain(['events', '--json'], { cwd: project.dir });
    expect(r.code).toBe(0);
    const doc = jsonOf('events', r.stdout);
    expect(doc.events).toEqual([
      { name: 'Fine', as: 'Fine', patterns: ['fine'], channelTypes: ['public'], dynamic: false, source: 'src/events/Fine.ts' },
    ]);
    expect(doc.errors).toEqual([{ source: 'src/events/Broken.ts', message: expect.stringContaining('kaboom') }]);
    expect(r.stderr).toContain('warning: could not load src/events/Broken.ts: kaboom');
  });

  test('a name from a nested field (which throws with an empty payload) shows its pattern; a name chosen by a condition is marked', async ({ project }) => {
    await mkdir(path.join(project.dir, 'src/events'), { recursive: true });
    await writeFile(
      path.join(project.dir, 'src/events/Joined.ts'),
      "import { CanBroadcast, PresenceChannel } from 'pusher-broadcast';\n" +
        'export class Joined extends CanBroadcast {\n  declare room: { id: string };\n  broadcastOn() { return new PresenceChannel(`room.${this.room.id}`); }\n}\n',
    );
    await writeFile(
      path.join(project.dir, 'src/events/Flagged.ts'),
      "import { CanBroadcast } from 'pusher-broadcast';\nexport class Flagged extends CanBroadcast {\n  declare admin?: boolean;\n  broadcastOn() { return this.admin ? 'admins' : 'users'; }\n}\n",
    );
    const json = await runMain(['events', '--json'], { cwd: project.dir });
    expect(json.code).toBe(0);
    const { events } = jsonOf('events', json.stdout);
    expect(events).toEqual([
      { name: 'Flagged', as: 'Flagged', patterns: ['users'], channelTypes: ['public'], dynamic: true, source: 'src/events/Flagged.ts' },
      {
        name: 'Joined',
        as: 'Joined',
        patterns: ['presence-room.{room.id}'],
        channelTypes: ['presence'],
        dynamic: true,
        source: 'src/events/Joined.ts',
        error: expect.stringMatching(/^broadcastOn\(\) failed with an empty payload: /),
      },
    ]);
    const text = await runMain(['events'], { cwd: project.dir });
    expect(text.stdout).toContain('  public    users  depends on the payload (shown as it resolves with an empty payload)\n');
    expect(text.stdout).toContain('  presence  presence-room.{room.id}  depends on the payload\n');
    expect(text.stdout).not.toMatch(/-room\.undefined/);
  });

  test('lists a class re-exported by an index file once, under its own file; warns about two classes with one name', async ({ project }) => {
    await runMain(['make:event', 'Fine', '--public', '--channel', 'fine', '--yes'], { cwd: project.dir });
    await writeFile(path.join(project.dir, 'src/events/index.ts'), "export * from './Fine.js';\n");
    const once = jsonOf('events', (await runMain(['events', '--json'], { cwd: project.dir })).stdout);
    expect(once.events.map((e: { source: string }) => e.source)).toEqual(['src/events/Fine.ts']);
    await writeFile(
      path.join(project.dir, 'src/events/Other.ts'),
      "import { CanBroadcast } from 'pusher-broadcast';\nexport class Fine extends CanBroadcast { broadcastOn() { return 'other'; } }\n",
    );
    const twice = await runMain(['events'], { cwd: project.dir });
    expect(twice.code).toBe(0);
    expect(twice.stderr).toContain('Fine is exported by src/events/Fine.ts and src/events/Other.ts; `broadcast emit Fine` uses the first');
  });

  test('refuses --connection, which it would ignore (exit 2)', async ({ project }) => {
    const r = await runMain(['events', '--connection', 'log', '--json'], { cwd: project.dir });
    expect(r.code).toBe(2);
    expect(jsonOf('events', r.stdout)).toMatchObject({ ok: false, error: { code: 'usage', message: 'events uses no connection: --connection "log" would be ignored', exitCode: 2 } });
  });

  test('fails (exit 2, code "config") when nothing could be loaded; exit 0 with a hint when nothing is registered', async ({ project }) => {
    const empty = await runCli(['events'], { cwd: project.dir });
    expect(empty.code).toBe(0);
    expect(empty.stdout).toContain('No events registered. Create one: broadcast make:event OrderShipped (it goes to src/events)');
    await mkdir(path.join(project.dir, 'src/events'), { recursive: true });
    await writeFile(path.join(project.dir, 'src/events/Broken.ts'), 'export const = ;\n');
    const broken = await runCli(['events', '--json'], { cwd: project.dir });
    expect(broken.code).toBe(2);
    expect(jsonOf('events', broken.stdout)).toMatchObject({
      ok: false,
      events: [],
      errors: [{ source: 'src/events/Broken.ts' }],
      error: { code: 'config', message: 'No event could be loaded: src/events/Broken.ts failed', exitCode: 2 },
    });
    expect(broken.stderr).toContain('warning: could not load src/events/Broken.ts');
  });
});

describe('make:event in a terminal (tmux)', () => {
  const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} make:event`;

  test('asks on the terminal, even with stdout redirected; Enter accepts the defaults and only the result goes to stdout', async ({ project }) => {
    const term = await openTerminal(`${command} user-added > made.txt`, { cwd: project.dir, env: cleanEnv() });
    try {
      await term.waitFor(/Channel type[\s\S]*❯ private/);
      await term.send('Enter');
      await term.waitFor(/Channel name .*\(user-added\)/);
      await term.send('Enter');
      const screen = await term.waitFor(/EXIT=\d+/);
      expect(screen).toContain('EXIT=0');
    } finally {
      await term.close();
    }
    const made = await readFile(path.join(project.dir, 'made.txt'), 'utf8');
    expect(made).toMatch(/^✓ created src\/events\/UserAdded\.ts\n/);
    expect(made).not.toContain('Channel');
    const source = await readFile(path.join(project.dir, 'src/events/UserAdded.ts'), 'utf8');
    expect(source).toContain("return new PrivateChannel('user-added');");
  });

  test('takes a chosen type and a typed channel name, re-asking after an invalid one', async ({ project }) => {
    const term = await openTerminal(`${command} RoomJoined --as room.joined`, { cwd: project.dir, env: cleanEnv() });
    try {
      await term.waitFor(/Channel type[\s\S]*❯ private/);
      await term.send('Down');
      await term.waitFor(/❯ presence/);
      await term.send('Enter');
      await term.waitFor(/Channel name .*\(room-joined\)/);
      await term.type('bad name');
      await term.send('Enter');
      await term.waitFor(/Invalid channel name "bad name"/);
      await term.send('C-u');
      await term.type('rooms.{roomId}');
      await term.send('Enter');
      const screen = await term.waitFor(/EXIT=\d+/);
      expect(screen).toContain('EXIT=0');
      expect(screen).toContain('on the presence channel presence-rooms.{roomId}');
    } finally {
      await term.close();
    }
    const source = await readFile(path.join(project.dir, 'src/events/RoomJoined.ts'), 'utf8');
    expect(source).toContain('return new PresenceChannel(`rooms.${this.roomId}`);');
    expect(source).toContain("return 'room.joined';");
  });
});

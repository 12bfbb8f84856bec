/**
 * `broadcast make:event` and `broadcast events` in throwaway projects, as a user runs them: generated classes
 * compile under `tsc --strict`, are listed at once, and `emit <Name>` delivers them to a real pusher-js client.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BIN, ROOT, cleanEnv, runCli, tempProject } from '../helpers/cli.js';
import { listen, type Listener } from '../helpers/listener.js';
import type { SoketiServer } from '../helpers/soketi.js';
import { openTerminal } from '../helpers/terminal.js';

const server = inject('soketi') as SoketiServer;
const uid = () => Math.random().toString(36).slice(2, 10);
const exec = promisify(execFile);

/** A temp project that also sees @types/node, as a real one would (the package's types use Buffer). */
async function project() {
  const p = await tempProject();
  await mkdir(path.join(p.dir, 'node_modules/@types'), { recursive: true });
  await symlink(path.join(ROOT, 'node_modules/@types/node'), path.join(p.dir, 'node_modules/@types/node'), 'dir');
  return p;
}

describe('make:event with each channel type, then events and emit', () => {
  let p: Awaited<ReturnType<typeof project>>;
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

  beforeAll(async () => {
    p = await project();
    listener = await listen(server, { masterKey, user: { id: 7 } });
  });
  afterAll(async () => {
    listener?.disconnect();
    await p?.cleanup();
  });

  it('writes the files and reports each in JSON', async () => {
    const runs = await Promise.all(cases.map(([name, flags]) => runCli(['make:event', name, ...flags, '--json'], { cwd: p.dir })));
    runs.forEach((r, i) => {
      const [, , className, type, pattern] = cases[i]!;
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({
        ok: true,
        name: className,
        file: `src/events/${className}.ts`,
        channel: { type, name: pattern },
        params: [cases[i]![5]],
        as: className === 'OrderShipped' ? 'order.shipped' : className,
        written: true,
        dryRun: false,
      });
    });
    expect((await readdir(path.join(p.dir, 'src/events'))).sort()).toEqual(cases.map((c) => `${c[2]}.ts`).sort());
  });

  it('the generated files type-check with tsc --strict against the published types', async () => {
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

  it('events --json lists them at once, with names resolved from an empty payload and marked dynamic', async () => {
    const r = await runCli(['events', '--json'], { cwd: p.dir });
    expect(r.code).toBe(0);
    const { events, errors } = JSON.parse(r.stdout);
    expect(errors).toEqual([]);
    expect(events).toHaveLength(cases.length);
    for (const [, , className, type, pattern] of cases) {
      expect(events).toContainEqual({
        name: className,
        as: className === 'OrderShipped' ? 'order.shipped' : className,
        channels: [pattern.replace(/\{\w+\}/, 'undefined')],
        patterns: [pattern],
        channelTypes: [type],
        dynamic: true,
        source: `src/events/${className}.ts`,
      });
    }
    const text = await runCli(['events'], { cwd: p.dir });
    expect(text.stdout).toContain('OrderShipped  as "order.shipped"  src/events/OrderShipped.ts');
    expect(text.stdout).toContain('private-orders.undefined  depends on the payload: private-orders.{orderId}');
  });

  it('emit <Name> delivers each to a pusher-js client on its own channel', async () => {
    const channels = cases.map(([, , , , pattern]) => pattern.replace(/\{\w+\}/, id));
    await Promise.all(channels.map((c) => listener.subscribe(c)));
    const runs = await Promise.all(
      cases.map(([, , className, , , field]) => runCli(['emit', className, '--data', JSON.stringify({ [field]: id, n: 1 })], { cwd: p.dir, env })),
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
  it.each([
    ['../Evil'],
    ['events/UserAdded'],
    ['a\\b'],
    ['user.added'],
    ['1stPlace'],
    ['UserAdded.ts'],
    ['has space'],
    [''],
    ['user__added'],
  ])('the name %j (exit 2)', async (name) => {
    const p = await tempProject();
    try {
      const r = await runCli(['make:event', name, '--json'], { cwd: p.dir });
      expect(r.code).toBe(2);
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { code: 'usage', exitCode: 2 } });
      expect(r.stderr).toContain(`Invalid event name ${JSON.stringify(name)}`);
      expect((await readdir(p.dir)).sort()).toEqual(['node_modules', 'package.json']);
    } finally {
      await p.cleanup();
    }
  });

  it('conflicting channel flags (exit 2)', async () => {
    const p = await tempProject();
    try {
      const both = await runCli(['make:event', 'A', '--public', '--private'], { cwd: p.dir });
      expect(both.code).toBe(2);
      expect(both.stderr).toContain('Choose one channel type: --public and --private were given');
      const prefix = await runCli(['make:event', 'A', '--public', '--channel', 'private-a'], { cwd: p.dir });
      expect(prefix.code).toBe(2);
      expect(prefix.stderr).toContain('is a private channel, but --public was given');
      const bad = await runCli(['make:event', 'A', '--channel', 'a b'], { cwd: p.dir });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('Invalid channel name "a b"');
      expect((await readdir(p.dir)).sort()).toEqual(['node_modules', 'package.json']);
    } finally {
      await p.cleanup();
    }
  });

  it('to overwrite an existing file without --force (exit 2, file unchanged); --force overwrites', async () => {
    const p = await tempProject();
    try {
      const file = path.join(p.dir, 'src/events/UserAdded.ts');
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, '// mine\n');
      const r = await runCli(['make:event', 'user-added', '--public'], { cwd: p.dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('src/events/UserAdded.ts already exists; nothing was written');
      expect(r.stderr).toContain('--force');
      expect(await readFile(file, 'utf8')).toBe('// mine\n');
      const forced = await runCli(['make:event', 'user-added', '--public', '--force'], { cwd: p.dir });
      expect(forced.code).toBe(0);
      expect(forced.stdout).toContain('overwrote src/events/UserAdded.ts');
      expect(await readFile(file, 'utf8')).toContain("return new Channel('user-added');");
    } finally {
      await p.cleanup();
    }
  });
});

describe('make:event without a terminal', () => {
  it('never prompts: takes the defaults (private, channel from the name), says so, and finishes', async () => {
    const p = await tempProject();
    try {
      const r = await runCli(['make:event', 'InvoicePaid'], { cwd: p.dir, timeoutMs: 10_000 });
      expect(r.code).toBe(0);
      expect(r.stderr).toContain('no terminal to ask in: using the default private channel');
      expect(r.stderr).toContain('--channel <name>');
      expect(r.stdout).toContain('on the private channel private-invoice-paid');
      const source = await readFile(path.join(p.dir, 'src/events/InvoicePaid.ts'), 'utf8');
      expect(source).toContain("return new PrivateChannel('invoice-paid');");
      // --yes takes the same defaults without the note.
      const quiet = await runCli(['make:event', 'InvoiceSent', '--yes'], { cwd: p.dir, timeoutMs: 10_000 });
      expect(quiet.code).toBe(0);
      expect(quiet.stderr).toBe('');
    } finally {
      await p.cleanup();
    }
  });

  it('--dry-run prints the file and writes nothing; with --json the content is in the document', async () => {
    const p = await tempProject();
    try {
      const r = await runCli(['make:event', 'Shown', '--public', '--channel', 'news', '--dry-run'], { cwd: p.dir });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('export class Shown extends CanBroadcast {');
      expect(r.stderr).toContain('dry run: would write src/events/Shown.ts');
      const j = await runCli(['make:event', 'Shown', '--public', '--channel', 'news', '--dry-run', '--json'], { cwd: p.dir });
      expect(JSON.parse(j.stdout)).toMatchObject({ ok: true, written: false, dryRun: true, channel: { type: 'public', name: 'news' }, content: r.stdout });
      expect((await readdir(p.dir)).sort()).toEqual(['node_modules', 'package.json']);
    } finally {
      await p.cleanup();
    }
  });

  it('uses the config eventsDir, and --dir (with a warning when the registry will not look there)', async () => {
    const p = await tempProject();
    try {
      await writeFile(path.join(p.dir, 'broadcast.config.json'), JSON.stringify({ eventsDir: 'app/broadcast' }));
      const r = await runCli(['make:event', 'A', '--yes', '--json'], { cwd: p.dir });
      expect(JSON.parse(r.stdout)).toMatchObject({ file: 'app/broadcast/A.ts', written: true });
      const elsewhere = await runCli(['make:event', 'B', '--yes', '--dir', 'lib'], { cwd: p.dir });
      expect(elsewhere.code).toBe(0);
      expect(elsewhere.stdout).toContain('created lib/B.ts');
      expect(elsewhere.stderr).toContain('lib is outside the events folder app/broadcast');
      const listed = JSON.parse((await runCli(['events', '--json'], { cwd: p.dir })).stdout);
      expect(listed.events.map((e: { name: string }) => e.name)).toEqual(['A']);
    } finally {
      await p.cleanup();
    }
  });
});

describe('events', () => {
  it('reports a module that fails to load with its path and still lists the others', async () => {
    const p = await tempProject();
    try {
      await mkdir(path.join(p.dir, 'src/events'), { recursive: true });
      await writeFile(path.join(p.dir, 'src/events/Broken.ts'), "throw new Error('kaboom');\n");
      await runCli(['make:event', 'Fine', '--public', '--channel', 'fine', '--yes'], { cwd: p.dir });
      const r = await runCli(['events', '--json'], { cwd: p.dir });
      expect(r.code).toBe(0);
      const doc = JSON.parse(r.stdout);
      expect(doc.events).toEqual([
        { name: 'Fine', as: 'Fine', channels: ['fine'], patterns: ['fine'], channelTypes: ['public'], dynamic: false, source: 'src/events/Fine.ts' },
      ]);
      expect(doc.errors).toEqual([{ source: 'src/events/Broken.ts', message: expect.stringContaining('kaboom') }]);
      expect(r.stderr).toContain('warning: could not load src/events/Broken.ts: kaboom');
    } finally {
      await p.cleanup();
    }
  });

  it('lists a class re-exported by an index file once, under its own file; warns about two classes with one name', async () => {
    const p = await tempProject();
    try {
      await runCli(['make:event', 'Fine', '--public', '--channel', 'fine', '--yes'], { cwd: p.dir });
      await writeFile(path.join(p.dir, 'src/events/index.ts'), "export * from './Fine.js';\n");
      const once = JSON.parse((await runCli(['events', '--json'], { cwd: p.dir })).stdout);
      expect(once.events.map((e: { source: string }) => e.source)).toEqual(['src/events/Fine.ts']);
      await writeFile(
        path.join(p.dir, 'src/events/Other.ts'),
        "import { CanBroadcast } from 'pusher-broadcast';\nexport class Fine extends CanBroadcast { broadcastOn() { return 'other'; } }\n",
      );
      const twice = await runCli(['events'], { cwd: p.dir });
      expect(twice.code).toBe(0);
      expect(twice.stderr).toContain('Fine is exported by src/events/Fine.ts and src/events/Other.ts; `broadcast emit Fine` uses the first');
    } finally {
      await p.cleanup();
    }
  });

  it('exits 1 when nothing could be loaded, 0 with a hint when nothing is registered', async () => {
    const p = await tempProject();
    try {
      const empty = await runCli(['events'], { cwd: p.dir });
      expect(empty.code).toBe(0);
      expect(empty.stdout).toContain('No events registered. Create one: broadcast make:event');
      await mkdir(path.join(p.dir, 'src/events'), { recursive: true });
      await writeFile(path.join(p.dir, 'src/events/Broken.ts'), 'export const = ;\n');
      const broken = await runCli(['events', '--json'], { cwd: p.dir });
      expect(broken.code).toBe(1);
      expect(JSON.parse(broken.stdout)).toMatchObject({ events: [], errors: [{ source: 'src/events/Broken.ts' }] });
    } finally {
      await p.cleanup();
    }
  });
});

describe('make:event in a terminal (tmux)', () => {
  const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} make:event`;

  it('asks for the channel type and name; Enter accepts the defaults and the file is written', async () => {
    const p = await tempProject();
    const term = await openTerminal(`${command} user-added`, { cwd: p.dir, env: cleanEnv() });
    try {
      await term.waitFor(/Channel type[\s\S]*❯ private/);
      await term.send('Enter');
      await term.waitFor(/Channel name .*\(user-added\)/);
      await term.send('Enter');
      const screen = await term.waitFor(/EXIT=\d+/);
      expect(screen).toContain('EXIT=0');
      expect(screen).toContain('created src/events/UserAdded.ts');
      const source = await readFile(path.join(p.dir, 'src/events/UserAdded.ts'), 'utf8');
      expect(source).toContain("return new PrivateChannel('user-added');");
    } finally {
      await term.close();
      await p.cleanup();
    }
  });

  it('takes a chosen type and a typed channel name, re-asking after an invalid one', async () => {
    const p = await tempProject();
    const term = await openTerminal(`${command} RoomJoined --as room.joined`, { cwd: p.dir, env: cleanEnv() });
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
      const source = await readFile(path.join(p.dir, 'src/events/RoomJoined.ts'), 'utf8');
      expect(source).toContain('return new PresenceChannel(`rooms.${this.roomId}`);');
      expect(source).toContain("return 'room.joined';");
    } finally {
      await term.close();
      await p.cleanup();
    }
  });
});

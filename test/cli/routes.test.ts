/**
 * `broadcast routes`: the auth route a web app mounts and the channel rules, from a real project's config.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findPatternLine } from '../../src/cli/commands/routes.js';
import { runCli, tempProject } from '../helpers/cli.js';

const CONFIG = `import { defineConfig } from 'pusher-broadcast';

export default defineConfig({
  auth: { route: '/api/broadcasting/auth', middleware: ['web', 'auth'] },
  channels: {
    'orders.{orderId}': (user, { orderId }) => Number(orderId) === user.id,
    'room.{roomId}': {
      type: 'presence',
      authorize: (user) => ({ name: String(user.name) }),
    },
    admin: { type: ['private'], authorize: (user) => user.id === 1 },
  },
});
`;

describe('routes', () => {
  let project: Awaited<ReturnType<typeof tempProject>>;
  beforeAll(async () => {
    project = await tempProject();
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), CONFIG);
  });
  afterAll(() => project.cleanup());

  it('prints the route table and the channel rules with where each is defined', async () => {
    const r = await runCli(['routes'], { cwd: project.dir });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines).toContain('  METHOD  PATH                    NAME                    HANDLER            MIDDLEWARE  CSRF-EXEMPT');
    expect(lines).toContain('  POST    /api/broadcasting/auth  broadcasting.authorize  createAuthHandler  web, auth   yes');
    expect(lines).toContain('  PATTERN           CHANNELS           PARAMS   DEFINED AT');
    expect(lines).toContain('  orders.{orderId}  private, presence  orderId  broadcast.config.ts:6');
    expect(lines).toContain('  room.{roomId}     presence           roomId   broadcast.config.ts:7');
    expect(lines).toContain('  admin             private            -        broadcast.config.ts:11');
  });

  it('--json prints { routes, channels }', async () => {
    const r = await runCli(['routes', '--json'], { cwd: project.dir });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      routes: [
        {
          method: 'POST',
          path: '/api/broadcasting/auth',
          name: 'broadcasting.authorize',
          handler: 'createAuthHandler',
          middleware: ['web', 'auth'],
          csrfExempt: true,
          description: expect.any(String),
        },
      ],
      channels: [
        { pattern: 'orders.{orderId}', types: ['private', 'presence'], params: ['orderId'], definedAt: 'broadcast.config.ts:6' },
        { pattern: 'room.{roomId}', types: ['presence'], params: ['roomId'], definedAt: 'broadcast.config.ts:7' },
        { pattern: 'admin', types: ['private'], params: [], definedAt: 'broadcast.config.ts:11' },
      ],
    });
  });

  it('with no config: the default route, and a note that any authenticated user is authorized', async () => {
    const empty = await tempProject();
    try {
      const r = await runCli(['routes'], { cwd: empty.dir });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('POST    /broadcasting/authorize  broadcasting.authorize  createAuthHandler  -           yes');
      expect(r.stdout).toContain('none: any authenticated user may subscribe to any private or presence channel');
      const json = await runCli(['routes', '--json'], { cwd: empty.dir });
      expect(JSON.parse(json.stdout)).toMatchObject({ routes: [{ path: '/broadcasting/authorize', middleware: [] }], channels: [] });
    } finally {
      await empty.cleanup();
    }
  });

  it('exits 2 naming a rule that cannot work (a prefixed pattern, a rule in a JSON config)', async () => {
    const bad = await tempProject();
    try {
      await writeFile(path.join(bad.dir, 'broadcast.config.ts'), "export default { channels: { 'private-orders.{id}': () => true } };\n");
      const prefixed = await runCli(['routes'], { cwd: bad.dir });
      expect(prefixed.code).toBe(2);
      expect(prefixed.stderr).toContain('Channel rule "private-orders.{id}": write the pattern without the "private-" prefix');
      await writeFile(path.join(bad.dir, 'rules.json'), JSON.stringify({ channels: { 'orders.{id}': true } }));
      const json = await runCli(['routes', '--json', '--config', 'rules.json'], { cwd: bad.dir });
      expect(json.code).toBe(2);
      expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, error: { code: 'config', hint: expect.stringContaining('not in a JSON config') } });
    } finally {
      await bad.cleanup();
    }
  });
});

describe('finding where a pattern is defined', () => {
  it('finds quoted keys, bare keys and method shorthand, preferring the channels block', () => {
    const source = "const x = { 'a.{id}': 1 };\nexport default {\n  channels: {\n    'a.{id}': () => true,\n    b: () => true,\n    \"c\"(user) { return true; },\n  },\n};\n";
    expect(findPatternLine(source, 'a.{id}')).toBe(4);
    expect(findPatternLine(source, 'b')).toBe(5);
    expect(findPatternLine(source, 'c')).toBe(6);
    expect(findPatternLine(source, 'missing')).toBeUndefined();
  });
});

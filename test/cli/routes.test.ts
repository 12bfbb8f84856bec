/**
 * `broadcast routes`: the auth route a web app mounts and the channel rules, from a real project's config.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { findPatternLine } from '../../src/cli/commands/routes.js';
import { runCli } from '../helpers/cli.js';
import { describe, expect, test } from '../helpers/fixtures.js';
import { runMain } from '../helpers/main.js';
import { jsonOf } from '../helpers/schema.js';

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
  test('prints the route table and the channel rules with where each is defined (built binary)', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), CONFIG);
    const r = await runCli(['routes'], { cwd: project.dir });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines).toContain('  METHOD  PATH                     NAME                    HANDLER            MIDDLEWARE  CSRF-EXEMPT');
    expect(lines).toContain('  POST    /api/broadcasting/auth   broadcasting.authorize  createAuthHandler  web, auth   yes');
    // Laravel Echo's default authEndpoint and its user sign-in endpoint, answered by the same handler.
    expect(lines).toContain('  POST    /broadcasting/auth       broadcasting.auth       createAuthHandler  web, auth   yes');
    expect(lines).toContain('  POST    /broadcasting/user-auth  broadcasting.user-auth  createAuthHandler  web, auth   yes');
    expect(lines).toContain('  PATTERN           CHANNELS           PARAMS   DEFINED AT');
    expect(lines).toContain('  orders.{orderId}  private, presence  orderId  broadcast.config.ts:6');
    expect(lines).toContain('  room.{roomId}     presence           roomId   broadcast.config.ts:7');
    expect(lines).toContain('  admin             private            -        broadcast.config.ts:11');
  });

  test('--json prints { ok, routes, channels }', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), CONFIG);
    const r = await runMain(['routes', '--json'], { cwd: project.dir });
    expect(r.code).toBe(0);
    expect(jsonOf('routes', r.stdout)).toEqual({
      ok: true,
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
        {
          method: 'POST',
          path: '/broadcasting/auth',
          name: 'broadcasting.auth',
          handler: 'createAuthHandler',
          middleware: ['web', 'auth'],
          csrfExempt: true,
          description: expect.stringContaining('Laravel Echo'),
        },
        {
          method: 'POST',
          path: '/broadcasting/user-auth',
          name: 'broadcasting.user-auth',
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

  test('with no config: the default routes (Masonite\'s, Echo\'s, the user route), and a note that any authenticated user is authorized', async ({ project }) => {
    const r = await runMain(['routes'], { cwd: project.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('POST    /broadcasting/authorize  broadcasting.authorize  createAuthHandler  -           yes');
    expect(r.stdout).toContain('POST    /broadcasting/auth       broadcasting.auth       createAuthHandler  -           yes');
    expect(r.stdout).toContain('POST    /broadcasting/user-auth  broadcasting.user-auth  createAuthHandler  -           yes');
    expect(r.stdout).toContain('none: any authenticated user may subscribe to any private or presence channel');
    const json = await runMain(['routes', '--json'], { cwd: project.dir });
    expect(jsonOf('routes', json.stdout)).toMatchObject({
      ok: true,
      routes: [{ path: '/broadcasting/authorize', middleware: [] }, { path: '/broadcasting/auth' }, { path: '/broadcasting/user-auth' }],
      channels: [],
    });
  });

  test('refuses --connection, which it would ignore (exit 2)', async ({ project }) => {
    const r = await runMain(['--connection', 'log', 'routes', '--json'], { cwd: project.dir });
    expect(r.code).toBe(2);
    expect(jsonOf('routes', r.stdout)).toMatchObject({ ok: false, error: { code: 'usage', message: 'routes uses no connection: --connection "log" would be ignored', exitCode: 2 } });
  });

  test('exits 2 naming a rule that cannot work (a prefixed pattern, a rule in a JSON config)', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), "export default { channels: { 'private-orders.{id}': () => true } };\n");
    const prefixed = await runCli(['routes'], { cwd: project.dir });
    expect(prefixed.code).toBe(2);
    expect(prefixed.stdout).toBe('');
    expect(prefixed.stderr).toContain('Channel rule "private-orders.{id}": write the pattern without the "private-" prefix');
    await writeFile(path.join(project.dir, 'rules.json'), JSON.stringify({ channels: { 'orders.{id}': true } }));
    const json = await runMain(['routes', '--json', '--config', 'rules.json'], { cwd: project.dir });
    expect(json.code).toBe(2);
    expect(jsonOf('routes', json.stdout)).toMatchObject({ ok: false, error: { code: 'config', exitCode: 2, hint: expect.stringContaining('not in a JSON config') } });
  });
});

describe('finding where a pattern is defined', () => {
  test('finds quoted keys, bare keys and method shorthand, preferring the channels block', () => {
    const source = "const x = { 'a.{id}': 1 };\nexport default {\n  channels: {\n    'a.{id}': () => true,\n    b: () => true,\n    \"c\"(user) { return true; },\n  },\n};\n";
    expect(findPatternLine(source, 'a.{id}')).toBe(4);
    expect(findPatternLine(source, 'b')).toBe(5);
    expect(findPatternLine(source, 'c')).toBe(6);
    expect(findPatternLine(source, 'missing')).toBeUndefined();
  });
});

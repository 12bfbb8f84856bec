/**
 * Fail loudly, leak nothing (issues 12 and 13): every wrong value of a connection, from the environment or the
 * config file, every misshapen config and every hostile config script ends the command with exit 2, code
 * `config`, one message naming the variable or file (and line and column) and no stack trace, before anything
 * is sent and without quoting the file's text. A host given with its port or scheme is split, and works.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../helpers/cli.js';
import { faultServers } from '../helpers/fault-server.js';
import { afterAll, describe, expect, inject, test, uid } from '../helpers/fixtures.js';
import { listen } from '../helpers/listener.js';
import { runMain } from '../helpers/main.js';
import { jsonOf } from '../helpers/schema.js';
import type { SoketiServer } from '../helpers/soketi.js';

const server = inject('soketi') as SoketiServer;
const serve = faultServers(afterAll);
const SECRET = 'hostile-secret-7364';

/** A refusal as a user sees it: exit 2, code `config`, one line naming the problem, no stack trace. */
function expectRefusal(r: { code: number | null; stdout: string; stderr: string }, command: string, message: string | RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  const { error } = jsonOf(command, r.stdout);
  expect(error).toMatchObject({ code: 'config', exitCode: 2 });
  if (typeof message === 'string') expect(error.message).toBe(message);
  else expect(error.message).toMatch(message);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stdout + r.stderr).not.toContain(SECRET);
}

describe('connection values, checked when resolved: before anything is sent', () => {
  test('a host given with its port or scheme is split into scheme, host and port, and events arrive', async () => {
    const channel = `split-${uid()}`;
    const to = await listen(server);
    try {
      await to.subscribe(channel);
      const { PUSHER_PORT: port, PUSHER_SCHEME: _scheme, PUSHER_HOST: _host, ...credentials } = server.env;
      for (const env of [
        { ...credentials, PUSHER_HOST: `http://127.0.0.1:${port}` },
        { ...credentials, PUSHER_HOST: `127.0.0.1:${port}`, PUSHER_SCHEME: 'http' },
        { ...credentials, PUSHER_HOST: `http://127.0.0.1:${port}`, PUSHER_PORT: port!, PUSHER_SCHEME: 'http' },
      ]) {
        const r = await runMain(['emit', channel, 'split.host', '--json'], { env });
        expect(r.code, r.stderr).toBe(0);
        expect(jsonOf('emit', r.stdout)).toMatchObject({ delivered: true });
        const shown = jsonOf('config', (await runMain(['config', '--json'], { env })).stdout);
        expect(shown.connections.pusher).toMatchObject({
          host: { value: '127.0.0.1', source: 'env', from: 'PUSHER_HOST' },
          port: { value: Number(port), source: 'env' },
          scheme: { value: 'http', source: 'env' },
        });
        // doctor's address is the same, never doubled into …:6001:6001.
        const doctor = await runMain(['doctor', '--json'], { env });
        expect(doctor.stdout).toContain(`http://127.0.0.1:${port}`);
        expect(doctor.stdout).not.toContain(`:${port}:${port}`);
      }
      expect((await to.waitFor(3)).map((e) => e.event)).toEqual(['split.host', 'split.host', 'split.host']);
    } finally {
      to.disconnect();
    }
  });

  test.for([
    [{ PUSHER_HOST: '127.0.0.1:6001:6001' }, 'PUSHER_HOST must be a host name or address such as ws.example.com or 127.0.0.1, not "127.0.0.1:6001:6001"'],
    [{ PUSHER_HOST: 'http://127.0.0.1:6001' }, /^PUSHER_HOST gives port 6001 but PUSHER_PORT is \d+; give the port in one place$/],
    [{ PUSHER_HOST: 'https://127.0.0.1' }, 'PUSHER_HOST gives the scheme https but PUSHER_SCHEME is http; give the scheme in one place'],
    [{ PUSHER_HOST: 'ftp://127.0.0.1' }, 'PUSHER_HOST must be a host name or address such as ws.example.com or 127.0.0.1, not "ftp://127.0.0.1" (the scheme is http or https)'],
    [{ PUSHER_PORT: '70000' }, 'PUSHER_PORT must be a port number (1-65535), not "70000"'],
    [{ PUSHER_SCHEME: 'tcp' }, 'PUSHER_SCHEME must be "http" or "https", not "tcp"'],
    [{ PUSHER_APP_ID: '1/2' }, 'PUSHER_APP_ID must be an app id, without / ? # % or \\, not "1/2"'],
    [{ PUSHER_APP_KEY: '"fault-key"' }, 'PUSHER_APP_KEY is wrapped in quotes'],
    [{ PUSHER_APP_SECRET: ` ${SECRET}` }, 'PUSHER_APP_SECRET has spaces at its start or end (the value is not shown)'],
    [{ PUSHER_APP_CLUSTER: 'EU' }, 'PUSHER_APP_CLUSTER must be a cluster name such as mt1, eu or us2 (lowercase letters, digits and -), not "EU"'],
    [{ PUSHER_ENCRYPTION_MASTER_KEY_BASE64: Buffer.from(SECRET).toString('base64') }, 'PUSHER_ENCRYPTION_MASTER_KEY_BASE64 must decode to 32 bytes (it decodes to 19)'],
    [{ BROADCAST_SERVER: 'soketti' }, 'BROADCAST_SERVER must be "pusher", "soketi" or "reverb", not "soketti"'],
  ] as const)('%j: exit 2 naming the variable, nothing sent', async ([bad, message]) => {
    const target = await serve((_, _req, res) => res.end('{}'));
    const r = await runMain(['emit', 'orders', 'e', '--json'], { env: { ...target.env, ...bad } });
    expectRefusal(r, 'emit', message);
    expect(target.requests).toEqual([]);
  });

  test('a bad value in the config file is named by its place in the file', async ({ project }) => {
    const connection = { driver: 'pusher', appId: '1', key: 'k', secret: SECRET, host: 'http://127.0.0.1:6001', port: 7000 };
    await writeFile(path.join(project.dir, 'broadcast.config.json'), JSON.stringify({ default: 'main', connections: { main: connection } }));
    const r = await runMain(['emit', 'orders', 'e', '--json'], { cwd: project.dir });
    expectRefusal(
      r,
      'emit',
      'connections.main.host in broadcast.config.json gives port 6001 but connections.main.port in broadcast.config.json is 7000; give the port in one place',
    );
  });
});

describe('the shape of the config', () => {
  test.for([
    ['{"defualt": "log"}', 'broadcast.config.json: unknown key "defualt" (did you mean "default"?)'],
    ['{"conections": {}}', 'broadcast.config.json: unknown key "conections" (did you mean "connections"?)'],
    ['{"connections": {"main": {"driver": "log", "retires": 3}}}', 'broadcast.config.json: unknown key "retires" in connections.main (did you mean "retries"?)'],
    ['{"auth": {"middelware": ["web"]}}', 'broadcast.config.json: unknown key "middelware" in auth (did you mean "middleware"?)'],
    ['{"connections": {"main": {"driver": "log", "limits": {"channelNameLenght": 200}}}}', 'broadcast.config.json: unknown limit "channelNameLenght" in connections.main.limits (did you mean "channelNameLength"?)'],
  ] as const)('%s: exit 2 with "did you mean"', async ([text, message], { project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.json'), text);
    expectRefusal(await runMain(['config', '--json'], { cwd: project.dir }), 'config', message);
  });

  test('the hint lists the keys; "$schema" (for editors) is not unknown', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.json'), '{"connections": {"main": {"driver": "log", "hots": "x"}}}');
    const r = await runMain(['config', '--json'], { cwd: project.dir });
    expectRefusal(r, 'config', 'broadcast.config.json: unknown key "hots" in connections.main (did you mean "host"?)');
    expect(jsonOf('config', r.stdout).error.hint).toMatch(/^A connection's keys: driver, appId, key, secret, cluster, host, port, scheme, useTLS, /);
    await writeFile(path.join(project.dir, 'broadcast.config.json'), '{"$schema": "https://example.com/broadcast.json", "default": "null"}');
    const ok = await runMain(['config', '--json'], { cwd: project.dir });
    expect(ok.code, ok.stderr).toBe(0);
    expect(jsonOf('config', ok.stdout).connection.name).toBe('null');
  });

  test('a script that exports no config object is refused, naming the file, found or named', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), "export const config = { default: 'log' };\n");
    // Beside it, a config that a search passing over the script would have used instead.
    await writeFile(path.join(project.dir, 'broadcast.config.json'), '{"default": "null"}');
    expectRefusal(
      await runMain(['emit', 'orders', 'e', '--json'], { cwd: project.dir }),
      'emit',
      'broadcast.config.ts must export a config object: export default defineConfig({ … }); it exports none (an ES module needs a default export)',
    );
    await writeFile(path.join(project.dir, 'other.config.mjs'), "export default 'log';\n");
    expectRefusal(
      await runMain(['config', '--json', '--config', 'other.config.mjs'], { cwd: project.dir }),
      'config',
      'other.config.mjs must export a config object: export default defineConfig({ … }); it exports a string',
    );
  });

  test('a file that cannot be a config says which can', async ({ project }) => {
    await writeFile(path.join(project.dir, 'events.ndjson'), '{"channel":"a","event":"e"}\n');
    const r = await runMain(['emit', 'orders', 'e', '--json', '--config', 'events.ndjson'], { cwd: project.dir });
    expectRefusal(r, 'emit', 'events.ndjson cannot be a config file: a config is a .ts, .mts, .cts, .js, .mjs, .cjs, .json, .yaml or .yml file (or .broadcastrc)');
    expect(jsonOf('emit', r.stdout).error.hint).toBe('To send the events of an NDJSON file: broadcast emit --file <path>');
  });

  test.for([
    ['broadcast.config.ts', `const x = 1;\nexport default { secret: '${SECRET}' ;\n`, 'SyntaxError', 2, 48, 'Unexpected token, expected ","'],
    ['broadcast.config.json', `{\n  "connections": {"main": {"secret": ${SECRET}}}\n}`, 'JSON syntax error', 2, 38, 'Unexpected character'],
    ['.broadcastrc.yaml', `connections:\n  main:\n    secret: *${SECRET}\n`, 'YAML syntax error', 3, 33, 'unknown alias: a value starting with * is read as a YAML alias (quote the value)'],
    ['.broadcastrc.yml', `connections:\n  main:\n    secret: !${SECRET} x\n`, 'YAML syntax error', 3, 35, 'unknown tag: a value starting with ! is read as a YAML tag (quote the value)'],
  ] as const)('%s: file, line, column and kind, never the text', async ([file, text, kind, line, column, reason], { project }) => {
    await writeFile(path.join(project.dir, file), text);
    const r = await runMain(['config', '--json'], { cwd: project.dir });
    expectRefusal(r, 'config', `Could not load ${file}: ${reason} (${kind} at line ${line}, column ${column})`);
    expect(jsonOf('config', r.stdout).error.details).toEqual({ file, line, column, kind });
  });

  test('an error a script throws while it runs: file, line and kind, also in a module it imports', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), `const a: { missing?: { secret: string } } = {};\nconst b = a.missing!.secret;\nexport default {};\n`);
    const r = await runMain(['config', '--json'], { cwd: project.dir });
    expectRefusal(r, 'config', "Could not load broadcast.config.ts: Cannot read properties of undefined (reading 'secret') (TypeError at line 2)");
    expect(jsonOf('config', r.stdout).error.details).toEqual({ file: 'broadcast.config.ts', line: 2, kind: 'TypeError' });
    await writeFile(path.join(project.dir, 'vault.ts'), `export const token: string = 'x';\n\nthrow new RangeError('vault sealed');\n`);
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), `import { token } from './vault';\nexport default { eventsDir: token };\n`);
    const imported = await runMain(['config', '--json'], { cwd: project.dir });
    expectRefusal(imported, 'config', 'Could not load broadcast.config.ts: vault sealed (RangeError at vault.ts line 3)');
  });
});

describe('hostile config scripts', () => {
  test('a getter that throws: exit 2 naming the file and the place, no stack trace', async ({ project }) => {
    await writeFile(
      path.join(project.dir, 'broadcast.config.ts'),
      "export default {\n  connections: {\n    get main() { throw new TypeError('vault unreachable'); },\n  },\n};\n",
    );
    const r = await runMain(['emit', 'orders', 'e', '--json'], { cwd: project.dir });
    expectRefusal(r, 'emit', 'broadcast.config.ts: reading connections.main threw TypeError: vault unreachable');
    const text = await runMain(['config'], { cwd: project.dir });
    expect(text.code).toBe(2);
    expect(text.stderr).toBe('error: broadcast.config.ts: reading connections.main threw TypeError: vault unreachable\n');
  });

  test('a top-level await that never settles: exit 2 when the time limit passes, in JSON too', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), 'await new Promise(() => {});\nexport default {};\n');
    const started = Date.now();
    const r = await runMain(['emit', 'orders', 'e', '--json'], { cwd: project.dir, env: { BROADCAST_CONFIG_TIMEOUT: '300ms' } });
    expectRefusal(r, 'emit', 'broadcast.config.ts did not finish loading within 300ms');
    expect(jsonOf('emit', r.stdout).error.hint).toMatch(/raise the limit: BROADCAST_CONFIG_TIMEOUT=30s$/);
    expect(Date.now() - started).toBeLessThan(10_000);
    const bad = await runMain(['config', '--json'], { cwd: project.dir, env: { BROADCAST_CONFIG_TIMEOUT: 'soon' } });
    expectRefusal(bad, 'config', /^BROADCAST_CONFIG_TIMEOUT must be a duration such as 500ms, 5s or 2m/);
  });

  test('a config still working when the limit passes gets more time: the limit counts waiting, not work', async ({ project }) => {
    const busy = 'for (let i = 0; i < 8; i++) {\n  const end = Date.now() + 100;\n  while (Date.now() < end);\n  await new Promise((r) => setTimeout(r, 5));\n}\nexport default { eventsDir: \'worked\' };\n';
    await writeFile(path.join(project.dir, 'broadcast.config.mjs'), busy);
    const r = await runMain(['config', '--json'], { cwd: project.dir, env: { BROADCAST_CONFIG_TIMEOUT: '300ms' } });
    expect(r.code, r.stdout).toBe(0);
    expect(jsonOf('config', r.stdout).eventsDir.value).toBe('worked');
  });

  test('the binary: an await that never settles, with nothing left to run, is reported at once (not exit 13 and silence)', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), 'await new Promise(() => {});\nexport default {};\n');
    const r = await runCli(['emit', 'orders', 'e', '--json'], { cwd: project.dir });
    expectRefusal(r, 'emit', 'broadcast.config.ts never finishes loading: a top-level await in it (or in a module it imports) never settles');
    expect(r.ms).toBeLessThan(8_000);
  });

  test('process.exit() while loading is refused: exit 2, and the command does not run', async ({ project }) => {
    const exit = process.exit;
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), "process.exit(0);\nexport default { default: 'log' };\n");
    const r = await runMain(['emit', 'orders', 'e', '--json'], { cwd: project.dir });
    expectRefusal(r, 'emit', 'broadcast.config.ts called process.exit() while loading; a config must not end the process');
    expect(process.exit).toBe(exit);
    // Swallowing the refusal does not help.
    await writeFile(path.join(project.dir, 'broadcast.config.ts'), "try { process.exit(3); } catch {}\nexport default { default: 'log' };\n");
    expectRefusal(await runMain(['config', '--json'], { cwd: project.dir }), 'config', /called process\.exit\(\) while loading/);
    expect(process.exit).toBe(exit);
  });

  test('the binary: process.exit(0) in the config is not a silent success', async ({ project }) => {
    await writeFile(path.join(project.dir, 'broadcast.config.mjs'), 'process.exit(0);\nexport default {};\n');
    const r = await runCli(['emit', 'orders', 'e'], { cwd: project.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: broadcast\.config\.mjs called process\.exit\(\) while loading/);
  });
});

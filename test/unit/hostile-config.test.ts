/**
 * Config files with hostile content (prototype keys, huge numbers, deep nesting, YAML alias bombs, wrong
 * types): each is refused with a ConfigError naming the file and the place, never a polluted prototype,
 * a crash with a stack trace, or a hang.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Broadcast } from '../../src/core/broadcast.js';
import { CONFIG_LIMITS } from '../../src/config/guard.js';
import { ConfigError } from '../../src/core/errors.js';
import { loadConfig } from '../../src/config/load.js';
import { runCli } from '../helpers/cli.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  // Nothing any of the files held reached Object.prototype.
  expect(Object.getOwnPropertyNames(Object.prototype).filter((k) => /polluted/i.test(k))).toEqual([]);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
});

/** A project folder holding one config file with the given raw text. */
async function project(file: string, text: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'broadcast-hostile-'));
  dirs.push(dir);
  await writeFile(path.join(dir, 'package.json'), '{"name":"app","private":true}');
  await writeFile(path.join(dir, file), text);
  return dir;
}

/** Loads the project's config and resolves its connection as every command does; returns the ConfigError. */
async function refusal(dir: string): Promise<ConfigError> {
  try {
    await Broadcast.fromConfig({ cwd: dir, env: {} });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

const pusher = { driver: 'pusher', appId: '1', key: 'k', secret: 'hostile-secret-value', host: '127.0.0.1', port: 6001, scheme: 'http' };
const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

describe('prototype keys', () => {
  it.each([
    ['broadcast.config.json', '{"__proto__":{"polluted":true}}', /broadcast\.config\.json: the key "__proto__" is not allowed \(at __proto__\)/],
    ['broadcast.config.json', JSON.stringify({ connections: { x: pusher } }).replace('"x"', '"__proto__"'), /key "__proto__" is not allowed \(at connections\.__proto__\)/],
    ['broadcast.config.json', `{"connections":{"p":{"driver":"pusher","__proto__":{"polluted":1}}}}`, /at connections\.p\.__proto__/],
    ['broadcast.config.json', '{"constructor":{"prototype":{"polluted":true}}}', /the key "constructor" is not allowed \(at constructor\)/],
    ['broadcast.config.json', '{"channels":{"orders":{"prototype":{"polluted":1}}}}', /the key "prototype" is not allowed \(at channels\.orders\.prototype\)/],
    ['.broadcastrc', '__proto__:\n  polluted: true\n', /\.broadcastrc: the key "__proto__" is not allowed/],
    ['.broadcastrc.yml', 'connections:\n  constructor:\n    driver: pusher\n', /at connections\.constructor/],
    ['package.json', '{"name":"app","broadcast":{"auth":{"__proto__":{"route":"/x"}}}}', /package\.json: the key "__proto__" is not allowed \(at auth\.__proto__\)/],
  ])('%s %s', async (file, text, message) => {
    const error = await refusal(await project(file, text));
    expect(error.message).toMatch(message);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).route).toBeUndefined();
  });
});

describe('huge numbers and wrong types', () => {
  const withConnection = (fields: Record<string, unknown>, raw?: string) =>
    raw ?? JSON.stringify({ default: 'p', connections: { p: { ...pusher, ...fields } } });

  it.each([
    [{}, '{"default":"p","connections":{"p":{"driver":"pusher","appId":"1","key":"k","secret":"s","port":1e400}}}', /^connections\.p\.port in broadcast\.config\.json must be a port number \(1-65535\), not Infinity$/],
    [{ port: 99_999_999_999 }, undefined, /port in broadcast\.config\.json must be a port number \(1-65535\), not 99999999999/],
    [{ port: 6001.5 }, undefined, /port in broadcast\.config\.json must be a port number/],
    [{ timeout: 1e12 }, undefined, /timeout in broadcast\.config\.json must be a time in milliseconds \(1-2147483647\), not 1000000000000/],
    [{ timeout: -5 }, undefined, /timeout in broadcast\.config\.json must be a time in milliseconds/],
    [{ retries: 1e300 }, undefined, /retries in broadcast\.config\.json must be a whole number from 0 to 100, not 1e\+300/],
    [{}, '{"default":"p","connections":{"p":{"driver":"pusher","appId":"1","key":"k","secret":"s","maxPayloadKb":1e999}}}', /maxPayloadKb in broadcast\.config\.json must be a positive number/],
    [{ host: { evil: true } }, undefined, /^connections\.p\.host in broadcast\.config\.json must be a string$/],
    [{ appId: ['1'] }, undefined, /^connections\.p\.appId in broadcast\.config\.json must be a string$/],
    [{}, JSON.stringify({ default: { name: 'p' } }), /"default" must be a connection name \(a string\)/],
    [{}, JSON.stringify({ connections: ['a', 'b'] }), /"connections" must be an object of connections by name/],
    [{}, JSON.stringify({ connections: { p: 'pusher' } }), /connection "p" must be an object/],
    [{}, JSON.stringify({ events: 'OrderShipped' }), /"events" must be a list of event classes/],
    [{}, JSON.stringify({ eventsDir: { path: 'x' } }), /"eventsDir" must be a folder path/],
    [{}, JSON.stringify({ auth: { middleware: 'web' } }), /"auth\.middleware" must be a list of strings/],
  ])('%j %s', async (fields, raw, message) => {
    const error = await refusal(await project('broadcast.config.json', withConnection(fields, raw)));
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('hostile-secret-value');
  });

  it('accepts numbers given as strings, as environment-fed TypeScript configs produce', async () => {
    const dir = await project('broadcast.config.json', withConnection({ port: '6001', timeout: '2500', retries: '2' }));
    const broadcast = await Broadcast.fromConfig({ cwd: dir, env: {} });
    expect(broadcast.resolved.connection).toMatchObject({ port: 6001, timeout: 2500, retries: 2 });
  });
});

describe('size and nesting', () => {
  it.each([
    ['broadcast.config.json', `{"x":${nested(100_000)}}`, /broadcast\.config\.json: nested too deeply at x(\[0\])+ \(more than 32 levels\)/],
    ['broadcast.config.json', `{"channels":${'{"a":'.repeat(40)}1${'}'.repeat(40)}}`, /nested too deeply at channels(\.a)+ /],
    ['.broadcastrc', `{"x":${nested(100_000)}}`, /^Could not load \.broadcastrc: nesting exceeded maxDepth \(100\) \(YAML syntax error at line 1, column \d+\)$/],
    ['broadcast.config.json', JSON.stringify({ x: Array.from({ length: 200_000 }, () => 0) }), /too many values \(more than 100000\)/],
  ])('%s (%#)', async (file, text, message) => {
    const error = await refusal(await project(file, text));
    expect(error.message).toMatch(message);
    expect(CONFIG_LIMITS.depth).toBe(32);
  });

  it('a YAML alias bomb (billion laughs) is refused quickly instead of expanding', async () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const started = Date.now();
    const error = await refusal(await project('.broadcastrc.yaml', `${levels.join('\n')}\n`));
    expect(error.message).toMatch(/\.broadcastrc\.yaml: too many values/);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('a config full of ordinary values is still fine', async () => {
    const channels = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`orders.${i}`, true]));
    const dir = await project('broadcast.config.json', JSON.stringify({ default: 'null', channels, auth: { route: '/auth', middleware: ['web'] } }));
    const { config } = await loadConfig({ cwd: dir });
    expect(Object.keys(config.channels ?? {})).toHaveLength(500);
  });
});

describe('files that do not parse', () => {
  it.each([
    ['broadcast.config.json', '{"connections":{"p":{"secret": hostile-secret-value}}}', /^Could not load broadcast\.config\.json: Unexpected character \(JSON syntax error at line 1, column 32\)$/],
    ['.broadcastrc.yaml', 'connections:\n  p: {secret: hostile-secret-value\n', /^Could not load \.broadcastrc\.yaml: unexpected end of the stream within a flow collection \(YAML syntax error at line 3, column 1\)$/],
    ['broadcast.config.ts', "export default { secret: 'hostile-secret-value' ;\n", /^Could not load broadcast\.config\.ts: Unexpected token, expected "," \(SyntaxError at line 1, column 49\)$/],
  ])('%s: the error names the file, never quotes it', async (file, text, message) => {
    const error = await refusal(await project(file, text));
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('hostile-secret-value');
    expect(String((error.cause as Error | undefined)?.message)).not.toContain('hostile-secret-value');
  });
});

describe('the CLI with a hostile config', () => {
  it('exits 2 with one clear line and no stack trace, in text and JSON', async () => {
    const dir = await project('broadcast.config.json', `{"connections":{"p":{"driver":"pusher","__proto__":{"secret":"x"}}},"x":${nested(50_000)}}`);
    for (const args of [['config'], ['emit', 'orders', 'e'], ['channels', '--json']]) {
      const r = await runCli(args, { cwd: dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^error: broadcast\.config\.json: the key "__proto__" is not allowed \(at connections\.p\.__proto__\)\n/);
      expect(r.stderr).not.toMatch(/^\s+at /m);
      if (args.includes('--json')) expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { code: 'config', exitCode: 2 } });
    }
  });
});

/**
 * The app secret and the encryption master key never appear in any output. Every command the binary lists
 * in `broadcast --help` runs under error conditions (a wrong secret against the real soketi, an unreachable
 * server, invalid input, broken config files) with and without --verbose and --json, and stdout, stderr and
 * the files the commands write are scanned for the secret and the master key in their raw, base64, hex and
 * URL-encoded forms, and for any 8-character piece of them.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { signChannel } from '../../src/auth/sign.js';
import { Broadcast } from '../../src/core/broadcast.js';
import { runCli, tempProject, type RunResult } from '../helpers/cli.js';
import { freePort, type SoketiServer } from '../helpers/soketi.js';
import { uid as newUid } from '../helpers/fixtures.js';

const server = inject('soketi') as SoketiServer;
const uid = newUid();

/** Distinctive values, with characters that base64, hex and URL encoding all change. */
const SECRET = 'Sx9+canary/LEAK=secret~4711';
const MASTER_BYTES = Buffer.from('MKcanary~Qz7#Wv2$Lp9!Jx4&Rt6*Yb8', 'latin1');
const MASTER = MASTER_BYTES.toString('base64');

/** Every form in which a secret could slip out, by label. */
function secretForms(): [string, string][] {
  const forms: [string, string][] = [];
  const add = (label: string, value: string) => forms.push([label, value]);
  for (const [name, value] of [['secret', SECRET], ['master key', MASTER]] as const) {
    add(`${name}`, value);
    add(`${name} (base64)`, Buffer.from(value).toString('base64'));
    add(`${name} (base64url)`, Buffer.from(value).toString('base64url'));
    add(`${name} (hex)`, Buffer.from(value).toString('hex'));
    add(`${name} (URL-encoded)`, encodeURIComponent(value));
    add(`${name} (JSON-escaped)`, JSON.stringify(value).slice(1, -1));
    for (let i = 0; i + 8 <= value.length; i++) add(`${name} (characters ${i}-${i + 7})`, value.slice(i, i + 8));
  }
  add('master key (decoded)', MASTER_BYTES.toString('latin1'));
  add('master key (decoded, hex)', MASTER_BYTES.toString('hex'));
  add('master key (decoded, base64url)', MASTER_BYTES.toString('base64url'));
  for (let i = 0; i + 8 <= 32; i++) add(`master key (decoded, bytes ${i}-${i + 7})`, MASTER_BYTES.subarray(i, i + 8).toString('latin1'));
  return forms;
}
const FORMS = secretForms();

/** The forms of either secret found in `text`. */
function leaksIn(text: string): string[] {
  const lower = text.toLowerCase();
  return FORMS.filter(([, value]) => (/^[0-9a-f]+$/.test(value) ? lower.includes(value) : text.includes(value))).map(([label]) => label);
}

/**
 * soketi: the real server, with the wrong secret; down: nothing listening on the port; configFile: the
 * secrets in broadcast.config.json (server down); brokenJson/brokenYaml/brokenTs: a config file with a
 * syntax error next to the secrets; crashThrow/crashReject: a config module whose bug throws later, outside
 * any command (an uncaught exception, an unhandled rejection), with the secrets in its message; fresh: an
 * empty project (for init). All but configFile have the secrets in the environment.
 */
const SETUPS = ['soketi', 'down', 'configFile', 'brokenJson', 'brokenYaml', 'brokenTs', 'crashThrow', 'crashReject', 'fresh'] as const;
type Setup = (typeof SETUPS)[number];

interface Scenario {
  command: string;
  args: string[];
  setup: Setup;
  input?: string;
  /** The command must fail (exit non-zero) in this scenario. */
  fails?: boolean;
}

// Each command, under error conditions; `network` commands also against an unreachable server.
const NET = ['--timeout', '2000', '--retries', '0'];
const scenarios: Scenario[] = [];
const add = (command: string, args: string[], setups: Setup[], extra: Partial<Scenario> = {}) => {
  for (const setup of setups) {
    for (const flags of [['--verbose'], ['--json', '--verbose']]) scenarios.push({ command, args: [...args, ...flags], setup, ...extra });
  }
};
const broken: Setup[] = ['brokenJson', 'brokenYaml', 'brokenTs'];
add('emit', ['emit', `private-leak-${uid}`, 'leak.event', '--data', '{"a":1}', ...NET], ['soketi', 'down', 'configFile'], { fails: true });
add('emit', ['emit', `private-encrypted-leak-${uid}`, 'leak.event', '--data', '{"a":1}', ...NET], ['soketi', 'down'], { fails: true });
add('emit', ['emit', `private-encrypted-leak-${uid}`, 'leak.event', '--data', '{"a":1}', '--dry-run'], ['soketi']);
add('emit', ['emit', 'bad channel!', 'leak.event', '--data', '{not json'], ['soketi', ...broken], { fails: true });
add('emit', ['emit', `private-leak-${uid}`, 'leak.event', '--timeout', '1000'], ['down'], { fails: true });
add('emit --file', ['emit', '--file', 'events.ndjson', '--failed-out', 'failed.ndjson', ...NET], ['soketi', 'down'], { fails: true });
add('emit --file', ['emit', '--file', '-', ...NET], ['soketi'], { fails: true, input: `{"channel":"private-in-${uid}","event":"e","data":{}}\nnot json\n` });
add('config', ['config'], ['soketi', 'configFile']);
add('config', ['config'], [...broken, 'crashThrow', 'crashReject'], { fails: true });
add('config', ['config', '--connection', 'nope'], ['configFile'], { fails: true });
add('auth:sign', ['auth:sign', `private-leak-${uid}`, '--socket-id', '1.2'], ['soketi', 'configFile']);
add('auth:sign', ['auth:sign', `private-encrypted-leak-${uid}`, '--socket-id', '1.2'], ['soketi']);
add('auth:sign', ['auth:sign', `presence-leak-${uid}`, '--socket-id', '1.2', '--user', '7', '--user-info', '{"name":"Ada"}'], ['soketi']);
add('auth:sign', ['auth:sign', `private-leak-${uid}`, '--socket-id', '1.2', '--verify', `${server.key}:${'0'.repeat(64)}`], ['soketi'], { fails: true });
add('auth:sign', ['auth:sign', 'public-leak', '--socket-id', 'x'], ['soketi', ...broken], { fails: true });
add('routes', ['routes'], ['soketi', 'configFile']);
add('routes', ['routes'], broken, { fails: true });
add('events', ['events'], ['soketi', 'configFile']);
add('events', ['events'], broken, { fails: true });
add('init', ['init', '--yes'], ['fresh']); // the second run refuses: the config exists
add('make:event', ['make:event', 'LeakEvent', '--private', '--channel', 'orders', '--yes', '--dry-run'], ['soketi']);
add('make:event', ['make:event', '1nvalid!', '--yes'], ['soketi', ...broken], { fails: true });
add('listen', ['listen', `private-leak-${uid}`, '--timeout', '1'], ['soketi', 'down'], { fails: true });
add('listen', ['listen', `presence-leak-${uid}`, '--user', '7', '--timeout', '1'], ['soketi'], { fails: true });
add('listen', ['listen', `private-encrypted-leak-${uid}`, '--timeout', '1'], ['soketi'], { fails: true });
add('listen', ['listen', 'bad channel!', '--timeout', '1'], ['soketi', ...broken], { fails: true });
add('channels', ['channels', ...NET], ['soketi', 'down', 'configFile'], { fails: true });
add('channels', ['channels', '--timeout', '1000'], ['down'], { fails: true });
add('channel', ['channel', `private-leak-${uid}`, ...NET], ['soketi', 'down'], { fails: true });
add('channel', ['channel', 'bad channel!', ...NET], ['soketi', ...broken], { fails: true });
add('users', ['users', `presence-leak-${uid}`, ...NET], ['soketi', 'down'], { fails: true });
add('users', ['users', `private-leak-${uid}`, ...NET], ['soketi'], { fails: true });
add('doctor', ['doctor', ...NET], ['soketi', 'down', 'configFile', ...broken], { fails: true });
// console serves until Ctrl-C: here only its failures to start (its page is scanned in test/integration/console.test.ts).
add('console', ['console', '--connection', 'nope'], ['soketi', 'configFile', ...broken], { fails: true });
add('webhook:verify', ['webhook:verify', '--signature', 'ab'.repeat(32)], ['soketi', 'configFile'], { fails: true, input: '{"time_ms":1,"events":[]}' });
add('webhook:verify', ['webhook:verify', '--signature', 'not-hex', '--body', '@missing.json'], ['soketi', ...broken], { fails: true });
add('bench', ['bench', '--events', '5', '--size', '10', ...NET], ['soketi', 'down'], { fails: true });
add('bench', ['bench', '--events', '0'], ['soketi'], { fails: true });
// Users and webhooks (issue 16): signing offline, a live auth route and webhook endpoint (soketi answers 404), the HTTP API.
add('auth:sign-user', ['auth:sign-user', '--user', '7', '--user-info', '{"name":"Ada"}', '--socket-id', '1.2'], ['soketi', 'configFile']);
add('auth:sign-user', ['auth:sign-user', '--user', '7', '--socket-id', '1.2', '--verify', `${server.key}:${'0'.repeat(64)}`], ['soketi'], { fails: true });
add('auth:sign-user', ['auth:sign-user', '--user', 'bad id'], ['soketi', ...broken], { fails: true });
add('auth:test', ['auth:test', `http://127.0.0.1:${server.port}/broadcasting/authorize`, '--header', 'Cookie: session=abc', '--timeout', '2000'], ['soketi', 'configFile'], { fails: true });
add('emit --user', ['emit', '--user', '7', 'leak.event', '--data', '{"a":1}', ...NET], ['soketi', 'down'], { fails: true });
add('users:terminate', ['users:terminate', '7', '--force', ...NET], ['soketi', 'down', 'configFile'], { fails: true });
add('webhook:listen', ['webhook:listen', '--port', '0', '--count', '1', '--duration', '1'], ['soketi', 'configFile'], { fails: true });
add('webhook:listen', ['webhook:listen', '--port', '0', '--duration', '1'], broken, { fails: true });
add('webhook:send', ['webhook:send', `http://127.0.0.1:${server.port}/hook`, '--event', 'client_event', '--channel', `private-encrypted-leak-${uid}`, '--data', '{"a":1}', '--timeout', '2000'], ['soketi', 'configFile'], { fails: true });
// Usage errors that commander reports itself, with a secret pasted into the wrong place.
add('(usage)', ['channels', '--timeout', SECRET], ['soketi'], { fails: true });
add('(usage)', ['emit', `--${SECRET}`], ['soketi'], { fails: true });
add('(usage)', ['no-such-command', SECRET], ['soketi'], { fails: true });
add('(usage)', ['emit', SECRET, 'leak.event'], ['soketi'], { fails: true });
add('(usage)', ['auth:sign', `private-${MASTER}`, '--socket-id', '1.2'], ['soketi'], { fails: true });

describe('secrets never appear in output', () => {
  const projects: Record<Setup, string> = {} as never;
  const cleanups: (() => Promise<void>)[] = [];
  const envs = {} as Record<Setup, Record<string, string>>;
  /** Files written before the commands ran: everything else in the projects was written by a command. */
  const ours = new Set<string>();
  const results: { scenario: Scenario; result: RunResult }[] = [];

  beforeAll(async () => {
    const downPort = await freePort();
    const withSecrets = { PUSHER_APP_SECRET: SECRET, PUSHER_ENCRYPTION_MASTER_KEY_BASE64: MASTER };
    const down = { ...server.env, ...withSecrets, PUSHER_PORT: String(downPort) };
    envs.soketi = { ...server.env, ...withSecrets };
    envs.down = down;
    envs.configFile = {};
    envs.brokenJson = withSecrets;
    for (const setup of ['brokenYaml', 'brokenTs', 'crashThrow', 'crashReject'] as const) envs[setup] = withSecrets;
    envs.fresh = envs.soketi;
    for (const setup of SETUPS) {
      const project = await tempProject();
      projects[setup] = project.dir;
      cleanups.push(project.cleanup);
    }
    const write = async (setup: Setup, file: string, text: string) => {
      const full = path.join(projects[setup], file);
      await writeFile(full, text);
      ours.add(full);
    };
    const connection = {
      driver: 'pusher', appId: server.appId, key: server.key, secret: SECRET, encryptionMasterKeyBase64: MASTER,
      host: '127.0.0.1', port: downPort, scheme: 'http', timeout: 1500, retries: 0,
    };
    await write('configFile', 'broadcast.config.json', JSON.stringify({ default: 'main', connections: { main: connection } }, null, 2));
    // Syntax errors right next to the secret: parsers like to quote the text around an error.
    await write('brokenJson', 'broadcast.config.json', `{"connections":{"main":{"driver":"pusher","secret":"${SECRET}" "encryptionMasterKeyBase64":"${MASTER}"}}}`);
    await write('brokenYaml', '.broadcastrc.yaml', `connections:\n  main:\n    secret: "${SECRET}"\n   encryptionMasterKeyBase64: ${MASTER}\n`);
    await write('brokenTs', 'broadcast.config.ts', `export default {\n  connections: {\n    main: { driver: 'pusher', appId: '1', key: 'k', secret: '${SECRET}' encryptionMasterKeyBase64: '${MASTER}' },\n  },\n};\n`);
    const crash = (how: string) =>
      `const secrets = [process.env.PUSHER_APP_SECRET, process.env.PUSHER_ENCRYPTION_MASTER_KEY_BASE64].join(' ');\n${how}\nexport default {};\n`;
    await write('crashThrow', 'broadcast.config.ts', crash('setTimeout(() => { throw new Error(`config bug: ${secrets}`); }, 0);'));
    await write('crashReject', 'broadcast.config.ts', crash('void Promise.reject(new Error(`config bug: ${secrets}`));'));
    const ndjson = Array.from({ length: 5 }, (_, i) => JSON.stringify({ channel: `private-file-${uid}-${i}`, event: 'e', data: { i } })).join('\n');
    for (const setup of ['soketi', 'down'] as Setup[]) await write(setup, 'events.ndjson', `${ndjson}\n{"channel":"bad channel!","event":"e"}\n`);
    for (const setup of Object.keys(projects) as Setup[]) {
      for (const file of await readdir(projects[setup])) ours.add(path.join(projects[setup], file));
    }

    // Run every scenario, a few at a time; each is bounded by runCli's own time limit.
    let next = 0;
    const worker = async () => {
      while (next < scenarios.length) {
        const scenario = scenarios[next++]!;
        const result = await runCli(scenario.args, { cwd: projects[scenario.setup], env: envs[scenario.setup], input: scenario.input ?? '', timeoutMs: 20_000 });
        results.push({ scenario, result });
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
  }, 180_000);

  afterAll(async () => {
    await Promise.all(cleanups.map((c) => c()));
  });

  it('the scan would see a leak: the distinctive values are in use and detectable', async () => {
    expect(MASTER_BYTES.length).toBe(32);
    expect(leaksIn(`x ${Buffer.from(SECRET).toString('hex').toUpperCase()} y`)).toContain('secret (hex)');
    expect(leaksIn(`…${MASTER.slice(5, 20)}…`).length).toBeGreaterThan(0);
    // The commands really sign with the secret they must not print.
    const signed = results.find((r) => r.scenario.args[0] === 'auth:sign' && r.scenario.setup === 'soketi' && r.scenario.args.includes('--json') && r.scenario.args[1]!.startsWith('private-leak'));
    expect(JSON.parse(signed!.result.stdout)).toMatchObject({ body: { auth: signChannel({ key: server.key, secret: SECRET }, '1.2', `private-leak-${uid}`) } });
    // And the wrong secret did reach soketi, which refused it.
    const emitted = results.find((r) => r.scenario.args[0] === 'emit' && r.scenario.setup === 'soketi' && r.scenario.args[1] === `private-leak-${uid}` && !r.scenario.args.includes('--json'));
    expect(emitted!.result.code).toBe(1);
    expect(emitted!.result.stderr).toMatch(/401|secret|signature|credentials/i);
  });

  it('covers every command that `broadcast --help` lists', async () => {
    const help = await runCli(['--help']);
    const listed = [...help.stdout.split(/\nCommands:\n/)[1]!.matchAll(/^ {2}([a-z][a-z:-]*)/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
    expect(listed.length).toBeGreaterThanOrEqual(14);
    const covered = new Set(scenarios.map((s) => s.args[0]));
    expect(listed.filter((c) => !covered.has(c))).toEqual([]);
    expect(scenarios.some((s) => s.args.includes('--file'))).toBe(true);
  });

  const commands = [...new Set(scenarios.map((s) => s.command))];
  it.each(commands)('%s: no secret in stdout or stderr, whatever goes wrong', (command) => {
    const mine = results.filter((r) => r.scenario.command === command);
    expect(mine.length).toBe(scenarios.filter((s) => s.command === command).length);
    const problems: string[] = [];
    for (const { scenario, result } of mine) {
      const label = `broadcast ${scenario.args.join(' ')} (${scenario.setup})`;
      if (result.code === null) problems.push(`${label}: killed (no exit code)`);
      if (scenario.fails && result.code === 0) problems.push(`${label}: exited 0 but should have failed`);
      if (result.stdout.trim() === '' && result.stderr.trim() === '') problems.push(`${label}: printed nothing`);
      for (const [stream, text] of [['stdout', result.stdout], ['stderr', result.stderr]] as const) {
        const leaks = leaksIn(text);
        if (leaks.length > 0) problems.push(`${label}: ${stream} holds the ${leaks.slice(0, 3).join(', ')}:\n${text.slice(0, 1500)}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('no secret in the files the commands wrote (.env.example, failed events, scaffolds)', async () => {
    const written: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.name === 'node_modules' || ours.has(full)) continue;
        if (entry.isDirectory()) await walk(full);
        else written.push(full);
      }
    };
    for (const dir of Object.values(projects)) await walk(dir);
    expect(written.some((f) => f.endsWith('.env.example'))).toBe(true);
    const leaking: string[] = [];
    for (const file of written) {
      const leaks = leaksIn(await readFile(file, 'utf8'));
      if (leaks.length > 0) leaking.push(`${file}: ${leaks.join(', ')}`);
    }
    expect(leaking).toEqual([]);
  });

  it('the library\'s own errors hold no secret either (the CLI redacts, a web app logging error.message does not)', async () => {
    const downPort = await freePort();
    const cases: [string, Record<string, string>, (b: Broadcast) => Promise<unknown>][] = [
      ['wrong secret, trigger', envs.soketi, (b) => b.channel(`private-lib-${uid}`, 'e', { a: 1 })],
      ['wrong secret, encrypted trigger', envs.soketi, (b) => b.channel(`private-encrypted-lib-${uid}`, 'e', { a: 1 })],
      ['wrong secret, GET /channels', envs.soketi, (b) => b.driver.get!('/channels')],
      ['unreachable, trigger', { ...envs.soketi, PUSHER_PORT: String(downPort) }, (b) => b.channel(`private-lib-${uid}`, 'e', {})],
    ];
    const problems: string[] = [];
    for (const [name, env, act] of cases) {
      const broadcast = new Broadcast({ connections: { pusher: { driver: 'pusher', appId: server.appId, key: server.key, secret: SECRET, timeout: 1500, retries: 0 } } }, { env });
      let caught: unknown;
      try {
        await act(broadcast);
      } catch (error) {
        caught = error;
      } finally {
        broadcast.close();
      }
      if (caught === undefined) {
        problems.push(`${name}: did not fail`);
        continue;
      }
      const error = caught as Error;
      const text = [error.message, error.stack, JSON.stringify(error), inspect(error, { depth: 4 })].join('\n');
      const leaks = leaksIn(text);
      if (leaks.length > 0) problems.push(`${name}: ${leaks.slice(0, 3).join(', ')} in ${text.slice(0, 1500)}`);
    }
    expect(problems).toEqual([]);
  });
});


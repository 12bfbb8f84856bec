/**
 * A web app that imports the library must not pay for the CLI: no commander, chalk, inquirer, cosmiconfig,
 * jiti or pusher-js on import, and no side effects (process listeners, output).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

it('importing the library loads none of the CLI dependencies and changes nothing in the process', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'broadcast-import-'));
  const log = path.join(dir, 'loaded.txt');
  const hooks = path.join(dir, 'hooks.mjs');
  writeFileSync(
    hooks,
    `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, result.url + '\\n');
  return result;
}
`,
  );
  writeFileSync(log, '');
  const script = `
import { register } from 'node:module';
register(${JSON.stringify(pathToFileURL(hooks).href)});
const events = ['exit', 'SIGINT', 'SIGTERM', 'uncaughtException', 'unhandledRejection', 'beforeExit'];
const before = events.map((e) => process.listenerCount(e));
const lib = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist/index.js')).href)});
const after = events.map((e) => process.listenerCount(e));
console.log(JSON.stringify({ exports: Object.keys(lib), before, after }));
`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  expect(result.stderr).toBe('');
  const report = JSON.parse(result.stdout);
  expect(report.exports.length).toBeGreaterThan(10);
  // What a user calls; the CLI's internals (the bulk scheduler, the rule matchers) stay out of the API.
  expect(report.exports).toEqual(expect.arrayContaining(['Broadcast', 'CanBroadcast', 'createAuthHandler', 'defineConfig', 'verifyWebhook', 'createSubscriber', 'ERROR_CODES']));
  for (const internal of ['sendBulk', 'ChannelScheduler', 'compileRules', 'matchRule', 'compilePattern', 'safeEqual']) expect(report.exports).not.toContain(internal);
  expect(report.after).toEqual(report.before);
  const loaded = readFileSync(log, 'utf8');
  expect(loaded).toContain('/dist/index.js');
  for (const heavy of ['commander', 'chalk', 'inquirer', 'cosmiconfig', 'jiti', 'pusher-js', '/node_modules/pusher/']) {
    expect(loaded, `${heavy} must not load on import`).not.toContain(heavy);
  }
  // The build bundles commander into the CLI's entry, and the CLI's own modules into chunks of their own.
  expect(loaded).not.toContain('/dist/cli/');
  expect(loaded).not.toMatch(/\/dist\/chunks\/cli-/);
});
